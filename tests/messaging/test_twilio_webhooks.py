"""Twilio's message status callback: signature first, then validation, then the lead's service."""

from __future__ import annotations

import logging
import secrets
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from messaging.models import Channel, DeliveryReport, OutboxMessage, OutboxState
from scheduling.services import appointment_book

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SITE_URL = "https://attend.example.org"
HOOK_PATH = "/hooks/twilio/status/"
CLIENT_PHONE = "+12125550101"
FORM = "application/x-www-form-urlencoded"


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.SITE_URL = SITE_URL
    return settings


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient(enforce_csrf_checks=True)  # Twilio has no CSRF token: the view must be exempt


@pytest.fixture
def sms(practice, clinician, client_ann, service_type, tomorrow_10am) -> OutboxMessage:
    """The T-15 text to Ann, handed to Twilio and waiting for its status callbacks."""
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    participant = appointment.participants.get()
    message, _ = OutboxMessage.objects.update_or_create(
        appointment=appointment,
        recipient_key=f"client:{participant.pk}",
        kind="t15_sms",
        defaults={
            "practice": practice,
            "participant": participant,
            "channel": Channel.SMS,
            "due_at": timezone.now(),
            "state": OutboxState.ACCEPTED,
            "provider_message_id": new_sid(),
            "sent_at": timezone.now(),
        },
    )
    return message


def callback(sid: str, status: str, **extra: str) -> dict[str, str]:
    """The form Twilio posts (it also carries the numbers, which must never be logged)."""
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "To": CLIENT_PHONE,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        **extra,
    }


def post_signed(web, params, *, url=SITE_URL + HOOK_PATH, token=AUTH_TOKEN, sent=None, path_=HOOK_PATH):
    """POST ``sent`` (default: ``params``) signed as Twilio would sign ``params`` for ``url``."""
    return web.post(
        path_,
        urlencode(sent if sent is not None else params),
        content_type=FORM,
        headers={"X-Twilio-Signature": sign(url, params, token)},
    )


def reload(message: OutboxMessage) -> OutboxMessage:
    return OutboxMessage.objects.get(pk=message.pk)


# --- Signatures ---------------------------------------------------------------------------------


def test_a_correctly_signed_delivered_callback_is_recorded_and_answered_204(web, sms):
    response = post_signed(web, callback(sms.provider_message_id, "delivered"))

    assert response.status_code == 204
    assert reload(sms).state == OutboxState.DELIVERED
    assert list(DeliveryReport.objects.values_list("provider_message_id", "status")) == [
        (sms.provider_message_id, "delivered")
    ]


def test_the_signature_is_checked_against_the_public_site_url_not_the_internal_request_url(web, sms):
    # Django sees http://testserver/... (as behind a proxy); Twilio signed https://attend.example.org/...
    internal_url = "http://testserver" + HOOK_PATH

    response = post_signed(web, callback(sms.provider_message_id, "delivered"), url=internal_url)

    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()


def test_the_query_string_is_part_of_the_signed_url(web, sms):
    params = callback(sms.provider_message_id, "delivered")

    signed_with_query = post_signed(
        web, params, url=f"{SITE_URL}{HOOK_PATH}?attempt=1", path_=f"{HOOK_PATH}?attempt=1"
    )
    signed_without_query = post_signed(web, params, path_=f"{HOOK_PATH}?attempt=2")

    assert signed_with_query.status_code == 204
    assert signed_without_query.status_code == 403


def test_tampered_parameters_are_refused_with_403_and_change_nothing(web, sms):
    signed = callback(sms.provider_message_id, "delivered")
    tampered = signed | {"MessageStatus": "undelivered", "ErrorCode": "30003"}

    response = post_signed(web, signed, sent=tampered)

    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()
    assert reload(sms).state == OutboxState.ACCEPTED
    assert not OutboxMessage.objects.filter(fallback_of=sms).exists()


def test_a_signature_made_with_another_token_is_refused(web, sms):
    response = post_signed(web, callback(sms.provider_message_id, "delivered"), token="someone-elses-token")

    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()


def test_a_callback_without_a_signature_header_is_refused(web, sms):
    response = web.post(
        HOOK_PATH, urlencode(callback(sms.provider_message_id, "delivered")), content_type=FORM
    )

    assert response.status_code == 403
    assert reload(sms).state == OutboxState.ACCEPTED


@pytest.mark.parametrize("forgery", ["missing", "empty", "garbage", "wrong token", "tampered"])
def test_forged_callbacks_never_reach_the_service(web, forgery):
    params = callback(new_sid(), "delivered")
    signature = {
        "missing": None,
        "empty": "",
        "garbage": "bm90IGEgc2lnbmF0dXJl",
        "wrong token": sign(SITE_URL + HOOK_PATH, params, "other"),
        "tampered": sign(SITE_URL + HOOK_PATH, params | {"MessageStatus": "sent"}),
    }[forgery]
    headers = {} if signature is None else {"X-Twilio-Signature": signature}

    with mock.patch("messaging.twilio_webhooks.message_record_status") as record:
        response = web.post(HOOK_PATH, urlencode(params), content_type=FORM, headers=headers)

    assert response.status_code == 403
    record.assert_not_called()


