"""The session page's History reads as sentences, on the practice's clock."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from messaging.models import OutboxMessage
from practice.audit import acting_as
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_reschedule,
)

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def la_practice(practice):
    practice.timezone = "America/Los_Angeles"
    practice.save()
    return practice


def history_of(http, appointment) -> list[str]:
    page = http.get(reverse("appointment_detail", args=[appointment.pk]))
    assert page.status_code == 200
    return [f"{line.when_text} · {line.text}" for line in page.context["history"]], page.content.decode()


def test_history_says_who_booked_moved_and_cancelled_in_the_practice_zone(
    signed_in, la_practice, front_desk, manager, clinician, client_ann, service_type
):
    # 21:30 in Los Angeles on a Saturday is Sunday in UTC.
    with time_machine.travel(datetime(2026, 6, 6, 21, 30, tzinfo=LA), tick=False), acting_as(front_desk):
        first = appointment_book(
            practice=la_practice,
            clinician=clinician,
            clients=[client_ann],
            starts_at=datetime(2026, 6, 13, 19, 0, tzinfo=LA),
            service_type=service_type,
            booked_by=front_desk,
        )
        appointment_confirm(appointment=first)
        moved = appointment_reschedule(
            appointment=first, starts_at=datetime(2026, 6, 14, 9, 0, tzinfo=LA), by=front_desk
        )
    with time_machine.travel(datetime(2026, 6, 7, 8, 0, tzinfo=LA), tick=False), acting_as(manager):
        appointment_cancel(appointment=moved, by=manager, reason="Clinician ill")

    http = signed_in(manager)
    lines, html = history_of(http, first)
    assert lines == [
        "Sat Jun 6, 9:30 PM · Moved to Sun Jun 14, 9:00 AM by Frank Desk",
        "Sat Jun 6, 9:30 PM · Confirmed by Frank Desk",
        "Sat Jun 6, 9:30 PM · Booked by Frank Desk for Sat Jun 13, 7:00 PM",
    ]
    moved_lines, _ = history_of(http, moved)
    assert moved_lines == [
        "Sun Jun 7, 8:00 AM · Cancelled; Reason: “Clinician ill” by Maria Manager",
        "Sat Jun 6, 9:30 PM · Moved here from Sat Jun 13, 7:00 PM by Frank Desk",
    ]
    for raw in ("join_events", "None →", "→", "UTC"):
        assert raw not in html.split('class="history"')[1].split("</ul>")[0]


def test_a_status_change_by_the_system_and_odd_fields_read_as_sentences():
    from scheduling.history import updated_sentences

    assert updated_sentences({"status": ["in_progress", "completed"]}, tz=LA, moved_to=None) == [
        "Status changed from In progress to Completed"
    ]
    assert updated_sentences({"modality": ["telehealth", "in_person"]}, tz=LA, moved_to=None) == [
        "Modality changed from Telehealth to In person"
    ]
    assert (
        updated_sentences(
            {"join_events": ["None", "telehealth.JoinEvent.None"], "updated_at": ["a", "b"]},
            tz=LA,
            moved_to=None,
        )
        == []
    )


def test_message_names_on_the_timeline_are_readable():
    assert OutboxMessage(kind="link_resend:1").display_name == "Link resent by staff"
    assert OutboxMessage(kind="link_resend:2").display_name == "Link resent by staff (the 2nd time)"
    assert OutboxMessage(kind="cancellation_notice:email").display_name == "Cancellation notice (e-mail)"


def test_a_cancelled_video_session_without_a_link_says_so(
    signed_in, manager, practice, clinician, client_ann, service_type
):
    with time_machine.travel(datetime(2026, 6, 1, 9, 0, tzinfo=LA), tick=False):
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            starts_at=datetime(2026, 6, 2, 9, 0, tzinfo=LA),
            service_type=service_type,
        )
        appointment_cancel(appointment=appointment, reason="Booked by mistake")
    page = signed_in(manager).get(reverse("appointment_detail", args=[appointment.pk])).content.decode()
    assert "<dd>None</dd>" not in page
    assert "No video link was made" in page
