"""Open-slot search (SPEC F4): a clinician's weekly hours, minus time off, minus booked sessions.

Weekly hours are local wall-clock times, turned into instants date by date in the clinician's
zone, so a 09:00 start stays 09:00 local on both sides of a daylight-saving change, and the
night of the change has the hours it really has (00:00-06:00 is five hours in March and seven
in November in New York). The database finds what is busy in the range (two indexed queries);
the subtraction is plain interval arithmetic on at most a month of windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from practice.models import ClinicianProfile
from scheduling.models import Appointment, TimeOff, WeeklyHours

# A search covers at most this much time: one query answers it in bounded work.
MAX_RANGE = timedelta(days=31)
MIN_MINUTES, MAX_MINUTES = 5, 480


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant a wall clock in ``tz`` shows ``wall`` on ``day`` (UTC).

    Ambiguous times (the repeated hour in autumn) are read as their first occurrence; times that
    do not exist (the skipped hour in spring) as the same time on the clock after the change
    (02:30 becomes 03:30), which is what zoneinfo does for ``fold=0``."""
    return datetime.combine(day, wall, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def working_windows(
    *, hours: list[WeeklyHours], tz: ZoneInfo, starts: datetime, ends: datetime
) -> list[tuple[datetime, datetime]]:
    """The clinician's working time on the local dates from ``starts`` to ``ends``, as UTC
    intervals in order, cut off at ``ends`` but not at ``starts``: slots stay aligned to the
    start of the working day whatever time a search begins at."""
    by_weekday: dict[int, list[WeeklyHours]] = {}
    for row in hours:
        by_weekday.setdefault(row.weekday, []).append(row)
    windows = []
    day = starts.astimezone(tz).date()
    last_day = ends.astimezone(tz).date()
    while day <= last_day:
        for row in by_weekday.get(day.weekday(), []):
            window_start = local_instant(day, row.starts_at, tz)
            window_end = min(local_instant(day, row.ends_at, tz), ends)
            if window_start < window_end:
                windows.append((window_start, window_end))
        day += timedelta(days=1)
    return merge(sorted(windows))


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted intervals with overlapping or touching ones joined."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(
    windows: list[tuple[datetime, datetime]], busy: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """``windows`` without the parts covered by ``busy`` (both sorted)."""
    free = []
    busy = merge(sorted(busy))
    for start, end in windows:
        cursor = start
        for busy_start, busy_end in busy:
            if busy_end <= cursor or busy_start >= end:
                continue
            if busy_start > cursor:
                free.append((cursor, busy_start))
            cursor = max(cursor, busy_end)
            if cursor >= end:
                break
        if cursor < end:
            free.append((cursor, end))
    return free


def open_slots(
    *, clinician: ClinicianProfile, starts: datetime, ends: datetime, minutes: int, now: datetime
) -> list[Slot]:
    """Bookable slots of ``minutes`` for ``clinician`` starting in [starts, ends), not before
    ``now``: each free stretch is cut into back-to-back slots from its start, so a slot can
    begin right where a booked session ends. The caller bounds the range (``MAX_RANGE``)."""
    if not (timedelta(0) < ends - starts <= MAX_RANGE) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValueError("The caller checks the range and the length.")
    length = timedelta(minutes=minutes)
    windows = working_windows(
        hours=list(WeeklyHours.objects.filter(clinician=clinician)),
        tz=clinician.zoneinfo,
        starts=starts,
        # A slot starting just before ``ends`` may run past it.
        ends=ends + length,
    )
    if not windows:
        return []
    span_start, span_end = windows[0][0], windows[-1][1]
    busy = list(
        TimeOff.objects.filter(
            clinician=clinician, starts_at__lt=span_end, ends_at__gt=span_start
        ).values_list("starts_at", "ends_at")
    )
    busy += list(
        Appointment.objects.overlapping(
            clinician_id=clinician.pk, starts_at=span_start, ends_at=span_end
        ).values_list("starts_at", "ends_at")
    )
    slots = []
    for free_start, free_end in subtract(windows, busy):
        slot_start = free_start
        while slot_start + length <= free_end:
            if slot_start >= max(starts, now) and slot_start < ends:
                slots.append(Slot(slot_start, slot_start + length))
            slot_start += length
    return slots
