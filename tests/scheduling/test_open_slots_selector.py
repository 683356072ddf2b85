"""The open-slot selector (issue 15 item 1) against hand-built calendars: weekly hours, time off,
sessions, holds, the buffer, notice and horizon; across DST in New York and in Phoenix (no DST)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.availability import NO_RULES, Audience, SlotRules, open_slots, slot_rules, upcoming_slots
from scheduling.models import Appointment, BookingPolicy, Hold, HoldKind, TimeOff, WeeklyHours

NEW_YORK = ZoneInfo("America/New_York")
PHOENIX = ZoneInfo("America/Phoenix")
UTC = ZoneInfo("UTC")
MONDAY, SUNDAY = 0, 6
# Monday 2026-02-02, well before any clock change; "now" is the Friday before.
MONDAY_9AM = datetime(2026, 2, 2, 9, 0, tzinfo=NEW_YORK)
FRIDAY = datetime(2026, 1, 30, 12, 0, tzinfo=NEW_YORK)


def _hours(clinician, weekday=MONDAY, start=time(9), end=time(12)):
    WeeklyHours.objects.create(clinician=clinician, weekday=weekday, starts_at=start, ends_at=end)


def _session(practice, clinician, service_type, starts_at, minutes=45, **extra):
    return Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        **extra,
    )


def _hold(practice, clinician, starts_at, expires_at, minutes=45):
    return Hold.objects.create(
        practice=practice,
        clinician=clinician,
        kind=HoldKind.BOOKING_REQUEST,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        expires_at=expires_at,
    )


def _starts(clinician, day_start, *, minutes=45, now=FRIDAY, rules=NO_RULES, tz=NEW_YORK, **extra):
    found = open_slots(
        clinician=clinician,
        starts=day_start,
        ends=day_start + timedelta(days=1),
        minutes=minutes,
        now=now,
        rules=rules,
        **extra,
    )
    return [slot.starts_at.astimezone(tz).strftime("%H:%M") for slot in found]


@pytest.mark.django_db
def test_a_buffer_keeps_time_free_around_sessions(practice, clinician, service_type):
    _hours(clinician)
    _session(practice, clinician, service_type, MONDAY_9AM + timedelta(hours=1))

    assert _starts(clinician, MONDAY_9AM) == ["09:00", "10:45"]
    assert _starts(clinician, MONDAY_9AM, rules=SlotRules(buffer=timedelta(minutes=10))) == ["09:00", "10:55"]


@pytest.mark.django_db
def test_the_practice_buffer_comes_from_its_policy_and_defaults_to_none(practice):
    assert slot_rules(BookingPolicy.for_practice(practice), Audience.STAFF) == SlotRules()
    BookingPolicy.objects.create(practice=practice, buffer_minutes=10)

    rules = slot_rules(BookingPolicy.for_practice(practice), Audience.NEW_CLIENT)
    assert rules == SlotRules(
        buffer=timedelta(minutes=10), notice=timedelta(hours=24), horizon=timedelta(days=60)
    )
    assert slot_rules(BookingPolicy.for_practice(practice), Audience.MOVE).notice == timedelta(hours=2)


@pytest.mark.django_db
def test_time_off_cuts_the_day(clinician):
    _hours(clinician)
    TimeOff.objects.create(
        clinician=clinician,
        starts_at=MONDAY_9AM + timedelta(hours=1),
        ends_at=MONDAY_9AM + timedelta(hours=3),
    )

    assert _starts(clinician, MONDAY_9AM, minutes=30) == ["09:00", "09:30"]


@pytest.mark.django_db
def test_an_unexpired_hold_is_busy_and_an_expired_one_is_not(practice, clinician):
    _hours(clinician, end=time(10, 30))
    _hold(practice, clinician, MONDAY_9AM, expires_at=FRIDAY + timedelta(hours=1))

    assert _starts(clinician, MONDAY_9AM) == ["09:45"]
    assert _starts(clinician, MONDAY_9AM, now=FRIDAY + timedelta(hours=1)) == ["09:00", "09:45"]


@pytest.mark.django_db
def test_a_session_about_to_move_does_not_keep_itself_out(practice, clinician, service_type):
    _hours(clinician, end=time(10))
    moving = _session(practice, clinician, service_type, MONDAY_9AM)

    assert _starts(clinician, MONDAY_9AM, minutes=30) == []
    assert _starts(clinician, MONDAY_9AM, minutes=30, ignore_appointment_id=moving.pk) == ["09:00", "09:30"]


@pytest.mark.django_db
def test_notice_hides_starts_too_soon(clinician):
    _hours(clinician)
    sunday_night = datetime(2026, 2, 1, 22, 0, tzinfo=NEW_YORK)

    two_hours = SlotRules(notice=timedelta(hours=2))
    day = SlotRules(notice=timedelta(hours=24))
    assert _starts(clinician, MONDAY_9AM, now=sunday_night, rules=two_hours) == [
        "09:00",
        "09:45",
        "10:30",
        "11:15",
    ]
    assert _starts(clinician, MONDAY_9AM, now=sunday_night, rules=day) == []
    # At 8:00 on the Monday, two hours' notice leaves the starts from 10:00 on.
    assert _starts(clinician, MONDAY_9AM, now=MONDAY_9AM - timedelta(hours=1), rules=two_hours) == [
        "10:30",
        "11:15",
    ]


@pytest.mark.django_db
def test_the_horizon_ends_the_search(clinician):
    _hours(clinician)
    rules = SlotRules(horizon=timedelta(days=60))
    now = MONDAY_9AM - timedelta(days=60) + timedelta(minutes=30)  # the horizon ends at 9:30

    assert _starts(clinician, MONDAY_9AM, now=now, rules=rules) == ["09:00"]
    assert _starts(clinician, MONDAY_9AM, now=now - timedelta(days=1), rules=rules) == []


@pytest.mark.django_db
def test_nine_am_stays_nine_am_across_the_spring_forward_night(clinician):
    _hours(clinician, end=time(10))
    before = datetime(2026, 3, 2, 0, 0, tzinfo=NEW_YORK)
    after = datetime(2026, 3, 9, 0, 0, tzinfo=NEW_YORK)

    utc = [
        [
            s.starts_at.astimezone(UTC).strftime("%H:%M")
            for s in open_slots(
                clinician=clinician, starts=day, ends=day + timedelta(days=1), minutes=60, now=FRIDAY
            )
        ]
        for day in (before, after)
    ]
    assert utc == [["14:00"], ["13:00"]]


@pytest.mark.django_db
def test_the_fall_back_night_offers_the_repeated_hour_twice(practice, clinician, service_type):
    _hours(clinician, weekday=SUNDAY, start=time(0), end=time(3))
    night = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)

    found = open_slots(
        clinician=clinician, starts=night, ends=night + timedelta(hours=12), minutes=60, now=FRIDAY
    )

    # 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST: four hours of work in three on the clock.
    assert [s.starts_at.astimezone(UTC).strftime("%H:%M") for s in found] == [
        "04:00",
        "05:00",
        "06:00",
        "07:00",
    ]
    assert [s.starts_at.astimezone(NEW_YORK).strftime("%H:%M %Z") for s in found] == [
        "00:00 EDT",
        "01:00 EDT",
        "01:00 EST",
        "02:00 EST",
    ]


@pytest.mark.django_db
def test_a_zone_without_dst_keeps_its_utc_times_when_new_york_changes(clinician):
    clinician.timezone = "America/Phoenix"
    clinician.save()
    _hours(clinician, end=time(10))

    utc = [
        [
            s.starts_at.astimezone(UTC).strftime("%H:%M")
            for s in open_slots(
                clinician=clinician, starts=day, ends=day + timedelta(days=1), minutes=60, now=FRIDAY
            )
        ]
        for day in (datetime(2026, 3, 2, tzinfo=PHOENIX), datetime(2026, 3, 9, tzinfo=PHOENIX))
    ]
    assert utc == [["16:00"], ["16:00"]]


@pytest.mark.django_db
def test_upcoming_slots_gives_the_next_days_that_have_any(clinician):
    _hours(clinician, end=time(10))  # Mondays only

    found = upcoming_slots(clinician=clinician, minutes=60, now=FRIDAY, days=3)

    assert [s.starts_at.astimezone(NEW_YORK).strftime("%b %-d %H:%M") for s in found] == [
        "Feb 2 09:00",
        "Feb 9 09:00",
        "Feb 16 09:00",
    ]


# --- Callers ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clash_in_the_booking_form_offers_the_next_free_times(
    signed_in, manager, practice, clinician, client_ann, client_bob, service_type
):
    _hours(clinician)
    with time_machine.travel(FRIDAY, tick=False):
        browser = signed_in(manager)
        _session(practice, clinician, service_type, MONDAY_9AM)
        refused = browser.post(
            "/appointments/new/",
            {
                "clinician": clinician.pk,
                "clients": [client_bob.pk],
                "service_type": service_type.pk,
                "date": "2026-02-02",
                "start_time": "09:15",
                "modality": "telehealth",
            },
        )

    page = refused.content.decode()
    assert "already has a session at this time" in page
    assert "next free times: Mon Feb 2, 9:45 AM EST; Mon Feb 2, 10:30 AM EST; Mon Feb 2, 11:15 AM EST" in page
