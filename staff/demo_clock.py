"""The demo's clock (SPEC F26): the demo is placed in Lakeside's business hours, whatever the
time of day ``make demo`` runs, by moving the clock rather than the sessions.

``seed_demo`` builds the day around ``demo_clock_for(now)``: the real time when that falls in the
middle of Lakeside's working day, else the next 13:30 in Lakeside's zone (never earlier than the
real time, so cookies and links made by the demo never expire before they are used). ``rundemo``
recomputes the same offset from when the demo was built and hands it to the web server and the
worker in ATTEND_DEMO_CLOCK_OFFSET; they run on a clock that is that many seconds ahead
(time-machine, a development dependency, so only the demo ever moves the clock). Nothing is
stored: the offset follows from the demo practice's creation time.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

CLOCK_ENV = "ATTEND_DEMO_CLOCK_OFFSET"
DEMO_ZONE = ZoneInfo("America/New_York")  # Lakeside's
# The demo's sessions run from 5 hours before its "now" to 4 h 50 min after (staff/demo.py):
# with "now" between 13:00 and 14:00 they all fall inside business hours 08:00-19:00.
EARLIEST = time(13, 0)
LATEST = time(14, 0)
MOVED_TO = time(13, 30)


def demo_clock_for(real_now: datetime) -> datetime:
    """The demo's "now" for a demo built at ``real_now``: ``real_now`` itself, or later."""
    local = real_now.astimezone(DEMO_ZONE)
    if EARLIEST <= local.time() < LATEST:
        return real_now
    day = local.date() if local.time() < EARLIEST else local.date() + timedelta(days=1)
    return datetime.combine(day, MOVED_TO, tzinfo=DEMO_ZONE)


def start_from_environment() -> timedelta | None:
    """In the demo's web server and worker: run on the moved clock. Returns the offset."""
    raw = os.environ.get(CLOCK_ENV, "")
    if not raw:
        return None
    offset = timedelta(seconds=float(raw))
    if offset <= timedelta(0):
        return None
    import time_machine  # development dependency: only the demo moves the clock
    from django.utils import timezone

    time_machine.travel(timezone.now() + offset, tick=True).start()
    return offset


def moved(offset: timedelta):
    """A context manager running the block on the demo's clock (for rundemo's own first sweep)."""
    import contextlib

    if offset <= timedelta(0):
        return contextlib.nullcontext()
    import time_machine
    from django.utils import timezone

    return time_machine.travel(timezone.now() + offset, tick=True)