def test_the_hook_is_mounted_where_status_callbacks_point():
    assert reverse("twilio_status") == HOOK_PATH


def test_only_post_is_allowed(web):
    assert web.get(HOOK_PATH).status_code == 405


# --- Malformed callbacks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"MessageStatus": "delivered"}, id="no MessageSid"),
        pytest.param({"MessageSid": "SM" + "a" * 32}, id="no MessageStatus"),
        pytest.param({"MessageSid": "SM" + "a" * 32, "MessageStatus": "exploded"}, id="unknown status"),
        pytest.param({"MessageSid": "not-a-sid", "MessageStatus": "delivered"}, id="not a sid"),
        pytest.param(
            {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "x" * 40},
            id="bad error code",
        ),
    ],
)
def test_a_correctly_signed_but_malformed_callback_is_refused_with_400_and_no_side_effects(web, db, params):
    with mock.patch("messaging.twilio_webhooks.message_record_status") as record:
        response = post_signed(web, params)

    assert response.status_code == 400
    record.assert_not_called()
    assert not DeliveryReport.objects.exists()


# --- Re-delivered and out-of-order callbacks ----------------------------------------------------


def test_a_redelivered_callback_is_recorded_once(web, sms):
    params = callback(sms.provider_message_id, "delivered")

    first, second = post_signed(web, params), post_signed(web, params)

    assert (first.status_code, second.status_code) == (204, 204)
    assert DeliveryReport.objects.filter(provider_message_id=sms.provider_message_id).count() == 1
    assert reload(sms).state == OutboxState.DELIVERED


def test_a_late_sent_after_delivered_leaves_the_message_delivered(web, sms):
    post_signed(web, callback(sms.provider_message_id, "delivered"))
    response = post_signed(web, callback(sms.provider_message_id, "sent"))

    assert response.status_code == 204
    assert reload(sms).state == OutboxState.DELIVERED
    assert set(DeliveryReport.objects.values_list("status", flat=True)) == {"delivered", "sent"}


def test_the_usual_order_queued_sent_delivered_ends_delivered(web, sms):
    for status in ("queued", "sent", "delivered"):
        assert post_signed(web, callback(sms.provider_message_id, status)).status_code == 204

    assert reload(sms).state == OutboxState.DELIVERED
    assert DeliveryReport.objects.count() == 3


def test_a_sent_callback_settles_a_message_whose_send_was_ambiguous(web, sms):
    OutboxMessage.objects.filter(pk=sms.pk).update(state=OutboxState.UNKNOWN)

    post_signed(web, callback(sms.provider_message_id, "sent"))

    assert reload(sms).state == OutboxState.ACCEPTED


# --- Undeliverable texts fall back to e-mail ----------------------------------------------------


def test_an_undelivered_text_plans_one_fallback_email(web, sms):
    params = callback(sms.provider_message_id, "undelivered", ErrorCode="30003")

    post_signed(web, params)
    post_signed(web, params)  # re-delivered
    post_signed(web, callback(sms.provider_message_id, "failed", ErrorCode="30003"))

    message = reload(sms)
    assert message.state == OutboxState.UNDELIVERED
    assert "30003" in message.reason
    [fallback] = OutboxMessage.objects.filter(fallback_of=sms)
    assert fallback.channel == Channel.EMAIL
    assert fallback.state == OutboxState.PLANNED
    assert DeliveryReport.objects.get(status="undelivered").error_code == "30003"


def test_a_failed_text_plans_a_fallback_email(web, sms):
    post_signed(web, callback(sms.provider_message_id, "failed", ErrorCode="30008"))

    assert OutboxMessage.objects.filter(fallback_of=sms, channel=Channel.EMAIL).count() == 1


def test_a_delivered_text_plans_no_fallback(web, sms):
    post_signed(web, callback(sms.provider_message_id, "delivered"))
    post_signed(web, callback(sms.provider_message_id, "undelivered", ErrorCode="30003"))  # late and wrong

    assert reload(sms).state == OutboxState.DELIVERED
    assert not OutboxMessage.objects.filter(fallback_of=sms).exists()


def test_a_callback_for_a_message_we_do_not_know_is_acknowledged_and_changes_no_message(web, sms):
    response = post_signed(web, callback(new_sid(), "delivered"))

    assert response.status_code == 204
    assert reload(sms).state == OutboxState.ACCEPTED


# --- Privacy ------------------------------------------------------------------------------------


def test_phone_numbers_in_the_callback_are_never_logged(web, sms, caplog):
    with caplog.at_level(logging.DEBUG):
        post_signed(web, callback(sms.provider_message_id, "undelivered", ErrorCode="30003"))
        post_signed(web, callback(sms.provider_message_id, "exploded"))  # refused: logged as a warning
        post_signed(web, callback(sms.provider_message_id, "sent"), token="forged")

    assert sms.provider_message_id in caplog.text
    assert CLIENT_PHONE not in caplog.text
    assert CLIENT_PHONE[1:] not in caplog.text
