"""Appointments through the API: booking (source "api"), filters, and every action through
scheduling.services — including the double-booking rule, answered with 409."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import time_machine
from django.utils import timezone

from scheduling.models import Appointment, AppointmentSource, AppointmentStatus, Attendance

from .conftest import API, assert_error_shape

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(api, clinician, client_ann, service_type, tomorrow_10am):
    def book(**override):
        body = {
            "clinician": clinician.pk,
            "clients": [client_ann.pk],
            "service_type": service_type.pk,
            "starts_at": tomorrow_10am.isoformat(),
        }
        return api.post(f"{API}/appointments/", body | override, format="json")

    return book


def test_it_books_with_source_api_and_the_service_defaults(book, tomorrow_10am, client_ann):
    response = book(external_id="EHR-7", modality="in_person")

    assert response.status_code == 201, response.content
    body = response.json()
    appointment = Appointment.objects.get(pk=body["id"])
    assert appointment.source == AppointmentSource.API
    assert appointment.starts_at == tomorrow_10am
    assert appointment.ends_at == tomorrow_10am + timedelta(minutes=45)
    assert body["fee"] == "150.00"
    assert body["status"] == "scheduled"
    # The join links are made once the booking commits (tests/api/test_join_links.py); this
    # test's transaction never commits, so they are still null here.
    assert body["participants"] == [
        {
            "client": client_ann.pk,
            "attendance": "expected",
            "joined_at": None,
            "attendance_marked_at": None,
            "join_url": None,
            "tech_check_url": None,
        }
    ]
    # Times go out in UTC with an explicit offset.
    assert body["starts_at"] == tomorrow_10am.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_a_time_without_offset_is_a_field_error(book, tomorrow_10am):
    naive = tomorrow_10am.replace(tzinfo=None).isoformat()

    errors = assert_error_shape(book(starts_at=naive, ends_at=naive), 400)["errors"]

    assert set(errors) == {"starts_at", "ends_at"}
    assert "UTC offset" in errors["starts_at"][0]


@pytest.mark.parametrize(
    "override",
    [
        {"starts_at": "9999-12-31T23:59:00Z"},
        {"starts_at": "tomorrow"},
        {"fee": "1e999999"},
        {"fee": 10**30},
        {"fee": -1},
        {"clinician": 2**70},
        {"clinician": "1; DROP TABLE"},
        {"clinician": True},
        {"clients": []},
        {"clients": "1"},
        {"modality": "carrier pigeon"},
        {"external_id": "x" * 101},
    ],
)
def test_bad_values_are_field_errors_never_500(book, override):
    errors = assert_error_shape(book(**override), 400)["errors"]

    assert {name.split(".")[0] for name in errors} == set(override)
    assert not Appointment.objects.exists()


def test_service_rules_come_back_as_field_errors(book, tomorrow_10am, client_ann):
    errors = assert_error_shape(book(clients=[client_ann.pk, client_ann.pk]), 400)["errors"]
    assert errors == {"clients": ["A client is listed twice."]}

    past = (timezone.now() - timedelta(days=3)).isoformat()
    errors = assert_error_shape(book(starts_at=past), 400)["errors"]
    assert errors == {"starts_at": ["This time is in the past."]}

    errors = assert_error_shape(book(ends_at=tomorrow_10am.isoformat()), 400)["errors"]
    assert errors == {"ends_at": ["The session must end after it starts."]}


def test_double_booking_is_409_with_the_error_on_starts_at(book, tomorrow_10am, client_bob):
    assert book().status_code == 201

    response = book(clients=[client_bob.pk], starts_at=(tomorrow_10am + timedelta(minutes=15)).isoformat())

    body = assert_error_shape(response, 409)
    assert list(body["errors"]) == ["starts_at"]
    assert "Dr. Smith already has a session" in body["errors"]["starts_at"][0]
    assert Appointment.objects.count() == 1


def test_filters(api, book, tomorrow_10am, other_clinician, client_bob):
    first = book(external_id="A").json()
    later = book(
        clinician=other_clinician.pk,
        clients=[client_bob.pk],
        starts_at=(tomorrow_10am + timedelta(days=1)).isoformat(),
    ).json()

    def ids(**query):
        response = api.get(f"{API}/appointments/", query)
        assert response.status_code == 200, response.content
        return [a["id"] for a in response.json()["results"]]

    assert ids() == [first["id"], later["id"]]
    assert ids(starts_after=(tomorrow_10am + timedelta(hours=1)).isoformat()) == [later["id"]]
    assert ids(starts_before=(tomorrow_10am + timedelta(hours=1)).isoformat()) == [first["id"]]
    assert ids(clinician=other_clinician.pk) == [later["id"]]
    assert ids(external_id="A") == [first["id"]]
    assert ids(source="api", status="scheduled") == [first["id"], later["id"]]
    assert ids(source="staff") == []
    naive = api.get(f"{API}/appointments/", {"starts_after": "2030-01-01T10:00:00"})
    assert list(assert_error_shape(naive, 400)["errors"]) == ["starts_after"]


def test_reschedule_links_old_and_new(api, appointment, tomorrow_10am):
    new_start = tomorrow_10am + timedelta(hours=3)

    response = api.post(
        f"{API}/appointments/{appointment.pk}/reschedule/",
        {"starts_at": new_start.isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.content
    new = response.json()
    old = api.get(f"{API}/appointments/{appointment.pk}/").json()
    assert old["status"] == "rescheduled"
    assert old["rescheduled_to"] == new["id"]
    assert new["rescheduled_from"] == appointment.pk
    assert Appointment.objects.get(pk=new["id"]).starts_at == new_start


def test_reschedule_onto_a_taken_slot_is_409(api, appointment, book, tomorrow_10am, client_bob):
    other = book(clients=[client_bob.pk], starts_at=(tomorrow_10am + timedelta(hours=2)).isoformat()).json()

    response = api.post(
        f"{API}/appointments/{other['id']}/reschedule/",
        {"starts_at": tomorrow_10am.isoformat()},
        format="json",
    )

    assert list(assert_error_shape(response, 409)["errors"]) == ["starts_at"]


def test_cancel_then_cancel_again(api, appointment, tomorrow_10am):
    # Cancelled 20 hours before the start: inside the practice's 24-hour late-cancel window,
    # whatever the time of day the suite runs at.
    with time_machine.travel(tomorrow_10am - timedelta(hours=20), tick=False):
        response = api.post(
            f"{API}/appointments/{appointment.pk}/cancel/",
            {"reason": "Sick", "by_client": True},
            format="json",
        )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancelled_by_client"] is True
    assert body["is_late_cancel"] is True
    assert body["participants"][0]["attendance"] == "cancelled"

    again = api.post(f"{API}/appointments/{appointment.pk}/cancel/", {}, format="json")
    errors = assert_error_shape(again, 400)["errors"]
    assert errors == {"non_field_errors": ["This session is cancelled and can no longer be cancelled."]}


def test_confirm(api, appointment):
    response = api.post(f"{API}/appointments/{appointment.pk}/confirm/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"


def test_attendance_through_the_service(api, appointment, client_ann, client_bob):
    url = f"{API}/appointments/{appointment.pk}/attendance/"
    with time_machine.travel(appointment.starts_at + timedelta(minutes=10)):
        not_in_session = api.post(url, {"client": client_bob.pk, "attendance": "attended"}, format="json")
        marked = api.post(url, {"client": client_ann.pk, "attendance": "no_show"}, format="json")
        reversed_without_note = api.post(url, {"client": client_ann.pk, "attendance": "late"}, format="json")

    assert assert_error_shape(not_in_session, 400)["errors"] == {
        "client": ["This client is not in this session."]
    }
    assert marked.status_code == 200, marked.content
    assert marked.json()["status"] == AppointmentStatus.NO_SHOW
    assert marked.json()["participants"][0]["attendance"] == Attendance.NO_SHOW
    assert list(assert_error_shape(reversed_without_note, 400)["errors"]) == ["note"]


def test_attendance_before_the_start_is_refused(api, appointment, client_ann):
    response = api.post(
        f"{API}/appointments/{appointment.pk}/attendance/",
        {"client": client_ann.pk, "attendance": "attended"},
        format="json",
    )

    assert list(assert_error_shape(response, 400)["errors"]) == ["non_field_errors"]


def test_timeline_lists_the_planned_messages(api, appointment):
    from messaging.services import message_plan_for, message_timeline

    message_plan_for(appointment=appointment)  # what the "booked" event does after commit
    response = api.get(f"{API}/appointments/{appointment.pk}/timeline/")

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    expected = message_timeline(appointment=appointment)
    assert expected, "booking plans the reminder sequence"
    assert [entry["id"] for entry in results] == [row["id"] for row in expected]
    for entry in results:
        assert set(entry) == {
            "id",
            "appointment",
            "kind",
            "step",
            "recipient",
            "channel",
            "state",
            "reason",
            "due_at",
            "sent_at",
            "attempts",
        }
