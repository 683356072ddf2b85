"""When may a participant join? Pure functions of the appointment and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from scheduling.models import Appointment, AppointmentStatus


class JoinState(StrEnum):
    OPEN = "open"
    TOO_EARLY = "too_early"
    ENDED = "ended"
    CANCELLED = "cancelled"
    MOVED = "moved"  # rescheduled: the link leads to the replacement session


@dataclass(frozen=True)
class JoinWindow:
    opens_at: datetime
    closes_at: datetime


def join_window(appointment: Appointment) -> JoinWindow:
    opens = appointment.starts_at - timedelta(minutes=appointment.practice.join_opens_minutes_before)
    return JoinWindow(opens_at=opens, closes_at=appointment.ends_at)


def join_state(appointment: Appointment, now: datetime) -> JoinState:
    if appointment.status == AppointmentStatus.RESCHEDULED:
        return JoinState.MOVED
    if appointment.status == AppointmentStatus.CANCELLED:
        return JoinState.CANCELLED
    window = join_window(appointment)
    if now < window.opens_at:
        return JoinState.TOO_EARLY
    if now >= window.closes_at or appointment.status in (AppointmentStatus.COMPLETED,):
        return JoinState.ENDED
    return JoinState.OPEN


def retry_delay(attempts: int) -> timedelta:
    """Back-off before the next attempt to create a meeting: 30 s, 1, 2, 4, 8 min, then 10."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=10))
