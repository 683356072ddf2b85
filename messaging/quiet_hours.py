"""Quiet hours: when texts and push notifications wait (pure functions, no database).

Two rules can make it quiet time for a client, both on the *client's* wall clock:
- the practice's quiet hours (``Sequence.quiet_start``/``quiet_end``, 21:00-08:00 by default);
- the client's own (``ClientPreferences``), set on their preference page.
A client's own setting only adds quiet time: it is quiet when either rule says so, and the quiet
spell ends when neither does (practice 21:00-08:00 and client 07:00-09:00 hold a 22:00 text until
09:00). Steps marked urgent ignore both. The dispatcher names the rule(s) on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from messaging.models import clock_in_window

PRACTICE, CLIENT = "practice", "client"


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time  # an end before the start spans midnight
    rule: str  # PRACTICE or CLIENT

    def covers(self, at: datetime, tz: ZoneInfo) -> bool:
        return clock_in_window(at.astimezone(tz).time(), self.start, self.end)

    def ends_after(self, at: datetime, tz: ZoneInfo) -> datetime:
        """The first end of this window on ``tz``'s wall clock after ``at``."""
        local = at.astimezone(tz)
        end = datetime.combine(local.date(), self.end, tzinfo=tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=tz)
        return end

    @property
    def label(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True)
class QuietSpell:
    until: datetime
    rules: tuple[str, ...]  # which rules made it quiet, practice first

    @property
    def description(self) -> str:
        """ "the practice's quiet hours", "the client's quiet hours", or both."""
        owners = {PRACTICE: "the practice's", CLIENT: "the client's"}
        return " and ".join(owners[rule] for rule in self.rules) + " quiet hours"


def window(start: time | None, end: time | None, rule: str) -> QuietWindow | None:
    if start is None or end is None or start == end:
        return None
    return QuietWindow(start=start, end=end, rule=rule)


def quiet_spell(at: datetime, tz: ZoneInfo, windows: list[QuietWindow | None]) -> QuietSpell | None:
    """If ``at`` is quiet time under any of ``windows``, when the quiet time (all of them
    together, back to back) ends and which rules it came from; else None."""
    active = [w for w in windows if w is not None]
    rules: set[str] = set()
    moment = at
    # Each hop jumps to the end of a window covering the moment; two windows need at most
    # three hops (one can end inside the other, which can end inside the first's next night).
    for _ in range(2 * len(active) + 1):
        covering = [w for w in active if w.covers(moment, tz)]
        if not covering:
            break
        rules.update(w.rule for w in covering)
        moment = max(w.ends_after(moment, tz) for w in covering)
    if not rules:
        return None
    return QuietSpell(until=moment, rules=tuple(r for r in (PRACTICE, CLIENT) if r in rules))


def _clock(value: time) -> str:
    return value.strftime("%-I:%M %p")
