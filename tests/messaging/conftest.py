"""Fixtures for the reminder engine: in-memory channels and a booked telehealth session."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client as HttpClient

from messaging.backends import locmem
from practice.models import Client, ClientStatus, ConsentSource

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


# --- Inbound SMS (test_inbound_sms.py, test_sms_replies.py) ----------------------------------
# Texts from Ann's phone to the practices' numbers, signed with the test auth token. Not
# autouse here (that would change every messaging test's settings): a module that posts to
# the inbound hook turns the settings on with ``pytest.mark.usefixtures("twilio_settings")``.

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SITE_URL = "https://attend.example.org"
ANN_PHONE = "+12125550101"
PRACTICE_NUMBER = "+12125550199"
OTHER_PRACTICE_NUMBER = "+13105550199"


@pytest.fixture
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = ""
    settings.SITE_URL = SITE_URL


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient(enforce_csrf_checks=True)


@pytest.fixture
def numbers(practice, other_practice):
    practice.sms_from_number = PRACTICE_NUMBER
    practice.save()
    other_practice.sms_from_number = OTHER_PRACTICE_NUMBER
    other_practice.save()


@pytest.fixture
def ann(numbers, consenting_ann) -> Client:
    return consenting_ann


@pytest.fixture
def ann_elsewhere(other_practice, numbers) -> Client:
    """The same phone number is a client of the other practice too."""
    return Client.objects.create(
        practice=other_practice,
        first_name="Ann",
        last_name="Other",
        phone=ANN_PHONE,
        sms_consent_at=ny(2026, 1, 1, 9, 0),
        sms_consent_source=ConsentSource.VERBAL,
    )
