"""The waitlist's rules as pure functions (no database): band aging, ranking, wave sizing by
lead time, per-client limits, and the hold clock that stops during the client's quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from messaging.quiet_hours import QuietWindow, quiet_spell

BANDS = ["urgent", "soon", "routine"]  # best first


def effective_band(band: str, *, waiting: timedelta, aging_days: int = 21) -> str:
    """An entry that has waited ``aging_days`` moves up one band (once: routine becomes soon,
    soon becomes urgent; urgent stays)."""
    index = BANDS.index(band)
    if waiting >= timedelta(days=aging_days) and index > 0:
        index -= 1
    return BANDS[index]


@dataclass(frozen=True)
class Candidate:
    """What ranking needs to know about one entry for one slot."""

    entry_id: int
    band: str  # already aged (effective_band)
    same_clinician: bool  # the slot's clinician is the one of their current or last session
    days_gained: float  # how much earlier than their current session (0 without one)
    waiting_since: datetime


def rank_key(candidate: Candidate) -> tuple:
    return (
        BANDS.index(candidate.band),
        not candidate.same_clinician,
        -candidate.days_gained,
        candidate.waiting_since,
        candidate.entry_id,
    )


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Priority band, then the same clinician as their current or last session, then days gained
    versus their current session, then longest waiting (then the older entry, for a stable order)."""
    return sorted(candidates, key=rank_key)


@dataclass(frozen=True)
class Wave:
    size: int
    hold: timedelta


def wave_for(lead: timedelta, settings) -> Wave | None:
    """How many clients at once and for how long, by the time left before the slot starts:
    >= 72 h one client for 120 min; 24-72 h two for 60; 4-24 h three for 15; from the minimum lead
    (2 h) to 4 h the top five for 10; sooner: nothing. ``settings`` is a WaitlistSettings."""
    if lead >= timedelta(hours=72):
        return Wave(settings.wave_size_72h, timedelta(minutes=settings.hold_minutes_72h))
    if lead >= timedelta(hours=24):
        return Wave(settings.wave_size_24h, timedelta(minutes=settings.hold_minutes_24h))
    if lead >= timedelta(hours=4):
        return Wave(settings.wave_size_4h, timedelta(minutes=settings.hold_minutes_4h))
    if lead >= timedelta(minutes=settings.min_lead_minutes):
        return Wave(settings.wave_size_2h, timedelta(minutes=settings.hold_minutes_2h))
    return None


def may_receive_offer(*, live_offers: int, offers_today: int, per_day: int = 2) -> bool:
    """At most one live offer per client, and ``per_day`` offers a day (on their clock)."""
    return live_offers == 0 and offers_today < per_day


def should_pause(expired_in_a_row: int, limit: int = 3) -> bool:
    """Three offers in a row left to expire pause the entry (and ask once whether it still stands)."""
    return expired_in_a_row >= limit


def offer_expiry(
    *, sent_at: datetime, hold: timedelta, tz: ZoneInfo, windows: list[QuietWindow | None], cap: datetime
) -> datetime:
    """When an offer sent at ``sent_at`` expires: ``hold`` of the client's waking time. The clock
    stops during their quiet hours (the practice's or their own, on their clock) and resumes when
    those end; never later than ``cap`` (the slot must still be worth offering on)."""
    left = hold
    moment = sent_at
    for _ in range(10):  # a hold spans a few nights at most
        spell_start = _next_quiet_start(moment, moment + left, tz, windows)
        if spell_start is None:
            return min(moment + left, cap)
        left -= spell_start - moment
        spell = quiet_spell(spell_start, tz, windows)
        moment = spell.until if spell is not None else spell_start
        if moment >= cap:
            return cap
    return min(moment + left, cap)


def _next_quiet_start(start: datetime, end: datetime, tz: ZoneInfo, windows) -> datetime | None:
    """The first minute in (start, end] that is quiet time, or None. Minute steps: a hold is at
    most a few hours of waking time, so this is at most a few hundred checks."""
    if quiet_spell(start, tz, windows) is not None:
        return start
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < end:
        if quiet_spell(moment, tz, windows) is not None:
            return moment
        moment += timedelta(minutes=1)
    return None
