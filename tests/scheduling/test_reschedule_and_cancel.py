"""Everything a reschedule and a cancellation leave behind, for a group session of two clients:
the appointment rows, the events, the audit entries, the reminders withdrawn and re-planned, the
cancellation notices and the meeting. The B3 benchmark (issue #8) made these paths cheaper; these
tests pin what they must still do."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import OutboxMessage, OutboxState
from practice.audit import acting_as
from scheduling import events
from scheduling.models import AppointmentParticipant, AppointmentStatus, Attendance
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from telehealth.models import Meeting, MeetingState

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def clock():
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        yield


@pytest.fixture
def published():
    seen: list[events.AppointmentEvent] = []
    events.subscribe(seen.append)
    yield seen
    events.unsubscribe(seen.append)


@pytest.fixture
def group(
    clock, practice, clinician, client_ann, client_bob, group_service, django_capture_on_commit_callbacks
):
    """A booked group session: Ann can get texts (consent recorded), Bob has e-mail only."""
    client_ann.sms_consent_at = client_ann.created_at
    client_ann.sms_consent_source = "intake_form"
    client_ann.save()
    with django_capture_on_commit_callbacks(execute=True):
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann, client_bob],
            starts_at=ny(2026, 6, 10, 10, 0),
            service_type=group_service,
            fee=Decimal("55.00"),
            external_source="ehr",
            external_id="E-17",
        )
    # The confirmation already went out: it must stay as it is.
    OutboxMessage.objects.filter(appointment=appointment, kind="confirmation").update(
        state=OutboxState.ACCEPTED
    )
    return appointment


def entries_since(mark: int) -> list[tuple[str, int, int, dict]]:
    """(model, object id, action, changes) of the audit entries written after ``mark``."""
    return [
        (ContentType.objects.get_for_id(e.content_type_id).model, e.object_id, e.action, e.changes_dict)
        for e in LogEntry.objects.filter(pk__gt=mark).order_by("pk")
    ]


def last_entry() -> int:
    return LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_a_reschedule_moves_the_session_its_reminders_and_its_meeting(
    group, published, django_capture_on_commit_callbacks
):
    meeting = Meeting.objects.get(appointment=group)
    old_t15 = OutboxMessage.objects.filter(appointment=group, kind="t15_sms")
    assert old_t15.count() == 2 and {m.state for m in old_t15} == {OutboxState.PLANNED}
    mark = last_entry()

    with django_capture_on_commit_callbacks(execute=True):
        new = appointment_reschedule(appointment=group, starts_at=ny(2026, 6, 11, 14, 0))

    group.refresh_from_db()
    assert group.status == AppointmentStatus.RESCHEDULED
    new.refresh_from_db()
    assert new.rescheduled_from_id == group.pk
    assert (new.starts_at, new.ends_at) == (ny(2026, 6, 11, 14, 0), ny(2026, 6, 11, 15, 30))
    assert (new.service_type_id, new.fee, new.modality) == (group.service_type_id, group.fee, group.modality)
    assert (new.external_source, new.external_id, new.series_id) == ("ehr", "E-17", None)
    assert set(new.participants.values_list("client__first_name", flat=True)) == {"Ann", "Bob"}
    assert set(new.participants.values_list("attendance", flat=True)) == {Attendance.EXPECTED}

    assert [(e.kind, e.appointment_id, e.previous_id) for e in published] == [
        ("rescheduled", new.pk, group.pk)
    ]

    entries = entries_since(mark)
    assert [(model, object_id, action) for model, object_id, action, _ in entries[:2]] == [
        ("appointment", group.pk, LogEntry.Action.UPDATE),
        ("appointment", new.pk, LogEntry.Action.CREATE),
    ]
    assert entries[0][3]["status"] == ["scheduled", "rescheduled"]
    assert set(entries[0][3]) == {"status"}  # the clock stands still: updated_at is unchanged
    created = entries[1][3]
    assert created["rescheduled_from"] == ["None", str(group.pk)]
    assert created["external_id"] == ["None", "E-17"]
    # Reverse relations are read for the new row's entry and have nothing to record.
    assert not {"meeting", "rescheduled_to"} & set(created)
    participant_ids = set(new.participants.values_list("pk", flat=True))
    assert {(m, i, a) for m, i, a, _ in entries[2:]} == {
        ("appointmentparticipant", pk, LogEntry.Action.CREATE) for pk in participant_ids
    }
    assert len(entries) == 4

    old_rows = OutboxMessage.objects.filter(appointment=group)
    assert {m.state for m in old_rows.filter(kind="confirmation")} == {OutboxState.ACCEPTED}  # sent stays
    assert not old_rows.filter(state=OutboxState.PLANNED).exists()
    withdrawn = old_rows.filter(state=OutboxState.CANCELLED)
    assert withdrawn.filter(kind="t15_sms").count() == 2
    assert {m.reason for m in withdrawn} == {"The session was moved to a new time."}
    assert all(m.settled_at is not None for m in withdrawn)
    new_t15 = OutboxMessage.objects.filter(appointment=new, kind="t15_sms")
    assert {(m.participant_id, m.due_at, m.state) for m in new_t15} == {
        (pk, ny(2026, 6, 11, 13, 45), OutboxState.PLANNED) for pk in participant_ids
    }
    # The replacement gets the whole sequence, as a booking would.
    assert OutboxMessage.objects.filter(appointment=new).count() == old_rows.count()

    meeting.refresh_from_db()
    assert meeting.appointment_id == new.pk
    assert meeting.state == MeetingState.READY


def test_a_cancellation_withdraws_reminders_sends_one_notice_each_and_revokes_the_meeting(
    group, published, manager, django_capture_on_commit_callbacks
):
    ann, bob = sorted(group.participants.select_related("client"), key=lambda p: p.client.first_name)
    mark = last_entry()

    with acting_as(manager), django_capture_on_commit_callbacks(execute=True):
        cancelled = appointment_cancel(appointment=group, by=manager, reason="Clinician ill " + "x" * 400)

    assert cancelled.status == AppointmentStatus.CANCELLED
    group.refresh_from_db()
    assert group.status == AppointmentStatus.CANCELLED
    assert group.cancelled_at == ny(2026, 6, 1, 9, 0)
    assert group.cancelled_by == manager
    assert group.cancel_reason == ("Clinician ill " + "x" * 400)[:300]
    assert group.is_late_cancel is False  # nine days ahead, outside the 24 h window
    assert set(group.participants.values_list("attendance", flat=True)) == {Attendance.CANCELLED}

    assert [(e.kind, e.appointment_id) for e in published] == [("cancelled", group.pk)]

    entries = entries_since(mark)
    assert [(model, object_id, action) for model, object_id, action, _ in entries] == [
        ("appointment", group.pk, LogEntry.Action.UPDATE),
        ("appointmentparticipant", ann.pk, LogEntry.Action.UPDATE),
        ("appointmentparticipant", bob.pk, LogEntry.Action.UPDATE),
    ]
    assert set(entries[0][3]) == {"status", "cancelled_at", "cancelled_by", "cancel_reason"}
    assert entries[0][3]["status"] == ["scheduled", "cancelled"]
    assert entries[0][3]["cancelled_by"] == ["None", str(manager.pk)]
    assert entries[1][3] == entries[2][3] == {"attendance": ["expected", "cancelled"]}
    assert {e.actor for e in LogEntry.objects.filter(pk__gt=mark)} == {manager}

    rows = OutboxMessage.objects.filter(appointment=group)
    assert {m.state for m in rows.filter(kind="confirmation")} == {OutboxState.ACCEPTED}
    assert not rows.filter(state=OutboxState.PLANNED).exclude(kind__startswith="cancellation_notice").exists()
    assert {m.reason for m in rows.filter(state=OutboxState.CANCELLED)} == {"The session was cancelled."}
    notices = rows.filter(kind__startswith="cancellation_notice")
    # Ann gets texts and has an e-mail address: the e-mail copy carries the calendar cancellation.
    assert {(m.participant_id, m.kind, m.channel, m.state, m.due_at) for m in notices} == {
        (ann.pk, "cancellation_notice", "sms", OutboxState.PLANNED, ny(2026, 6, 1, 9, 0)),
        (ann.pk, "cancellation_notice:email", "email", OutboxState.PLANNED, ny(2026, 6, 1, 9, 0)),
        (bob.pk, "cancellation_notice", "email", OutboxState.PLANNED, ny(2026, 6, 1, 9, 0)),
    }

    assert Meeting.objects.get(appointment=group).state == MeetingState.CANCELLED


def test_a_late_cancellation_by_the_client_is_flagged(
    clock, practice, clinician, client_ann, service_type, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            starts_at=ny(2026, 6, 1, 20, 0),
            service_type=service_type,
        )
    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=appointment, by_client=True)

    appointment.refresh_from_db()
    assert appointment.is_late_cancel is True
    assert appointment.cancelled_by_client is True


def test_a_cancellation_reads_the_session_and_its_participants_once(group):
    """The audit entries are diffed against the rows as the service read them under its lock, not
    against the same rows read again."""
    with CaptureQueriesContext(connection) as statements:
        appointment_cancel(appointment=group)

    selects = [q["sql"] for q in statements if q["sql"].startswith("SELECT")]
    assert len([q for q in selects if 'FROM "scheduling_appointment"' in q]) == 1  # the lock
    assert len([q for q in selects if 'FROM "scheduling_appointmentparticipant"' in q]) == 1


def test_the_audit_entries_of_new_rows_do_not_query_their_reverse_relations(group):
    """A row being inserted has nothing pointing at it yet: its audit entry is written without
    looking up its meeting, its replacement, its join link or its survey answer (one query each)."""
    with CaptureQueriesContext(connection) as statements:
        appointment_reschedule(appointment=group, starts_at=ny(2026, 6, 11, 14, 0))

    tables = ("telehealth_meeting", "telehealth_joinlink", "messaging_surveyresponse")
    assert [q["sql"] for q in statements if any(f'FROM "{t}"' in q["sql"] for t in tables)] == []
    assert (
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(AppointmentParticipant),
            action=LogEntry.Action.CREATE,
        ).count()
        == 4
    )  # two at booking, two for the replacement


def test_a_reschedule_whose_new_plan_fails_still_withdraws_the_old_reminders(
    group, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """Withdrawal and planning share one transaction; planning runs in a savepoint so that, as when
    each committed on its own, a failure to plan leaves the withdrawal in place (the dispatcher's
    sweep plans a session left unplanned)."""
    from messaging import services

    def broken(**_):
        OutboxMessage.objects.create(practice_id=group.practice_id, appointment=group)  # to be undone
        raise AssertionError("not reached")

    monkeypatch.setattr(services, "message_plan_for_id", broken)
    with django_capture_on_commit_callbacks(execute=True):
        new = appointment_reschedule(appointment=group, starts_at=ny(2026, 6, 11, 14, 0))

    assert not OutboxMessage.objects.filter(appointment=group, state=OutboxState.PLANNED).exists()
    assert OutboxMessage.objects.filter(
        appointment=group, reason="The session was moved to a new time."
    ).exists()
    assert not OutboxMessage.objects.filter(appointment=new).exists()
    assert "planning after a withdrawal failed" in caplog.text
