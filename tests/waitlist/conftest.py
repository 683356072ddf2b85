"""A practice with a waitlist: one clinician working weekdays 09:00-17:00 New York, texts kept
in the locmem SMS outbox, e-mail in Django's, and the clock at Monday 2026-05-04 noon."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from messaging.backends import locmem
from practice.models import Client
from scheduling.models import WeeklyHours
from scheduling.services import appointment_book

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def _backends(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    settings.EMAIL_CHANNEL_BACKEND = "messaging.backends.email.DjangoEmailBackend"
    settings.SITE_URL = "https://attend.test"
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def hours(clinician):
    for weekday in range(5):
        WeeklyHours.objects.create(clinician=clinician, weekday=weekday, starts_at=time(9), ends_at=time(17))
    return clinician


_counter = iter(range(1000))


@pytest.fixture
def make_client(practice):
    def make(name: str, *, texts: bool = True) -> Client:
        n = next(_counter)
        return Client.objects.create(
            practice=practice,
            first_name=name,
            last_name="Waiting",
            phone=f"+1212555{n:04d}",
            email=f"{name.lower()}{n}@example.test",
            sms_consent_at=NOW - timedelta(days=30) if texts else None,
        )

    return make


@pytest.fixture
def book(practice, hours, service_type):
    def book_at(client: Client, starts_at: datetime, clinician=None):
        return appointment_book(
            practice=practice,
            clinician=clinician or hours,
            clients=[client],
            starts_at=starts_at,
            service_type=service_type,
            now=NOW,
        )

    return book_at
