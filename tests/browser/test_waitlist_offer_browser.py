"""Accepting a waitlist offer at /o/<token> on a phone-sized screen in a real browser (issue 16)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from practice.models import Client
from scheduling.models import Appointment, HoldKind
from scheduling.services import hold_place
from tests.browser.conftest import _counts
from waitlist.models import FreedSlot, Offer
from waitlist.services import hash_token, waitlist_entry_create

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
MIN_TAP_TARGET = 44


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if _counts(msg) else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    context.close()


def an_offer(practice, clinician, client, service_type) -> str:
    """A live offer of a slot three days out (built directly: the real clock may be in quiet hours)."""
    now = timezone.now()
    starts = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    entry = waitlist_entry_create(practice=practice, client=client, service_type=service_type, now=now)
    hold = hold_place(
        practice=practice,
        clinician=clinician,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=45),
        expires_at=now + timedelta(hours=2),
        kind=HoldKind.WAITLIST_OFFER,
        client=client,
        now=now,
    )
    slot = FreedSlot.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        modality="telehealth",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=45),
        freed_at=now,
        wave=1,
        hold=hold,
    )
    token = secrets.token_urlsafe(24)
    Offer.objects.create(
        practice=practice,
        entry=entry,
        client=client,
        slot=slot,
        hold=hold,
        wave=1,
        token_hash=hash_token(token),
        sent_at=now,
        expires_at=now + timedelta(hours=2),
    )
    return f"/o/{token}"


def test_accept_an_offer_with_one_tap_on_a_phone(
    phone, live_server, practice, clinician, client_ann, service_type, screenshot
):
    path = an_offer(practice, clinician, client_ann, service_type)

    phone.goto(live_server.url + path)
    screenshot(phone, "offer")
    confirm = phone.get_by_role("button", name="Confirm — I'll take it")
    box = confirm.bounding_box()
    assert box["height"] >= MIN_TAP_TARGET
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not Appointment.objects.exists()  # opening the link changed nothing
    confirm.tap()

    phone.get_by_role("status").wait_for()
    screenshot(phone, "accepted")
    assert "the session is yours" in phone.get_by_role("status").inner_text()
    assert Appointment.objects.get().participants.get().client == Client.objects.get(pk=client_ann.pk)
    assert phone.problems == []
