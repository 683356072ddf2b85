"""The session lifecycle after the start (SPEC F3, F9 steps 6 and 7), decided by the clock.

``appointments_sweep_lifecycle`` runs every minute from django-q2 (migration scheduling 0008) and
from ``manage.py sweep_lifecycle``, so none of it waits for someone to open a page:

1. T+5 (LATE_JOIN_AFTER), telehealth, a participant has not joined: a LATE_ARRIVAL queue item
   (the clinician's banner on the session page reads the same facts; the T+5 clinician text is the
   sequence's ``t5_clinician_prompt`` step).
2. start + the practice's ``no_show_grace_minutes``, still not joined: the participant is marked a
   no-show by the system (no ``attendance_marked_by``), a NO_SHOW queue item is raised, and the
   session becomes ``no_show`` once every participant is one. Events "no_show" (per participant)
   and "payment_due" (when a no-show fee applies) start the no-show sequence and the payment hook.
3. After the end, a session anyone attended becomes ``completed`` ("completed", and
   "payment_due" when it has a fee).

Each step is idempotent and safe with several workers at once: a row changes only through a
conditional UPDATE on the state it was read in, so of two sweeps only one wins each change (and
only the winner publishes events); marking a no-show also holds the session's row lock for its
short transaction, so the session's own status is settled from every participant's latest state
(no network call happens under it). Those UPDATEs bypass django-auditlog's signals, so the winner
writes the audit entry itself (actor: none, i.e. the system).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditlog.models import LogEntry
from django.db import transaction
from django.utils import timezone

from practice.models import Modality
from scheduling.day_facts import mark_stale
from scheduling.models import (
    ActivityChannel,
    ActivityKind,
    Appointment,
    AppointmentActivity,
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    FollowUpKind,
)
from scheduling.services import LATE_JOIN_AFTER, follow_up_raise, publish_completed, publish_no_show

logger = logging.getLogger(__name__)

LIVE_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED, AppointmentStatus.IN_PROGRESS)
SYSTEM_NO_SHOW_NOTE = "not joined by end of grace"
# A sweep that was down catches up on sessions this far back, no further (older ones are for
# staff to settle by hand; the time bound also keeps each sweep's scan small).
CATCH_UP = timedelta(days=2)


@dataclass
class LifecycleReport:
    late_flagged: int = 0
    no_shows: int = 0
    completed: int = 0


def appointments_sweep_lifecycle(*, now: datetime | None = None) -> LifecycleReport:
    """One pass over the sessions that started recently (see the module text)."""
    now = now or timezone.now()
    report = LifecycleReport()
    report.late_flagged = _flag_late_arrivals(now)
    report.no_shows = _mark_no_shows(now)
    report.completed = _complete_ended(now)
    return report


def _audit(instance, changes: dict[str, list], actor=None) -> None:
    LogEntry.objects.log_create(
        instance,
        action=LogEntry.Action.UPDATE,
        changes={field: [str(old), str(new)] for field, (old, new) in changes.items()},
        actor=actor,
    )


def _not_joined_telehealth(now: datetime):
    """Participants of live telehealth sessions that started (within CATCH_UP) who have not
    joined and whose attendance nobody has recorded."""
    return AppointmentParticipant.objects.filter(
        appointment__modality=Modality.TELEHEALTH,
        appointment__status__in=LIVE_STATUSES,
        appointment__starts_at__lte=now,
        appointment__starts_at__gte=now - CATCH_UP,
        joined_at__isnull=True,
        attendance=Attendance.EXPECTED,
    ).select_related("appointment__practice", "client")


def _grace(appointment: Appointment) -> timedelta:
    return timedelta(minutes=appointment.practice.no_show_grace_minutes)


# --- T+5: late arrival -----------------------------------------------------------------------------


def _flag_late_arrivals(now: datetime) -> int:
    candidates = _not_joined_telehealth(now).filter(
        appointment__starts_at__lte=now - LATE_JOIN_AFTER,
        appointment__ends_at__gt=now,
        late_flagged_at__isnull=True,
    )
    flagged = 0
    for participant in candidates:
        # Past the grace the no-show step takes over: a late item then would only be noise.
        if now >= participant.appointment.starts_at + _grace(participant.appointment):
            continue
        flagged += participant_flag_late(participant=participant, now=now)
    return flagged


def participant_flag_late(*, participant: AppointmentParticipant, now: datetime) -> bool:
    """Raise the LATE_ARRIVAL queue item for a participant who has not joined, once."""
    with transaction.atomic():
        won = AppointmentParticipant.objects.filter(
            pk=participant.pk, late_flagged_at__isnull=True, joined_at__isnull=True
        ).update(late_flagged_at=now)
        if not won:
            return False
        follow_up_raise(
            appointment=participant.appointment,
            participant=participant,
            kind=FollowUpKind.LATE_ARRIVAL,
            detail="Not joined 5 minutes after the start.",
        )
    return True


# --- End of grace: no-show ----------------------------------------------------------------------


def _mark_no_shows(now: datetime) -> int:
    marked = 0
    for participant in _not_joined_telehealth(now):
        if now >= participant.appointment.starts_at + _grace(participant.appointment):
            marked += participant_mark_no_show_by_system(participant=participant, now=now)
    return marked


def participant_mark_no_show_by_system(*, participant: AppointmentParticipant, now: datetime) -> bool:
    """Mark a participant who never joined a no-show (SPEC F9 step 7). False if someone else (a
    join, staff, another sweep) got there first."""
    appointment = participant.appointment
    with transaction.atomic():
        # The session's row lock orders this with a concurrent join and with another sweep marking
        # another participant of the same group: without it, on PostgreSQL each of two sweeps
        # could see only its own participant as a no-show and neither would settle the session.
        Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
        won = AppointmentParticipant.objects.filter(
            pk=participant.pk, attendance=Attendance.EXPECTED, joined_at__isnull=True
        ).update(
            attendance=Attendance.NO_SHOW,
            attendance_marked_at=now,
            attendance_marked_by=None,
            attendance_note=SYSTEM_NO_SHOW_NOTE,
        )
        if not won:
            return False
        _audit(
            participant,
            {
                "attendance": (Attendance.EXPECTED, Attendance.NO_SHOW),
                "attendance_note": ("", SYSTEM_NO_SHOW_NOTE),
            },
        )
        grace = appointment.practice.no_show_grace_minutes
        AppointmentActivity.objects.create(
            practice_id=appointment.practice_id,
            appointment=appointment,
            participant=participant,
            kind=ActivityKind.NO_SHOW_MARKED,
            channel=ActivityChannel.SYSTEM,
            detail=f"Not joined by the end of the {grace}-minute grace period.",
            at=now,
        )
        follow_up_raise(
            appointment=appointment,
            participant=participant,
            kind=FollowUpKind.NO_SHOW,
            detail=f"Not joined by the end of the {grace}-minute grace period.",
        )
        _settle_no_show_status(appointment, now)
        mark_stale(appointment.practice_id, [appointment.starts_at])  # an update(): no save signal
        participant.attendance = Attendance.NO_SHOW
        publish_no_show(participant)
    logger.info(
        "Participant %s of appointment %s marked no-show by the system", participant.pk, appointment.pk
    )
    return True


def _settle_no_show_status(appointment: Appointment, now: datetime) -> None:
    """The session is a no-show once every participant is (a client who cancelled their place in
    a group does not count)."""
    attendances = list(
        AppointmentParticipant.objects.filter(appointment=appointment).values_list("attendance", flat=True)
    )
    counted = [a for a in attendances if a != Attendance.CANCELLED]
    if not counted or any(a != Attendance.NO_SHOW for a in counted):
        return
    old = Appointment.objects.filter(pk=appointment.pk).values_list("status", flat=True).first()
    won = Appointment.objects.filter(pk=appointment.pk, status__in=LIVE_STATUSES).update(
        status=AppointmentStatus.NO_SHOW, updated_at=now
    )
    if won:
        appointment.status = AppointmentStatus.NO_SHOW
        _audit(appointment, {"status": (old, AppointmentStatus.NO_SHOW)})


# --- After the end: completed ----------------------------------------------------------------------


def _complete_ended(now: datetime) -> int:
    ended = (
        Appointment.objects.filter(
            status__in=LIVE_STATUSES,
            ends_at__lte=now,
            ends_at__gte=now - CATCH_UP,
            participants__attendance__in=(Attendance.ATTENDED, Attendance.LATE),
        )
        .distinct()
        .select_related("practice", "clinician")
    )
    return sum(appointment_complete(appointment=appointment, now=now) for appointment in ended)


def appointment_complete(*, appointment: Appointment, now: datetime) -> bool:
    """An ended session that someone attended is completed (and billable if it has a fee)."""
    with transaction.atomic():
        old = appointment.status
        won = Appointment.objects.filter(
            pk=appointment.pk, status__in=LIVE_STATUSES, ends_at__lte=now
        ).update(status=AppointmentStatus.COMPLETED, updated_at=now)
        if not won:
            return False
        appointment.status = AppointmentStatus.COMPLETED
        mark_stale(appointment.practice_id, [appointment.starts_at])  # an update(): no save signal
        _audit(appointment, {"status": (old, AppointmentStatus.COMPLETED)})
        publish_completed(appointment)
    return True
