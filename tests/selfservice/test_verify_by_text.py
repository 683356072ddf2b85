"""The booking page's one-time code by text message (issue 15): sent through the SMS backend the
reminders use, the same limits and the same answer as by e-mail, a number that said STOP gets
nothing (and the page does not say so), and e-mail as the way out."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from messaging.backends import locmem
from messaging.backends.base import ChannelError
from practice.consent import client_sms_opt_out
from practice.models import ConsentEventSource
from selfservice.models import BookingRequest, VerificationCode, VerificationPurpose
from selfservice.services import (
    RateLimited,
    rate_limit_count,
    verification_code_check,
    verification_code_send,
)
from tests.selfservice.test_booking_page import _details, _first_start, _needs, _without_csrf

pytestmark = pytest.mark.django_db

NORA_MOBILE = "+12125550123"


@pytest.fixture(autouse=True)
def _texts(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


def _to_details(client, practice, clinician):
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )


def _code_from_text() -> str:
    return re.match(r"(\d{6}) is your code", locmem.outbox[-1].body).group(1)


def test_a_code_by_text_verifies_the_number_and_makes_the_request(
    client, booking_practice, clinician, frozen_now
):
    practice = booking_practice
    practice.sms_from_number = "+12125550100"
    practice.save()
    _to_details(client, practice, clinician)
    sent = _details(client, practice, send_code_by="sms")
    assert sent.status_code == 302
    [text] = locmem.outbox
    assert text.to == NORA_MOBILE and text.from_number == "+12125550100"
    assert practice.name in text.body and "10 minutes" in text.body
    assert mail.outbox == [], "by text only"
    page = client.get(sent.url)
    assert "Check your texts" in page.content.decode()
    verified = client.post(sent.url, {"code": _code_from_text()})
    assert verified.status_code == 302
    assert BookingRequest.objects.get().phone == NORA_MOBILE


def test_a_texted_code_verifies_the_number_only(booking_practice, frozen_now):
    verification_code_send(practice=booking_practice, address=NORA_MOBILE, channel="sms")
    code = _code_from_text()
    assert not verification_code_check(practice=booking_practice, address="nora@example.org", code=code)
    assert verification_code_check(practice=booking_practice, address=NORA_MOBILE, channel="sms", code=code)


def test_the_number_in_any_format_is_one_address(booking_practice, frozen_now):
    verification_code_send(practice=booking_practice, address="+1 212-555-0123", channel="sms")
    assert verification_code_check(
        practice=booking_practice, address=NORA_MOBILE, channel="sms", code=_code_from_text()
    )


def test_texts_need_a_north_american_mobile(client, booking_practice, clinician, frozen_now):
    _to_details(client, booking_practice, clinician)
    missing = _details(client, booking_practice, send_code_by="sms", phone="", sms_consent="")
    assert missing.status_code == 200 and "Add your mobile number" in missing.content.decode()
    abroad = _details(client, booking_practice, send_code_by="sms", phone="+447911123456", sms_consent="")
    assert abroad.status_code == 200 and "US and Canadian" in abroad.content.decode()
    assert locmem.outbox == [] and not VerificationCode.objects.exists()


def test_the_same_limits_by_text_three_per_number(client, booking_practice, clinician, frozen_now):
    _to_details(client, booking_practice, clinician)
    for _ in range(3):
        assert _details(client, booking_practice, send_code_by="sms").status_code == 302
    refused = _details(client, booking_practice, send_code_by="sms")
    assert refused.status_code == 200 and "Too many codes" in refused.content.decode()
    assert len(locmem.outbox) == 3
    # The e-mail address is another address: its own three.
    assert _details(client, booking_practice).status_code == 302


def test_one_counter_for_every_purpose_and_channel(booking_practice, frozen_now):
    for _ in range(60):
        VerificationCode.objects.create(
            practice=booking_practice,
            purpose=VerificationPurpose.BOOKING,
            address_hash="x",
            code_hash="",
            created_at=frozen_now,
            expires_at=frozen_now,
        )
    with pytest.raises(RateLimited, match="practice"):
        verification_code_send(practice=booking_practice, address=NORA_MOBILE, channel="sms")
    with pytest.raises(RateLimited, match="practice"):
        verification_code_send(practice=booking_practice, address="nora@example.org")
    # Home-link requests have their own count, with the same helper and limits.
    rate_limit_count(
        practice=booking_practice, purpose=VerificationPurpose.HOME_LINK, address_hash="x", now=frozen_now
    )


def test_a_number_that_said_stop_gets_no_text_and_the_page_says_the_same(
    client, booking_practice, clinician, client_ann, frozen_now
):
    practice = booking_practice
    client_ann.phone = NORA_MOBILE
    client_ann.save()
    _to_details(client, practice, clinician)
    first = _details(client, practice, send_code_by="sms")
    assert len(locmem.outbox) == 1
    reference = _without_csrf(client.get(first.url))
    client_sms_opt_out(
        client=client_ann, source=ConsentEventSource.SMS_KEYWORD, now=frozen_now, detail="STOP"
    )
    second = _details(client, practice, send_code_by="sms")
    assert second.url == first.url and len(locmem.outbox) == 1, "nothing texted after STOP"
    assert _without_csrf(client.get(second.url)) == reference
    # The way out: the code by e-mail, then on as usual.
    resent = client.post(second.url, {"resend_by_email": "1"})
    assert resent.status_code == 302
    code = re.search(r"Your code is (\d{6})", mail.outbox[-1].body).group(1)
    assert "Check your e-mail" in client.get(second.url).content.decode()
    assert client.post(second.url, {"code": code}).status_code == 302
    assert BookingRequest.objects.exists()


def test_a_provider_failure_is_answered_like_a_sent_code(
    client, booking_practice, clinician, frozen_now, monkeypatch, caplog
):
    def refuse(self, message):
        raise ChannelError("Twilio said no", permanent=True, code="21211")

    monkeypatch.setattr(locmem.LocMemSMSBackend, "send", refuse)
    _to_details(client, booking_practice, clinician)
    answer = _details(client, booking_practice, send_code_by="sms")
    assert answer.status_code == 302
    assert "21211" in caplog.text and NORA_MOBILE not in caplog.text and "5550123" not in caplog.text


def test_a_texted_code_never_lets_a_typed_email_attach_the_booking_to_someone_else(
    client, booking_practice, clinician, client_ann, manager, frozen_now
):
    from selfservice.services import booking_request_approve

    _to_details(client, booking_practice, clinician)
    # Ann's e-mail typed, but the code proves only this (new) number.
    _details(client, booking_practice, send_code_by="sms", email=client_ann.email)
    client.post(reverse("book_verify", kwargs={"slug": booking_practice.slug}), {"code": _code_from_text()})
    request = BookingRequest.objects.get()
    assert request.verified_by == "sms"
    approved = booking_request_approve(request=request, by=manager, now=frozen_now)
    booked = approved.appointment.participants.get().client
    assert booked != client_ann and booked.phone == NORA_MOBILE


def test_a_texted_code_finds_the_client_with_that_number_on_approval(
    client, booking_practice, clinician, client_ann, manager, frozen_now
):
    from selfservice.services import booking_request_approve

    _to_details(client, booking_practice, clinician)
    _details(
        client, booking_practice, send_code_by="sms", email="other@example.org", phone=str(client_ann.phone)
    )
    client.post(reverse("book_verify", kwargs={"slug": booking_practice.slug}), {"code": _code_from_text()})
    approved = booking_request_approve(request=BookingRequest.objects.get(), by=manager, now=frozen_now)
    assert approved.appointment.participants.get().client == client_ann
