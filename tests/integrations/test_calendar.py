"""The private iCal feed (RFC 5545, practice zone, DST) and .ics import with a preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from icalendar import Calendar

from integrations import services
from integrations.calendar import ics_import_preview
from integrations.models import CalendarFeed
from scheduling.models import Appointment, AppointmentSource
from scheduling.services import appointment_book, appointment_cancel
from tests.conftest import verified_session

NEW_YORK = ZoneInfo("America/New_York")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def book(practice, clinician, clients, service_type, starts_at):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=clients,
        starts_at=starts_at,
        service_type=service_type,
    )


def fetch(http, token):
    return http.get(f"/cal/{token}.ics")


# --- Feed ----------------------------------------------------------------------------------------------


@time_machine.travel(ny(2026, 10, 25, 9, 0), tick=False)
def test_the_feed_is_valid_ical_with_the_practice_zone_and_dst_correct_times(
    client, practice, clinician, client_ann, client_bob, group_service, service_type
):
    before = book(practice, clinician, [client_ann], service_type, ny(2026, 10, 31, 10, 0))  # EDT, UTC-4
    after = book(practice, clinician, [client_ann], service_type, ny(2026, 11, 1, 10, 0))  # EST, UTC-5
    group = book(practice, clinician, [client_ann, client_bob], group_service, ny(2026, 11, 2, 14, 0))
    _, token = services.calendar_feed_create(clinician=clinician)

    response = fetch(client, token)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    [vtimezone] = calendar.walk("VTIMEZONE")
    assert str(vtimezone["TZID"]) == "America/New_York"
    events = {str(event["UID"]).split("@")[0]: event for event in calendar.walk("VEVENT")}
    first, second = events[f"appointment-{before.pk}"], events[f"appointment-{after.pk}"]
    assert first["DTSTART"].params["TZID"] == "America/New_York"
    assert first.decoded("DTSTART").astimezone(UTC) == datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    assert second.decoded("DTSTART").astimezone(UTC) == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert second.decoded("DTSTART").utcoffset() == timedelta(hours=-5)  # 10:00 EST on the wall clock
    assert first.decoded("DTSTART").utcoffset() == timedelta(hours=-4)
    assert second.decoded("DTEND") - second.decoded("DTSTART") == timedelta(minutes=45)
    assert str(first["SUMMARY"]) == "Session · A.A."
    assert str(events[f"appointment-{group.pk}"]["SUMMARY"]) == "Group session · 2 clients"
    for required in ("DTSTAMP", "UID", "DTSTART"):
        assert all(required in event for event in events.values())
    assert "PRODID" in calendar and str(calendar["VERSION"]) == "2.0"


@time_machine.travel(ny(2026, 10, 25, 9, 0), tick=False)
def test_the_feed_shows_no_names_contact_details_or_notes(
    client, practice, clinician, client_ann, service_type
):
    appointment = book(practice, clinician, [client_ann], service_type, ny(2026, 10, 28, 10, 0))
    appointment_cancel(appointment=appointment, reason="Ann Avery is unwell")
    _, token = services.calendar_feed_create(clinician=clinician)

    text = fetch(client, token).content.decode()

    for secret in ("Ann", "Avery", "2125550101", "ann@example", "unwell", "Individual therapy", "90834"):
        assert secret not in text


@time_machine.travel(ny(2026, 10, 25, 9, 0), tick=False)
def test_cancelled_sessions_are_marked_cancelled_and_only_own_sessions_appear(
    client, practice, clinician, other_clinician, client_ann, client_bob, service_type
):
    cancelled = book(practice, clinician, [client_ann], service_type, ny(2026, 10, 28, 10, 0))
    appointment_cancel(appointment=cancelled)
    someone_elses = book(practice, other_clinician, [client_bob], service_type, ny(2026, 10, 28, 11, 0))
    _, token = services.calendar_feed_create(clinician=clinician)

    calendar = Calendar.from_ical(fetch(client, token).content)

    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]).startswith(f"appointment-{cancelled.pk}@")
    assert str(event["STATUS"]) == "CANCELLED"
    assert f"appointment-{someone_elses.pk}@" not in fetch(client, token).content.decode()


def test_a_revoked_or_replaced_feed_url_is_not_found(client, clinician):
    _, first = services.calendar_feed_create(clinician=clinician)
    _, second = services.calendar_feed_create(clinician=clinician)  # replaces the first

    assert fetch(client, first).status_code == 404
    assert fetch(client, second).status_code == 200
    services.calendar_feed_revoke(clinician=clinician)
    assert fetch(client, second).status_code == 404
    assert fetch(client, "not-a-token").status_code == 404
    assert not CalendarFeed.objects.filter(token_hash=second).exists()  # only the hash is stored


def test_a_clinician_creates_and_revokes_their_feed_from_a_page(clinician_user, clinician, client):
    http = verified_session(clinician_user)

    page = http.post("/calendar/feed/", {"action": "create"})

    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    url = page.context["feed_url"]
    assert url.startswith("http://testserver/cal/") and url.endswith(".ics")
    assert client.get(url.removeprefix("http://testserver")).status_code == 200
    again = http.get("/calendar/feed/").content.decode()
    assert url not in again  # shown once
    http.post("/calendar/feed/", {"action": "revoke"})
    assert client.get(url.removeprefix("http://testserver")).status_code == 404


def test_staff_without_a_clinician_calendar_get_no_feed_page(manager):
    assert verified_session(manager).get("/calendar/feed/").status_code == 404


# --- Import --------------------------------------------------------------------------------------------


def ics(*events: str) -> bytes:
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//EN", *events, "END:VCALENDAR", ""])
    return body.encode()


def vevent(uid: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261001T000000Z", *lines, "END:VEVENT"])


MIXED_FILE = ics(
    vevent(
        "good-1",
        "DTSTART;TZID=America/New_York:20261102T090000",
        "DTEND;TZID=America/New_York:20261102T095000",
    ),
    vevent(
        "good-2@other.example",
        "DTSTART:20261103T150000Z",
        "DURATION:PT45M",
        "ATTENDEE:mailto:BOB@example.test",
    ),
    vevent("weekly", "DTSTART:20261104T150000Z", "DURATION:PT45M", "RRULE:FREQ=WEEKLY;COUNT=4"),
    vevent("allday", "DTSTART;VALUE=DATE:20261105"),
    vevent("nostart", "SUMMARY:No time"),
    vevent("past", "DTSTART:20260101T150000Z", "DURATION:PT45M"),
    vevent("clash", "DTSTART;TZID=America/New_York:20261102T093000", "DURATION:PT45M"),
    vevent("cancelled", "DTSTART:20261106T150000Z", "DURATION:PT45M", "STATUS:CANCELLED"),
    vevent("backwards", "DTSTART:20261107T150000Z", "DTEND:20261107T140000Z"),
)


@time_machine.travel(ny(2026, 10, 25, 9, 0))
def test_the_preview_shows_what_would_be_booked_with_per_event_errors(
    practice, clinician, client_ann, client_bob, service_type
):
    candidates = ics_import_preview(
        content=MIXED_FILE,
        clinician=clinician,
        service_type=service_type,
        default_client=client_ann,
        now=ny(2026, 10, 25, 9, 0),
    )

    by_uid = {candidate.uid: candidate for candidate in candidates}
    assert by_uid["good-1"].ok and by_uid["good-1"].client == client_ann
    assert by_uid["good-1"].starts_at.astimezone(UTC) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # EST
    assert by_uid["good-2@other.example"].ok and by_uid["good-2@other.example"].client == client_bob
    assert "Repeating events" in by_uid["weekly"].errors[0]
    assert by_uid["allday"].errors == ["All-day events are not sessions."]
    assert by_uid["nostart"].errors == ["The event has no start time."]
    assert by_uid["past"].errors == ["This time is in the past."]
    assert by_uid["clash"].errors == ["Overlaps another event in this file."]
    assert by_uid["cancelled"].errors == ["Cancelled in the source calendar."]
    assert by_uid["backwards"].errors == ["The event ends before it starts."]
    assert not Appointment.objects.exists()  # a preview writes nothing


@time_machine.travel(ny(2026, 10, 25, 9, 0))
def test_staff_upload_preview_and_confirm_books_the_good_events_through_the_booking_service(
    front_desk, practice, clinician, client_ann, client_bob, service_type
):
    http = verified_session(front_desk)
    choices = {"clinician": clinician.pk, "service_type": service_type.pk, "modality": "telehealth"}

    preview = http.post("/calendar/import/", {**choices, "file": SimpleUploadedFile("cal.ics", MIXED_FILE)})

    assert preview.status_code == 200
    assert preview.context["ready"] == 1  # good-2 has its client by attendee; good-1 has none
    assert "No client" in preview.content.decode()
    assert not Appointment.objects.exists()

    confirmed = http.post(
        "/calendar/import/",
        {**choices, "content": preview.context["content"], "confirm": "1", "client": client_ann.pk},
    )

    assert confirmed.status_code == 200 and confirmed.context["booked"] == 2
    booked = Appointment.objects.order_by("starts_at")
    assert [a.external_id for a in booked] == ["ics:good-1", "ics:good-2@other.example"]
    assert {a.source for a in booked} == {AppointmentSource.EHR_IMPORT}
    assert [a.participants.get().client for a in booked] == [client_ann, client_bob]

    again = http.post("/calendar/import/", {**choices, "file": SimpleUploadedFile("cal.ics", MIXED_FILE)})
    assert again.context["ready"] == 0
    assert "Already imported" in again.content.decode()


def test_a_file_that_is_not_a_calendar_is_a_field_error(front_desk, clinician, service_type):
    http = verified_session(front_desk)
    response = http.post(
        "/calendar/import/",
        {
            "clinician": clinician.pk,
            "service_type": service_type.pk,
            "modality": "telehealth",
            "file": SimpleUploadedFile("cal.ics", b"\x89PNG not a calendar"),
        },
    )
    assert response.status_code == 400
    assert "not a calendar" in response.content.decode()


def test_import_cannot_book_for_another_practices_clinician(other_manager, clinician, service_type):
    http = verified_session(other_manager)
    response = http.post(
        "/calendar/import/",
        {
            "clinician": clinician.pk,
            "service_type": service_type.pk,
            "modality": "telehealth",
            "file": SimpleUploadedFile("cal.ics", MIXED_FILE),
        },
    )
    assert response.status_code == 400
    assert "clinician" in response.context["form"].errors
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("role_fixture", ["biller"])
def test_billers_cannot_import(request, role_fixture):
    user = request.getfixturevalue(role_fixture)
    assert verified_session(user).get("/calendar/import/").status_code == 403
