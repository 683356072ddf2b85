"""A practice whose booking page is on: one bookable service, a clinician who works weekdays
09:00-17:00 with a matching profile (anxiety, Aetna, New York), and the clock at a Monday noon."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.models import WeeklyHours
from selfservice.models import Concern, MatchingProfile, OnlineBooking, Payer

NEW_YORK = ZoneInfo("America/New_York")
# Monday 2026-05-04, noon in New York.
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=NEW_YORK)


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def booking_practice(practice, service_type, clinician):
    return make_booking_practice(practice, service_type, clinician, weekdays=range(5))


def make_booking_practice(practice, service_type, clinician, *, weekdays, hours=(time(9), time(17))):
    online = OnlineBooking.objects.create(practice=practice, enabled=True)
    online.services.set([service_type])
    anxiety = Concern.objects.create(practice=practice, name="Anxiety")
    Concern.objects.create(practice=practice, name="Couples")
    aetna = Payer.objects.create(practice=practice, name="Aetna")
    Payer.objects.create(practice=practice, name="Self-pay")
    for weekday in weekdays:
        WeeklyHours.objects.create(clinician=clinician, weekday=weekday, starts_at=hours[0], ends_at=hours[1])
    profile = MatchingProfile.objects.create(
        clinician=clinician, age_groups=["adult"], states_licensed=["NY", "NJ"], accepting_new_clients=True
    )
    profile.concerns.set([anxiety])
    profile.payers.set([aetna])
    return practice
