"""The status words on the board, from the rules alone and from hand-built rows."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from scheduling.models import Appointment, AppointmentStatus, Attendance
from staff.board import Reminders, presence_of, session_rows, sessions_between
from tests.staff.board_helpers import message, ny, session, tech_check

START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
END = START + timedelta(minutes=45)


def presence(now, *, status=AppointmentStatus.SCHEDULED, attendance=Attendance.EXPECTED, joined_at=None):
    return presence_of(
        appointment_status=status,
        attendance=attendance,
        joined_at=joined_at,
        starts_at=START,
        ends_at=END,
        now=now,
    ).key


def test_a_client_is_late_only_five_minutes_after_the_start_and_until_the_end():
    assert presence(START - timedelta(minutes=1)) == "upcoming"
    assert presence(START + timedelta(minutes=4, seconds=59)) == "due"
    assert presence(START + timedelta(minutes=5)) == "late"
    assert presence(END - timedelta(seconds=1)) == "late"
    assert presence(END) == "not_joined"


def test_joins_marks_and_no_shows_win_over_the_clock():
    later = END + timedelta(hours=1)
    assert presence(later, joined_at=START, attendance=Attendance.ATTENDED) == "joined"
    assert (
        presence(later, joined_at=START + timedelta(minutes=9), attendance=Attendance.LATE) == "joined_late"
    )
    assert presence(later, attendance=Attendance.ATTENDED) == "attended"
    assert presence(later, attendance=Attendance.NO_SHOW) == "no_show"
    assert presence(later, status=AppointmentStatus.NO_SHOW) == "no_show"
    assert presence(later, status=AppointmentStatus.CANCELLED) == "cancelled"
    assert presence(later, status=AppointmentStatus.COMPLETED) == "not_marked"


def test_reminders_summary_puts_problems_first():
    assert Reminders(counts={"delivered": 2, "accepted": 1}).summary.label == "2 of 3 delivered"
    assert Reminders(counts={"accepted": 1}).summary.key == "sent"
    assert Reminders(counts={"delivered": 2, "undelivered": 1}).summary.label == "1 failed"
    assert Reminders(counts={"delivered": 2, "unknown": 1}).summary.key == "unknown"
    assert Reminders(counts={"planned": 3}).summary.key == "planned"
    assert Reminders().summary.key == "none"


@pytest.fixture
def group(practice, clinician, service_type, client_ann, client_bob):
    return session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann, client_bob],
        starts_at=ny(2026, 6, 10, 10, 0),
    )


@pytest.mark.django_db
def test_each_participant_gets_their_own_messages_checks_and_join(group, client_ann):
    ann, bob = sorted(group.participants.all(), key=lambda p: p.client_id != client_ann.pk)
    message(ann, "confirmation", "delivered")
    message(ann, "t24_sms", "delivered")
    message(ann, "t15_sms", "accepted")
    message(bob, "confirmation", "delivered")
    message(bob, "t24_sms", "undelivered")
    message(bob, "t15_sms", "planned", due_at=ny(2026, 6, 10, 9, 45))
    tech_check(ann, passed=False, problems=["camera_blocked"])
    tech_check(ann, passed=True)  # fixed it and ran the check again
    tech_check(bob, passed=False, problems=["camera_blocked", "slow_upload"])
    ann.joined_at, ann.attendance = ny(2026, 6, 10, 10, 1), Attendance.ATTENDED
    ann.save()

    with time_machine.travel(ny(2026, 6, 10, 10, 7), tick=False):
        now = datetime.now(UTC)
        [row] = session_rows(
            sessions_between(Appointment.objects.all(), START - timedelta(days=1), END), now=now
        )

    by_name = {p.client.first_name: p for p in row.participants}
    assert by_name["Ann"].presence.key == "joined"
    assert by_name["Ann"].reminders.summary.label == "2 of 3 delivered"
    assert by_name["Ann"].tech_check.key == "passed"
    assert by_name["Bob"].presence.key == "late"
    assert by_name["Bob"].reminders.summary.label == "1 failed"
    assert by_name["Bob"].reminders.next_due_at == ny(2026, 6, 10, 9, 45)
    assert by_name["Bob"].tech_check.key == "failed"
    assert by_name["Bob"].tech_check.problems == (
        "Camera blocked by the browser",
        "Connection too slow to send video",
    )
    assert row.needs_action


@pytest.mark.django_db
def test_the_board_shows_the_statuses_in_words(signed_in, front_desk, group, client_ann):
    bob = group.participants.exclude(client=client_ann).get()
    tech_check(bob, passed=False, problems=["microphone_in_use"])
    with time_machine.travel(ny(2026, 6, 10, 10, 20), tick=False):
        page = signed_in(front_desk).get(reverse("board"))
    html = page.content.decode()
    assert "Late: not joined" in html
    assert "Microphone in use by another app" in html
    assert "microphone_in_use" not in html
    # Phone numbers are in the page body (tel: links), never in our own URLs.
    assert 'href="tel:+12125550102"' in html
    assert "+12125550102" not in page.request["PATH_INFO"]
