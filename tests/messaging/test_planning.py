"""Planning turns a booked session into outbox rows at the right local times (SPEC F9, F10)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from messaging.models import OutboxMessage, OutboxState
from messaging.planning import shift_on_wall_clock
from messaging.services import message_plan_for
from practice.models import Modality
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from tests.messaging.conftest import NEW_YORK, ny

pytestmark = pytest.mark.django_db

TELEHEALTH_STEPS = {
    "confirmation",
    "t24_sms",
    "t2h_tech_check",
    "t15_sms",
    "t0_push",
    "t5_clinician_prompt",
    "note_reminder",
    "after_session",
}


def book(practice, clinician, clients, starts_at, service_type, capture, **extra):
    with capture(execute=True):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            starts_at=starts_at,
            service_type=service_type,
            **extra,
        )


def plan(appointment) -> dict[str, OutboxMessage]:
    return {m.kind: m for m in OutboxMessage.objects.filter(appointment=appointment)}


def test_a_telehealth_booking_plans_the_default_sequence_at_local_times(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        appointment = book(
            practice,
            clinician,
            [consenting_ann],
            ny(2026, 6, 10, 10, 0),
            service_type,
            django_capture_on_commit_callbacks,
        )

    rows = plan(appointment)
    assert set(rows) == TELEHEALTH_STEPS
    assert rows["confirmation"].due_at == ny(2026, 6, 1, 9, 0)
    assert rows["t24_sms"].due_at == ny(2026, 6, 9, 10, 0)
    assert rows["t2h_tech_check"].due_at == ny(2026, 6, 10, 8, 0)
    assert rows["t15_sms"].due_at == ny(2026, 6, 10, 9, 45)
    assert rows["t5_clinician_prompt"].due_at == ny(2026, 6, 10, 10, 5)
    assert rows["note_reminder"].due_at == ny(2026, 6, 10, 10, 55)
    assert rows["after_session"].due_at == ny(2026, 6, 10, 11, 15)
    assert {r.state for r in rows.values()} == {OutboxState.PLANNED}


def test_an_in_person_booking_gets_the_in_person_reminder_and_no_join_steps(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        appointment = book(
            practice,
            clinician,
            [consenting_ann],
            ny(2026, 6, 10, 10, 0),
            service_type,
            django_capture_on_commit_callbacks,
            modality=Modality.IN_PERSON,
        )

    assert set(plan(appointment)) == {"confirmation", "t24_sms_in_person", "note_reminder", "after_session"}


def test_booking_three_hours_ahead_skips_the_day_before_reminder_with_a_reason(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 10, 7, 0), tick=False):
        appointment = book(
            practice,
            clinician,
            [consenting_ann],
            ny(2026, 6, 10, 10, 0),
            service_type,
            django_capture_on_commit_callbacks,
        )

    rows = plan(appointment)
    assert rows["t24_sms"].state == OutboxState.SKIPPED
    assert "already passed" in rows["t24_sms"].reason
    assert rows["confirmation"].state == OutboxState.PLANNED
    assert rows["t2h_tech_check"].state == OutboxState.PLANNED
    assert rows["t15_sms"].state == OutboxState.PLANNED


def test_planning_again_adds_nothing(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        appointment = book(
            practice,
            clinician,
            [consenting_ann],
            ny(2026, 6, 10, 10, 0),
            service_type,
            django_capture_on_commit_callbacks,
        )
        before = OutboxMessage.objects.count()

        assert message_plan_for(appointment=appointment) == 0

    assert OutboxMessage.objects.count() == before


def test_a_group_session_plans_per_client_and_one_note_reminder(
    practice, clinician, consenting_ann, client_bob, group_service, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        appointment = book(
            practice,
            clinician,
            [consenting_ann, client_bob],
            ny(2026, 6, 10, 10, 0),
            group_service,
            django_capture_on_commit_callbacks,
        )

    rows = OutboxMessage.objects.filter(appointment=appointment)
    assert rows.filter(kind="t15_sms").count() == 2
    assert rows.filter(kind="t5_clinician_prompt").count() == 2  # one per client who may be late
    assert rows.filter(kind="note_reminder").count() == 1


@pytest.mark.parametrize(
    ("start", "expected_t24", "hours_before"),
    [
        # A session on the day the clocks fall back (2026-11-01): T-24 keeps 10:00 on the wall
        # clock the day before, 25 hours earlier.
        (ny(2026, 11, 1, 10, 0), ny(2026, 10, 31, 10, 0), 25),
        # The day they spring forward (2026-03-08): 23 hours earlier.
        (ny(2026, 3, 8, 10, 0), ny(2026, 3, 7, 10, 0), 23),
    ],
)
def test_the_day_before_reminder_keeps_the_local_clock_across_dst(
    practice,
    clinician,
    consenting_ann,
    service_type,
    django_capture_on_commit_callbacks,
    start,
    expected_t24,
    hours_before,
):
    with time_machine.travel(start - timedelta(days=5), tick=False):
        appointment = book(
            practice, clinician, [consenting_ann], start, service_type, django_capture_on_commit_callbacks
        )

    t24 = plan(appointment)["t24_sms"].due_at
    assert t24 == expected_t24
    assert start - t24 == timedelta(hours=hours_before)
    assert plan(appointment)["t15_sms"].due_at == start - timedelta(minutes=15)


def test_a_client_in_a_zone_without_dst_gets_reminders_on_their_own_clock():
    phoenix = ZoneInfo("America/Phoenix")  # no daylight saving
    start = datetime(2026, 11, 1, 10, 0, tzinfo=phoenix)

    assert shift_on_wall_clock(start, -24 * 60, phoenix) == start - timedelta(hours=24)
    # The same instant seen from New York crosses the fall-back night: a wall-clock day there is 25 h.
    assert start - shift_on_wall_clock(start, -24 * 60, NEW_YORK) == timedelta(hours=25)


def test_a_wall_clock_time_inside_the_spring_gap_moves_forward():
    # 02:30 on 2026-03-08 does not exist in New York; a day before 02:30 on 03-09 is 03:30 EDT.
    start = ny(2026, 3, 9, 2, 30)

    assert shift_on_wall_clock(start, -24 * 60, NEW_YORK) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_rescheduling_withdraws_pending_rows_and_plans_the_new_time(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        old = book(
            practice,
            clinician,
            [consenting_ann],
            ny(2026, 6, 10, 10, 0),
            service_type,
            django_capture_on_commit_callbacks,
        )
        OutboxMessage.objects.filter(appointment=old, kind="confirmation").update(state=OutboxState.ACCEPTED)
        with django_capture_on_commit_callbacks(execute=True):
            new = appointment_reschedule(appointment=old, starts_at=ny(2026, 6, 11, 14, 0))

    old_rows = plan(old)
    assert old_rows["confirmation"].state == OutboxState.ACCEPTED  # already sent stays sent
    assert old_rows["t24_sms"].state == OutboxState.CANCELLED
    assert "moved" in old_rows["t24_sms"].reason
    assert plan(new)["t24_sms"].due_at == ny(2026, 6, 10, 14, 0)


def test_cancelling_withdraws_pending_rows_and_plans_one_notice_per_client(
    practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks
):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        appointment = book(
            practice,
            clinician,
            [consenting_ann],
            ny(2026, 6, 10, 10, 0),
            service_type,
            django_capture_on_commit_callbacks,
        )
        with django_capture_on_commit_callbacks(execute=True):
            appointment_cancel(appointment=appointment)

    rows = plan(appointment)
    assert rows["t15_sms"].state == OutboxState.CANCELLED
    notice = rows["cancellation_notice"]
    assert notice.state == OutboxState.PLANNED
    assert notice.channel == "sms"
