"""Fixtures for the reminder engine: in-memory channels and a booked telehealth session."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from messaging.backends import locmem
from practice.models import ClientStatus

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def in_memory_channels(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://attend.example.org"
    locmem.outbox.clear()
    mail.outbox = []
    yield
    locmem.outbox.clear()


@pytest.fixture
def consenting_ann(client_ann):
    """Ann can get texts: a mobile number and recorded consent."""
    client_ann.sms_consent_at = client_ann.created_at
    client_ann.sms_consent_source = "intake_form"
    client_ann.status = ClientStatus.ACTIVE
    client_ann.save()
    return client_ann


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)
