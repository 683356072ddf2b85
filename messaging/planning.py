"""When is a step due, and does it apply? Pure functions of the appointment and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from messaging.models import Anchor, Condition, Step
from practice.models import Modality
from scheduling.models import Appointment

MINUTES_PER_DAY = 24 * 60
# A step due at or after the start may still go out this long after its time (a dispatcher that
# was down for a moment); after that it is skipped as too late rather than sent out of context.
LATE_SEND_GRACE = timedelta(minutes=30)


def shift_on_wall_clock(moment: datetime, offset_minutes: int, tz: ZoneInfo) -> datetime:
    """``moment`` moved by ``offset_minutes`` as the recipient experiences it: whole days move
    on the local wall clock (T-24h before a 10:00 session is 10:00 the day before, even across a
    daylight-saving change), the remaining minutes are elapsed time."""
    sign = -1 if offset_minutes < 0 else 1
    days, minutes = divmod(abs(offset_minutes), MINUTES_PER_DAY)
    local_wall = moment.astimezone(tz).replace(tzinfo=None) + sign * timedelta(days=days)
    # A wall time inside a spring-forward gap is read with fold=0 and normalised through UTC,
    # which moves it forward by the gap, as clocks do.
    shifted = local_wall.replace(tzinfo=tz).astimezone(UTC)
    return shifted + sign * timedelta(minutes=minutes)


def anchor_time(step: Step, appointment: Appointment, booked_at: datetime) -> datetime:
    if step.anchor == Anchor.BOOKING:
        return booked_at
    if step.anchor == Anchor.END:
        return appointment.ends_at
    return appointment.starts_at


def due_time(step: Step, appointment: Appointment, *, booked_at: datetime, tz: ZoneInfo) -> datetime:
    return shift_on_wall_clock(anchor_time(step, appointment, booked_at), step.offset_minutes, tz)


def applies_to_session(step: Step, appointment: Appointment) -> bool:
    """The conditions about the kind of session, which cannot change without a reschedule."""
    conditions = set(step.conditions or ())
    if Condition.TELEHEALTH_ONLY in conditions and appointment.modality != Modality.TELEHEALTH:
        return False
    return not (Condition.IN_PERSON_ONLY in conditions and appointment.modality != Modality.IN_PERSON)


def send_deadline(*, due_at: datetime, appointment: Appointment, step: Step | None = None) -> datetime:
    """The last moment a message still makes sense: reminders before the session (and the
    booking confirmation) never go out once it has started; later steps only shortly after
    their time."""
    if due_at < appointment.starts_at or (step is not None and step.anchor == Anchor.BOOKING):
        return appointment.starts_at
    return due_at + LATE_SEND_GRACE


def retry_delay(attempts: int) -> timedelta:
    """Back-off after a transient failure: 30 s, 1, 2, 4 min, … capped at 15 min."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=15))
