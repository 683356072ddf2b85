"""Open slots (SPEC F4, issue 15): THE answer to "which starts can this service take with this
clinician between A and B". Every caller asks it: the staff booking form (next free times after a
clash), the API's open-slots endpoint, the client's "pick a new time" page, and later the booking
page and the waitlist.

A start is open when the slot [start, start + the service's length) lies inside the clinician's
weekly hours, outside their time off, and at least the practice's buffer away from every live
session and unexpired hold; when it is at least the notice after now (none for staff, 24 h for a
new client, 2 h for a move, by default) and before the booking horizon (60 days for clients).
The practice's numbers come from ``BookingPolicy`` (``slot_rules``).

Weekly hours are local wall-clock times, turned into instants date by date in the clinician's
zone, so a 09:00 start stays 09:00 local on both sides of a daylight-saving change, and the
night of the change has the hours it really has (00:00-06:00 is five hours in March and seven
in November in New York). The database finds what is busy in the range (three indexed queries);
the subtraction is plain interval arithmetic on at most a month of windows.

This module only reads. Whether a slot is still open when someone takes it is settled by the
booking services under the calendar lock, and in the end by the database (migrations 0002, 0012).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from practice.models import ClinicianProfile
from scheduling.models import Appointment, BookingPolicy, Hold, TimeOff, WeeklyHours

# A search covers at most this much time: one query answers it in bounded work.
MAX_RANGE = timedelta(days=31)
MIN_MINUTES, MAX_MINUTES = 5, 480


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime


class Audience(StrEnum):
    """Who is looking: staff see every open start; clients keep the practice's notice and horizon."""

    STAFF = "staff"
    NEW_CLIENT = "new_client"
    MOVE = "move"


@dataclass(frozen=True)
class SlotRules:
    buffer: timedelta = timedelta(0)
    notice: timedelta = timedelta(0)
    horizon: timedelta | None = None


# No buffer, notice or horizon: every open start.
NO_RULES = SlotRules()


def slot_rules(policy: BookingPolicy, audience: str) -> SlotRules:
    """The practice's rules for one audience. The buffer applies to everyone; notice and horizon
    keep clients from taking tomorrow-morning slots or ones a year ahead, not staff."""
    audience = Audience(audience)
    if audience is Audience.STAFF:
        return SlotRules(buffer=policy.buffer)
    hours = policy.new_client_notice_hours if audience is Audience.NEW_CLIENT else policy.move_notice_hours
    return SlotRules(
        buffer=policy.buffer, notice=timedelta(hours=hours), horizon=timedelta(days=policy.horizon_days)
    )


def local_label(when: datetime, tz: ZoneInfo) -> str:
    """``when`` on the clock of ``tz``, for people: "Tue Mar 10, 9:00 AM EDT"."""
    return when.astimezone(tz).strftime("%a %b %-d, %-I:%M %p %Z")


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
    *,
    clinician: ClinicianProfile,
    starts: datetime,
    ends: datetime,
    minutes: int,
    now: datetime,
    rules: SlotRules = NO_RULES,
    ignore_appointment_id: int | None = None,
) -> list[Slot]:
    """Bookable slots of ``minutes`` for ``clinician`` starting in [starts, ends), under ``rules``:
    each free stretch is cut into slots from its start, one every ``minutes`` + buffer, so a slot
    can begin a buffer after a session ends. ``ignore_appointment_id`` is a session about to move:
    its own time does not keep it out. The caller bounds the range (``MAX_RANGE``)."""
    if not (timedelta(0) < ends - starts <= MAX_RANGE) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValueError("The caller checks the range and the length.")
    earliest = max(starts, now + rules.notice)
    latest = min(ends, now + rules.horizon) if rules.horizon is not None else ends
    if earliest >= latest:
        return []
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
    span_start, span_end = windows[0][0] - rules.buffer, windows[-1][1] + rules.buffer
    busy = list(
        TimeOff.objects.filter(
            clinician=clinician, starts_at__lt=span_end, ends_at__gt=span_start
        ).values_list("starts_at", "ends_at")
    )
    sessions = Appointment.objects.overlapping(
        clinician_id=clinician.pk, starts_at=span_start, ends_at=span_end
    ).exclude(pk=ignore_appointment_id)
    holds = Hold.objects.overlapping(
        clinician_id=clinician.pk, starts_at=span_start, ends_at=span_end
    ).unexpired(now)
    for taken in (sessions, holds):
        busy += [
            (start - rules.buffer, end + rules.buffer)
            for start, end in taken.values_list("starts_at", "ends_at")
        ]
    step = length + rules.buffer
    slots = []
    for free_start, free_end in subtract(windows, busy):
        slot_start = free_start
        while slot_start + length <= free_end:
            if earliest <= slot_start < latest:
                slots.append(Slot(slot_start, slot_start + length))
            slot_start += step
    return slots


def upcoming_slots(
    *,
    clinician: ClinicianProfile,
    minutes: int,
    now: datetime,
    rules: SlotRules = NO_RULES,
    after: datetime | None = None,
    days: int = 5,
    limit: int | None = None,
    tz: ZoneInfo | None = None,
    ignore_appointment_id: int | None = None,
) -> list[Slot]:
    """The next open slots from ``after`` (default now): all of the first ``days`` dates (on the
    clock of ``tz``, the viewer's) that have any, at most ``limit`` slots. Searches a month at a
    time up to the horizon (60 days when the rules have none)."""
    tz = tz or clinician.zoneinfo
    start = max(after or now, now)
    stop = now + (rules.horizon if rules.horizon is not None else timedelta(days=60))
    found: list[Slot] = []
    dates: list[date] = []
    while start < stop:
        chunk_end = min(start + MAX_RANGE, stop)
        for slot in open_slots(
            clinician=clinician,
            starts=start,
            ends=chunk_end,
            minutes=minutes,
            now=now,
            rules=rules,
            ignore_appointment_id=ignore_appointment_id,
        ):
            day = slot.starts_at.astimezone(tz).date()
            if day not in dates:
                if len(dates) == days:
                    return found
                dates.append(day)
            found.append(slot)
            if limit is not None and len(found) == limit:
                return found
        start = chunk_end
    return found
