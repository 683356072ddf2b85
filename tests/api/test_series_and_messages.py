"""Series endpoints (book, list, read, cancel the rest) and the message list with filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine

from messaging.models import OutboxMessage, OutboxState
from messaging.services import message_plan_for
from scheduling.models import Appointment, AppointmentStatus
from tests.api.conftest import API, assert_error_shape

NEW_YORK = ZoneInfo("America/New_York")


def book_series(api, clinician, client_ann, service_type, first: datetime, **changes):
    body = {
        "clinician": clinician.pk,
        "clients": [client_ann.pk],
        "service_type": service_type.pk,
        "first_starts_at": first.isoformat(),
        "frequency": "weekly",
        "occurrences": 4,
        **changes,
    }
    return api.post(f"{API}/series/", body, format="json")


def test_a_weekly_series_keeps_its_local_time_across_the_dst_change(api, clinician, client_ann, service_type):
    with time_machine.travel(datetime(2026, 2, 20, tzinfo=NEW_YORK), tick=False):
        response = book_series(
            api, clinician, client_ann, service_type, datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK)
        )

    assert response.status_code == 201, response.content
    body = response.json()
    starts = [Appointment.objects.get(pk=pk).starts_at.astimezone(NEW_YORK) for pk in body["appointments"]]
    assert [(s.day, s.hour) for s in starts] == [(2, 10), (9, 10), (16, 10), (23, 10)]
    assert (body["frequency"], body["occurrences"], body["duration_minutes"]) == ("weekly", 4, 45)
    assert {a.source for a in Appointment.objects.filter(series_id=body["id"])} == {"api"}


def test_a_series_is_listed_read_and_filtered_by_clinician(
    api, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    created = book_series(api, clinician, client_ann, service_type, tomorrow_10am).json()

    assert api.get(f"{API}/series/{created['id']}/").json() == created
    assert [s["id"] for s in api.get(f"{API}/series/").json()["results"]] == [created["id"]]
    assert api.get(f"{API}/series/", {"clinician": other_clinician.pk}).json()["count"] == 0
    occurrences = api.get(f"{API}/appointments/", {"series": created["id"]}).json()
    assert [a["id"] for a in occurrences["results"]] == created["appointments"]


def test_a_clash_books_nothing_and_names_the_date(
    api, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    book_series(api, clinician, client_bob, service_type, tomorrow_10am + timedelta(weeks=2), occurrences=2)

    response = book_series(api, clinician, client_ann, service_type, tomorrow_10am)

    errors = assert_error_shape(response, 400)["errors"]
    assert "first_starts_at" in errors
    assert Appointment.objects.count() == 2


def test_cancel_rest_cancels_the_upcoming_occurrences_once(
    api, clinician, client_ann, service_type, tomorrow_10am
):
    created = book_series(api, clinician, client_ann, service_type, tomorrow_10am).json()
    after = (tomorrow_10am + timedelta(weeks=2)).isoformat()

    first = api.post(
        f"{API}/series/{created['id']}/cancel-rest/", {"after": after, "reason": "Ended"}, format="json"
    )
    again = api.post(f"{API}/series/{created['id']}/cancel-rest/", {"after": after}, format="json")

    assert first.status_code == 200, first.content
    assert first.json()["cancelled"] == created["appointments"][2:]
    assert again.json()["cancelled"] == []
    statuses = [Appointment.objects.get(pk=pk).status for pk in created["appointments"]]
    assert statuses == [AppointmentStatus.SCHEDULED] * 2 + [AppointmentStatus.CANCELLED] * 2


def test_series_creation_honours_the_idempotency_key(api, clinician, client_ann, service_type, tomorrow_10am):
    body = {
        "clinician": clinician.pk,
        "clients": [client_ann.pk],
        "service_type": service_type.pk,
        "first_starts_at": tomorrow_10am.isoformat(),
        "frequency": "biweekly",
        "occurrences": 2,
    }
    first = api.post(f"{API}/series/", body, format="json", HTTP_IDEMPOTENCY_KEY="series-1")
    again = api.post(f"{API}/series/", body, format="json", HTTP_IDEMPOTENCY_KEY="series-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Appointment.objects.count() == 2


def test_messages_filter_by_state_channel_appointment_and_due_time(api, appointment, client_ann):
    message_plan_for(appointment=appointment)
    rows = OutboxMessage.objects.filter(appointment=appointment).order_by("due_at", "pk")
    skipped = rows.first()
    OutboxMessage.objects.filter(pk=skipped.pk).update(state=OutboxState.SKIPPED, reason="Quiet hours")

    by_state = api.get(f"{API}/messages/", {"state": "skipped"}).json()
    by_channel = api.get(f"{API}/messages/", {"channel": "sms"}).json()
    by_due = api.get(
        f"{API}/messages/", {"due_after": appointment.starts_at.isoformat(), "appointment": appointment.pk}
    ).json()

    assert [(m["id"], m["reason"]) for m in by_state["results"]] == [(skipped.pk, "Quiet hours")]
    assert {m["channel"] for m in by_channel["results"]} == {"sms"}
    assert by_channel["count"] == rows.filter(channel="sms").count()
    assert by_due["count"] == rows.filter(due_at__gte=appointment.starts_at).count()
    for message in by_state["results"]:
        assert message["recipient"] in ("clinician", client_ann.first_name)
        assert "body" not in message and "subject" not in message


def test_message_filters_are_validated(api):
    response = api.get(f"{API}/messages/", {"state": "eaten", "due_after": "yesterday"})

    assert set(assert_error_shape(response, 400)["errors"]) == {"state", "due_after"}
