"""The session lifecycle after the start (SPEC F3, F9 steps 6-7): the sweep flags late arrivals
at T+5, marks no-shows at the end of the practice's grace period, completes attended sessions,
and publishes the events; staff can reverse a system no-show with a reason."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.management import call_command
from django.db import connection

from practice.models import Client, Modality
from scheduling import events
from scheduling.lifecycle import SYSTEM_NO_SHOW_NOTE, appointments_sweep_lifecycle
from scheduling.models import ActivityKind, AppointmentActivity, Attendance, FollowUp, FollowUpKind
from scheduling.services import appointment_book, participant_record_join

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
START = datetime(2026, 6, 10, 10, 0, tzinfo=NY)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def book(practice, clinician, clients, service_type, starts_at=START, modality=Modality.TELEHEALTH, fee=None):
    with at(starts_at - timedelta(days=3)):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            starts_at=starts_at,
            service_type=service_type,
            modality=modality,
            fee=fee,
        )


def sweep(moment: datetime):
    with at(moment):
        return appointments_sweep_lifecycle()


@pytest.fixture
def received():
    seen: list[events.AppointmentEvent] = []
    events.subscribe(seen.append)
    yield seen
    events.unsubscribe(seen.append)


@pytest.fixture
def session(practice, clinician, client_ann, service_type):
    return book(practice, clinician, [client_ann], service_type)


def attendance(appointment):
    return dict(appointment.participants.values_list("client__first_name", "attendance"))


# --- T+5: late arrival ---------------------------------------------------------------------------


def test_no_late_arrival_item_at_t_plus_4_59(session):
    report = sweep(START + timedelta(minutes=4, seconds=59))

    assert report.late_flagged == 0
    assert not FollowUp.objects.exists()


def test_a_late_arrival_item_at_t_plus_5_once(session):
    assert sweep(START + timedelta(minutes=5)).late_flagged == 1
    assert sweep(START + timedelta(minutes=6)).late_flagged == 0

    item = FollowUp.objects.get()
    assert (item.kind, item.participant.client.first_name) == (FollowUpKind.LATE_ARRIVAL, "Ann")


def test_a_resolved_late_arrival_item_is_not_raised_again(session, manager):
    from scheduling.services import follow_up_resolve

    sweep(START + timedelta(minutes=5))
    follow_up_resolve(item=FollowUp.objects.get(), by=manager, note="Called her")
    sweep(START + timedelta(minutes=7))

    assert FollowUp.objects.open().count() == 0


def test_a_client_who_joined_is_not_late(session):
    with at(START + timedelta(minutes=2)):
        participant_record_join(participant=session.participants.get())

    assert sweep(START + timedelta(minutes=5)).late_flagged == 0


def test_in_person_sessions_have_no_late_arrival_or_system_no_show(
    practice, clinician, client_ann, service_type
):
    appointment = book(practice, clinician, [client_ann], service_type, modality=Modality.IN_PERSON)

    report = sweep(START + timedelta(minutes=30))

    assert (report.late_flagged, report.no_shows) == (0, 0)
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"


def test_late_arrival_in_a_group_is_per_participant(
    practice, clinician, client_ann, client_bob, group_service
):
    group = book(practice, clinician, [client_ann, client_bob], group_service)
    with at(START + timedelta(minutes=1)):
        participant_record_join(participant=group.participants.get(client=client_bob))

    sweep(START + timedelta(minutes=5))

    [item] = FollowUp.objects.all()
    assert item.participant.client == client_ann


# --- End of grace: no-show ---------------------------------------------------------------------------


def test_no_show_exactly_at_the_end_of_the_grace_period(session, practice):
    practice.no_show_grace_minutes = 15
    practice.save()

    assert sweep(START + timedelta(minutes=14, seconds=59)).no_shows == 0
    assert attendance(session) == {"Ann": Attendance.EXPECTED}
    assert sweep(START + timedelta(minutes=15)).no_shows == 1

    participant = session.participants.get()
    assert participant.attendance == Attendance.NO_SHOW
    assert participant.attendance_marked_by is None
    assert participant.attendance_note == SYSTEM_NO_SHOW_NOTE
    session.refresh_from_db()
    assert session.status == "no_show"
    assert FollowUp.objects.filter(kind=FollowUpKind.NO_SHOW, participant=participant).exists()
    assert AppointmentActivity.objects.get(kind=ActivityKind.NO_SHOW_MARKED).channel == "system"


def test_the_grace_period_is_the_practices(session, practice):
    practice.no_show_grace_minutes = 30
    practice.save()

    assert sweep(START + timedelta(minutes=29)).no_shows == 0
    assert sweep(START + timedelta(minutes=30)).no_shows == 1


def test_a_second_sweep_changes_nothing_and_publishes_nothing(
    session, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sweep(START + timedelta(minutes=20))
    first = list(received)
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(START + timedelta(minutes=21))

    assert report.no_shows == 0
    assert received == first
    assert FollowUp.objects.filter(kind=FollowUpKind.NO_SHOW).count() == 1


def test_the_system_no_show_and_status_change_are_audit_logged(session):
    sweep(START + timedelta(minutes=20))

    participant_changes = LogEntry.objects.get_for_object(session.participants.get())
    appointment_changes = LogEntry.objects.get_for_object(session)
    assert any(entry.changes.get("attendance") == ["expected", "no_show"] for entry in participant_changes)
    assert any(entry.changes.get("status") == ["scheduled", "no_show"] for entry in appointment_changes)
    assert all(entry.actor is None for entry in participant_changes)


def test_a_group_is_a_no_show_only_when_everyone_is(
    practice, clinician, client_ann, client_bob, group_service
):
    group = book(practice, clinician, [client_ann, client_bob], group_service)
    with at(START + timedelta(minutes=3)):
        participant_record_join(participant=group.participants.get(client=client_bob))

    sweep(START + timedelta(minutes=20))

    assert attendance(group) == {"Ann": Attendance.NO_SHOW, "Bob": Attendance.ATTENDED}
    group.refresh_from_db()
    assert group.status == "in_progress"


def test_a_group_where_nobody_joined_is_a_no_show(practice, clinician, client_ann, client_bob, group_service):
    group = book(practice, clinician, [client_ann, client_bob], group_service)

    assert sweep(START + timedelta(minutes=20)).no_shows == 2

    group.refresh_from_db()
    assert group.status == "no_show"


@pytest.mark.parametrize(
    "local_start",
    [
        # Spring forward: 2:00 does not exist; a 1:30 session's grace runs across the gap.
        datetime(2026, 3, 8, 1, 30, tzinfo=NY),
        # Fall back: 1:30 happens twice; the second one (fold=1) is an hour later.
        datetime(2026, 11, 1, 1, 30, tzinfo=NY),
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY),
    ],
    ids=["spring-forward", "fall-back-first-1:30", "fall-back-second-1:30"],
)
def test_timing_on_the_dst_nights_is_elapsed_time(practice, clinician, client_ann, service_type, local_start):
    appointment = book(practice, clinician, [client_ann], service_type, starts_at=local_start)
    # Arithmetic on an aware local time is wall-clock arithmetic that drops ``fold``: go by UTC.
    start_utc = appointment.starts_at.astimezone(UTC)

    assert sweep(start_utc + timedelta(minutes=4, seconds=59)).late_flagged == 0
    assert sweep(start_utc + timedelta(minutes=5)).late_flagged == 1
    assert sweep(start_utc + timedelta(minutes=14, seconds=59)).no_shows == 0
    assert sweep(start_utc + timedelta(minutes=15)).no_shows == 1


def test_a_client_who_joins_after_the_system_no_show_counts_as_late(
    session, received, django_capture_on_commit_callbacks
):
    sweep(START + timedelta(minutes=15))
    with django_capture_on_commit_callbacks(execute=True), at(START + timedelta(minutes=17)):
        participant_record_join(participant=session.participants.get())

    assert attendance(session) == {"Ann": Attendance.LATE}
    session.refresh_from_db()
    assert session.status == "in_progress"
    assert events.AppointmentEvent("in_progress", session.pk) in received
    assert AppointmentActivity.objects.filter(kind=ActivityKind.NO_SHOW_REVERSED).exists()


def test_staff_reverse_a_system_no_show_only_with_a_reason(session, manager, signed_in):
    sweep(START + timedelta(minutes=20))
    client = session.participants.get().client
    http = signed_in(manager)

    with at(START + timedelta(minutes=25)):
        refused = http.post(
            f"/appointments/{session.pk}/attendance/",
            {"client": client.pk, "attendance": "late", "note": "  "},
            follow=True,
        )
    assert "Say why the no-show is being reversed." in refused.content.decode()
    assert attendance(session) == {"Ann": Attendance.NO_SHOW}

    with at(START + timedelta(minutes=25)):
        http.post(
            f"/appointments/{session.pk}/attendance/",
            {"client": client.pk, "attendance": "late", "note": "Joined by phone, link failed"},
        )
    assert attendance(session) == {"Ann": Attendance.LATE}
    reversal = AppointmentActivity.objects.get(kind=ActivityKind.NO_SHOW_REVERSED)
    assert (reversal.actor, reversal.detail) == (manager, "Joined by phone, link failed")
    entries = LogEntry.objects.get_for_object(session.participants.get())
    assert any(entry.actor == manager and "attendance" in entry.changes for entry in entries)


# --- After the end: completed -----------------------------------------------------------------------


def test_an_attended_session_becomes_completed_after_its_end(
    session, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), at(START + timedelta(minutes=1)):
        participant_record_join(participant=session.participants.get())
    session.refresh_from_db()
    assert session.status == "in_progress"

    assert sweep(session.ends_at - timedelta(seconds=1)).completed == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(session.ends_at).completed == 1
        assert sweep(session.ends_at + timedelta(minutes=1)).completed == 0

    session.refresh_from_db()
    assert session.status == "completed"
    kinds = [(e.kind, e.appointment_id) for e in received]
    assert kinds == [
        ("in_progress", session.pk),
        ("joined", session.pk),
        ("completed", session.pk),
        ("payment_due", session.pk),
    ]


def test_a_session_without_a_fee_is_completed_but_not_billable(
    practice, clinician, client_ann, service_type, received, django_capture_on_commit_callbacks
):
    free = book(practice, clinician, [client_ann], service_type, fee=Decimal("0"))
    with at(START + timedelta(minutes=1)):
        participant_record_join(participant=free.participants.get())

    with django_capture_on_commit_callbacks(execute=True):
        sweep(free.ends_at)

    assert [e.kind for e in received] == ["completed"]


# --- Events of no-shows ---------------------------------------------------------------------------------


def test_a_no_show_publishes_no_show_per_participant_and_payment_due_only_with_signed_policy_and_fee(
    practice, clinician, client_ann, client_bob, group_service, received, django_capture_on_commit_callbacks
):
    practice.no_show_fee = Decimal("75.00")
    practice.save()
    client_ann.no_show_policy_accepted_on = START.date() - timedelta(days=30)
    client_ann.save()
    group = book(practice, clinician, [client_ann, client_bob], group_service)
    ann_p, bob_p = group.participants.get(client=client_ann), group.participants.get(client=client_bob)

    with django_capture_on_commit_callbacks(execute=True):
        sweep(START + timedelta(minutes=15))

    assert sorted((e.kind, e.participant_id) for e in received) == sorted(
        [("no_show", ann_p.pk), ("payment_due", ann_p.pk), ("no_show", bob_p.pk)]
    )


def test_no_fee_means_no_payment_due_even_with_a_signed_policy(
    session, client_ann, received, django_capture_on_commit_callbacks
):
    client_ann.no_show_policy_accepted_on = START.date()
    client_ann.save()

    with django_capture_on_commit_callbacks(execute=True):
        sweep(START + timedelta(minutes=15))

    assert [e.kind for e in received] == ["no_show"]


def test_staff_marking_a_no_show_publishes_it_too(
    session, manager, received, django_capture_on_commit_callbacks
):
    from scheduling.services import appointment_mark_attendance

    with django_capture_on_commit_callbacks(execute=True), at(START + timedelta(minutes=10)):
        appointment_mark_attendance(
            appointment=session, client=session.participants.get().client, attendance="no_show", by=manager
        )

    participant = session.participants.get()
    assert events.AppointmentEvent("no_show", session.pk, participant_id=participant.pk) in received
    assert AppointmentActivity.objects.get().kind == ActivityKind.NO_SHOW_MARKED


# --- Running it -------------------------------------------------------------------------------------


def test_the_management_command_runs_one_sweep(session):
    out = StringIO()
    with at(START + timedelta(minutes=20)):
        call_command("sweep_lifecycle", stdout=out)

    assert "no-shows marked 1" in out.getvalue()


def test_the_sweep_is_scheduled_every_minute_by_a_migration():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="scheduling.lifecycle_sweep")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "scheduling.tasks.sweep_lifecycle",
        Schedule.MINUTES,
        1,
        -1,
    )


def test_the_scheduled_task_sweeps(session):
    from scheduling import tasks

    with at(START + timedelta(minutes=20)):
        assert tasks.sweep_lifecycle() == 1


# --- Several workers at once -----------------------------------------------------------------------

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_sweeps_running_at_once_make_each_change_once(practice, clinician, group_service, received):
    clients = [
        Client.objects.create(
            practice=practice, first_name=f"Client{i}", last_name="Race", email=f"c{i}@x.test"
        )
        for i in range(4)
    ]
    group = book(practice, clinician, clients, group_service)
    workers_count = 4
    start_together = threading.Barrier(workers_count)
    errors: list[str] = []

    def run():
        try:
            start_together.wait(timeout=10)
            appointments_sweep_lifecycle(now=START + timedelta(minutes=20))
        except Exception as error:  # every outcome but success fails the assertion below
            errors.append(repr(error))
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(workers_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    group.refresh_from_db()
    assert group.status == "no_show"
    assert set(attendance(group).values()) == {Attendance.NO_SHOW}
    assert FollowUp.objects.filter(kind=FollowUpKind.NO_SHOW).count() == 4
    no_show_events = [e for e in received if e.kind == "no_show"]
    assert sorted(e.participant_id for e in no_show_events) == sorted(
        group.participants.values_list("pk", flat=True)
    )
    status_entries = [
        e
        for e in LogEntry.objects.get_for_object(group).filter(action=LogEntry.Action.UPDATE)
        if "status" in (e.changes or {})
    ]
    assert len(status_entries) == 1
