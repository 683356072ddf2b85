"""Ranking, wave sizing, limits and the hold clock: pure functions, no database."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from messaging.content import MAX_SMS_SEGMENTS, SAMPLE_CONTEXT, render, sms_segments, template_errors
from messaging.quiet_hours import PRACTICE, window
from waitlist import policy
from waitlist.policy import Candidate, Wave
from waitlist.services import OFFER_EMAIL, OFFER_SMS, STILL_WANTED, offer_sms

NEW_YORK = ZoneInfo("America/New_York")
DEFAULTS = SimpleNamespace(
    min_lead_minutes=120,
    wave_size_72h=1,
    hold_minutes_72h=120,
    wave_size_24h=2,
    hold_minutes_24h=60,
    wave_size_4h=3,
    hold_minutes_4h=15,
    wave_size_2h=5,
    hold_minutes_2h=10,
)
T0 = datetime(2026, 5, 1, 9, tzinfo=NEW_YORK)


def candidate(entry_id, band="routine", same=False, gained=0.0, since=T0):
    return Candidate(
        entry_id=entry_id, band=band, same_clinician=same, days_gained=gained, waiting_since=since
    )


def test_it_ranks_by_band_then_same_clinician_then_days_gained_then_longest_waiting():
    ranked = policy.rank(
        [
            candidate(1, "routine", since=T0 - timedelta(days=5)),
            candidate(2, "routine", same=True),
            candidate(3, "soon"),
            candidate(4, "routine", same=True, gained=9),
            candidate(5, "urgent", since=T0),
            candidate(6, "routine", since=T0 - timedelta(days=9)),
        ]
    )
    assert [c.entry_id for c in ranked] == [5, 3, 4, 2, 6, 1]


@pytest.mark.parametrize(
    ("band", "days", "expected"),
    [("routine", 20, "routine"), ("routine", 21, "soon"), ("soon", 30, "urgent"), ("urgent", 60, "urgent")],
)
def test_an_entry_waiting_21_days_moves_up_one_band(band, days, expected):
    assert policy.effective_band(band, waiting=timedelta(days=days), aging_days=21) == expected


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        (timedelta(hours=100), Wave(1, timedelta(minutes=120))),
        (timedelta(hours=72), Wave(1, timedelta(minutes=120))),
        (timedelta(hours=71, minutes=59), Wave(2, timedelta(minutes=60))),
        (timedelta(hours=24), Wave(2, timedelta(minutes=60))),
        (timedelta(hours=23), Wave(3, timedelta(minutes=15))),
        (timedelta(hours=4), Wave(3, timedelta(minutes=15))),
        (timedelta(hours=3), Wave(5, timedelta(minutes=10))),
        (timedelta(hours=2), Wave(5, timedelta(minutes=10))),
        (timedelta(hours=1, minutes=59), None),
    ],
)
def test_waves_are_sized_by_lead_time(lead, expected):
    assert policy.wave_for(lead, DEFAULTS) == expected


def test_a_client_gets_one_live_offer_and_two_a_day():
    assert policy.may_receive_offer(live_offers=0, offers_today=1)
    assert not policy.may_receive_offer(live_offers=1, offers_today=0)
    assert not policy.may_receive_offer(live_offers=0, offers_today=2)


def test_three_expired_in_a_row_pause_the_entry():
    assert not policy.should_pause(2)
    assert policy.should_pause(3)


PRACTICE_QUIET = [window(time(21), time(8), PRACTICE)]


def test_the_hold_clock_runs_without_quiet_hours():
    sent = datetime(2026, 5, 4, 12, tzinfo=NEW_YORK)
    expiry = policy.offer_expiry(
        sent_at=sent,
        hold=timedelta(minutes=120),
        tz=NEW_YORK,
        windows=PRACTICE_QUIET,
        cap=sent + timedelta(days=3),
    )
    assert expiry == sent + timedelta(minutes=120)


def test_the_hold_clock_stops_during_quiet_hours_and_resumes_after():
    sent = datetime(2026, 5, 4, 20, 30, tzinfo=NEW_YORK)
    expiry = policy.offer_expiry(
        sent_at=sent,
        hold=timedelta(minutes=120),
        tz=NEW_YORK,
        windows=PRACTICE_QUIET,
        cap=sent + timedelta(days=3),
    )
    # 30 minutes before 21:00, the other 90 after 08:00.
    assert expiry == datetime(2026, 5, 5, 9, 30, tzinfo=NEW_YORK)


def test_the_hold_clock_across_the_autumn_dst_night_counts_waking_minutes():
    sent = datetime(2026, 10, 31, 20, 0, tzinfo=NEW_YORK)
    expiry = policy.offer_expiry(
        sent_at=sent,
        hold=timedelta(minutes=120),
        tz=NEW_YORK,
        windows=PRACTICE_QUIET,
        cap=sent + timedelta(days=3),
    )
    # 60 minutes before 21:00 EDT, 60 after 08:00 EST: the night is an hour longer, not the hold.
    assert expiry == datetime(2026, 11, 1, 9, 0, tzinfo=NEW_YORK)
    assert expiry.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5)


def test_the_hold_never_runs_past_the_cap():
    sent = datetime(2026, 5, 4, 20, 30, tzinfo=NEW_YORK)
    cap = datetime(2026, 5, 5, 8, 30, tzinfo=NEW_YORK)
    assert (
        policy.offer_expiry(
            sent_at=sent, hold=timedelta(minutes=120), tz=NEW_YORK, windows=PRACTICE_QUIET, cap=cap
        )
        == cap
    )


def test_the_offer_texts_pass_the_content_check_and_fit_two_segments():
    for template in (OFFER_SMS, OFFER_EMAIL, STILL_WANTED):
        assert template_errors(template) == []
    link = "https://attend.example.org/o/" + "x" * 32
    for text in (offer_sms(SAMPLE_CONTEXT, "Wed 10:45 PM", link), render(STILL_WANTED, SAMPLE_CONTEXT)):
        encoding, segments = sms_segments(text)
        assert (encoding, segments <= MAX_SMS_SEGMENTS) == ("GSM-7", True), text
