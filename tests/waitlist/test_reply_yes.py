"""Replying YES to an offer text accepts it (through messaging.inbound_hooks); a YES with no
texted offer is the ordinary opt-in."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from twilio.request_validator import RequestValidator

from scheduling.models import Appointment
from scheduling.services import appointment_cancel
from waitlist.models import EntryStatus, Offer, OfferStatus
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PRACTICE_NUMBER = "+12125550199"
HOOK = "/hooks/twilio/inbound/"


@pytest.fixture(autouse=True)
def _twilio(settings, practice):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = ""
    practice.sms_from_number = PRACTICE_NUMBER
    practice.save(update_fields=["sms_from_number"])


def text_us(body: str, sender: str) -> list[str]:
    params = {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": "SM" + secrets.token_hex(16),
        "From": sender,
        "To": PRACTICE_NUMBER,
        "Body": body,
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(settings.SITE_URL + HOOK, params)
    response = HttpClient().post(
        HOOK,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200
    return [element.text or "" for element in ElementTree.fromstring(response.content).iter("Message")]


def test_replying_yes_to_the_offer_text_books_the_slot(practice, service_type, make_client, book, clock):
    ann = make_client("Ann")
    waitlist_entry_create(
        practice=practice, client=ann, service_type=service_type, now=NOW - timedelta(days=1)
    )
    appointment_cancel(
        appointment=book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)), now=NOW
    )

    [reply] = text_us("Yes!", ann.phone.as_e164)

    assert reply.startswith("Done: your session with Dr. Smith on Fri May 8 at 10:00 AM is booked.")
    assert Appointment.objects.get(participants__client=ann).starts_at == datetime(
        2026, 5, 8, 10, tzinfo=NEW_YORK
    )
    assert Offer.objects.get().status == OfferStatus.ACCEPTED
    assert ann.waitlist_entries.get().status == EntryStatus.FULFILLED


def test_yes_without_a_texted_offer_is_the_ordinary_opt_in(practice, make_client, clock):
    ann = make_client("Ann")
    [reply] = text_us("YES", ann.phone.as_e164)
    assert "again" in reply  # the opt-in answer
