"""Inbound SMS keywords (SPEC F13): STOP/START/HELP honoured at once, recorded, signed, idempotent."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
import time_machine
from django.core import mail
from twilio.request_validator import RequestValidator

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import OutboxMessage
from practice.models import Client, ConsentAction, ConsentEvent, ConsentEventSource, ConsentSource
from scheduling.services import appointment_book
from tests.messaging.conftest import ANN_PHONE, AUTH_TOKEN, PRACTICE_NUMBER, SITE_URL, ny

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio_settings")]

HOOK_PATH = "/hooks/twilio/inbound/"
FORM = "application/x-www-form-urlencoded"


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def inbound(body: str, *, sid: str | None = None, sender: str = ANN_PHONE, to: str = PRACTICE_NUMBER) -> dict:
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid or new_sid(),
        "SmsSid": sid or new_sid(),
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
    }


def post(web, params, *, token=AUTH_TOKEN, signature=None, sent=None):
    headers = {"X-Twilio-Signature": RequestValidator(token).compute_signature(SITE_URL + HOOK_PATH, params)}
    if signature is not None:
        headers = {"X-Twilio-Signature": signature} if signature else {}
    return web.post(
        HOOK_PATH, urlencode(sent if sent is not None else params), content_type=FORM, headers=headers
    )


def reply_of(response) -> list[str]:
    """The texts a TwiML answer sends back."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return [element.text or "" for element in root.iter("Message")]


def consent(client: Client) -> bool:
    client.refresh_from_db()
    return client.has_sms_consent


# --- Keywords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "STOP", "stop", "Stop", "Stop.", "  sToP  ", "STOP!", "stop\n", "STOPALL", "stop all", "Stop All!",
        "UNSUBSCRIBE", "unsubscribe", "CANCEL", "cancel", "END", "End.", "QUIT", "quit", "REVOKE", "Revoke",
        "OPT OUT", "opt out", "Opt-out", "OPTOUT", "optout.", "opt  out",
        "ALTO", "alto", "Alto.", "PARAR", "parar", "BAJA", "baja",
    ],
)  # fmt: skip
def test_every_opt_out_keyword_withdraws_consent(web, ann, body):
    response = post(web, inbound(body))

    assert consent(ann) is False
    event = ann.consent_events.get()
    assert (event.action, event.source) == (ConsentAction.OPT_OUT, ConsentEventSource.SMS_KEYWORD)
    assert reply_of(response) == [
        "You are unsubscribed and will get no more texts from Riverside Counseling. "
        "Reply START to resubscribe."
    ]


@pytest.mark.parametrize("body", ["START", "start", "Start.", " yes ", "YES", "Yes!", "UNSTOP", "unstop"])
def test_every_opt_in_keyword_records_consent(web, numbers, client_ann, body):
    response = post(web, inbound(body))

    assert consent(client_ann) is True
    client_ann.refresh_from_db()
    assert client_ann.sms_consent_source == ConsentSource.SMS_KEYWORD
    assert client_ann.consent_events.get().action == ConsentAction.OPT_IN
    assert "Riverside Counseling again" in reply_of(response)[0]


@pytest.mark.parametrize("body", ["HELP", "help", "Help?", "INFO", "info.", "AYUDA", "ayuda"])
def test_help_answers_with_the_practice_name_and_phone_and_no_client_data(web, ann, body):
    response = post(web, inbound(body))

    [text] = reply_of(response)
    assert "Riverside Counseling" in text
    assert "(212) 555-0100" in text
    assert "Ann" not in text and "Avery" not in text and "0101" not in text
    assert consent(ann) is True
    assert not ConsentEvent.objects.exists()


def test_help_to_a_shared_default_number_names_no_practice(web, settings, practice, other_practice, ann):
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    practice.sms_from_number = ""
    practice.save()
    other_practice.sms_from_number = ""
    other_practice.save()

    [text] = reply_of(post(web, inbound("HELP", to="+15005550006")))

    assert "Riverside" not in text and "Harbor" not in text


@pytest.mark.parametrize(
    "body",
    # "Cancelar" is about the session, never an opt-out (it would cost the client their texts).
    ["", "hello", "Stop texting me about Tuesday please", "STOP 2", "I can't make it, sorry", "CANCELAR"],
)
def test_anything_else_gets_an_empty_answer_and_changes_nothing(web, ann, body):
    # Without a session to attach it to; replies about a session: tests/messaging/test_sms_replies.py
    response = post(web, inbound(body))

    assert reply_of(response) == []
    assert consent(ann) is True
    assert not ConsentEvent.objects.exists()


def test_a_second_stop_keeps_the_client_opted_out(web, ann):
    post(web, inbound("STOP"))
    post(web, inbound("stop"))

    assert consent(ann) is False
    assert list(ann.consent_events.values_list("changed", flat=True)) == [True, False]


def test_start_after_stop_opts_back_in(web, ann):
    post(web, inbound("STOP"))
    post(web, inbound("START"))

    assert consent(ann) is True


# --- Duplicate deliveries -----------------------------------------------------------------------


def test_a_redelivered_stop_changes_nothing_twice(web, ann):
    stop = inbound("STOP")
    first = post(web, stop)
    post(web, inbound("START"))  # the client changed their mind in between
    again = post(web, stop)  # Twilio re-delivers the first message

    assert consent(ann) is True
    assert ann.consent_events.filter(external_id=stop["MessageSid"]).count() == 1
    assert reply_of(first) == reply_of(again)


def test_a_redelivered_start_records_one_event(web, ann):
    post(web, inbound("STOP"))
    start = inbound("START")
    post(web, start)
    post(web, start)

    assert ann.consent_events.count() == 2


# --- Several practices, one number ---------------------------------------------------------------


def test_stop_applies_to_the_clients_of_the_practice_owning_the_number_written_to(web, ann, ann_elsewhere):
    post(web, inbound("STOP", to=PRACTICE_NUMBER))

    assert consent(ann) is False
    assert consent(ann_elsewhere) is True


def test_stop_to_a_number_no_practice_texts_from_applies_to_every_client_with_the_number(
    web, ann, ann_elsewhere, client_bob
):
    response = post(web, inbound("STOP", to="+19995550000"))

    assert consent(ann) is False
    assert consent(ann_elsewhere) is False
    assert set(ConsentEvent.objects.values_list("client_id", flat=True)) == {ann.pk, ann_elsewhere.pk}
    assert "this number" in reply_of(response)[0]


def test_stop_from_a_number_that_is_nobodys_is_answered_and_changes_nothing(web, ann):
    response = post(web, inbound("STOP", sender="+12125559999"))

    assert response.status_code == 200
    assert not ConsentEvent.objects.exists()


def test_start_never_signs_a_number_up_with_practices_it_did_not_text(web, numbers, client_ann, other_client):
    other_client.phone = ANN_PHONE
    other_client.save()

    reply = reply_of(post(web, inbound("START", to="+19995550000")))

    assert reply == []
    assert consent(client_ann) is False
    assert consent(other_client) is False


# --- The next reminder goes by e-mail ----------------------------------------------------------------


def test_after_stop_the_next_text_reminder_goes_by_email(
    web, ann, clinician, service_type, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appointment = appointment_book(
            practice=ann.practice,
            clinician=clinician,
            clients=[ann],
            starts_at=ny(2026, 6, 10, 10, 0),
            service_type=service_type,
        )
    t24 = OutboxMessage.objects.get(appointment=appointment, kind="t24_sms")
    assert (t24.channel, t24.state) == ("sms", "planned")

    with time_machine.travel(ny(2026, 6, 9, 9, 59), tick=False):
        post(web, inbound("STOP"))
    with time_machine.travel(ny(2026, 6, 9, 10, 0), tick=False):
        dispatch.dispatch_due()

    t24.refresh_from_db()
    assert t24.channel == "email"
    assert "no consent to texts" in t24.reason
    assert locmem.outbox == []
    # The T-24 e-mail step falls due at the same second: the dispatcher's threads may send the two
    # in either order, so the text that went by e-mail is found by its subject.
    to_ann = {m.subject for m in mail.outbox if m.to == ["ann@example.test"]}
    assert "A message about your session on Wednesday, June 10" in to_ann


def test_a_stop_arriving_after_the_text_was_claimed_still_stops_it(
    web, ann, clinician, service_type, monkeypatch, django_capture_on_commit_callbacks
):
    """The race of issue #5: the dispatcher has claimed the T-24 text (committed) when the STOP
    comes in. The claimed row is read again after the claim, so the text goes by e-mail."""
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appointment = appointment_book(
            practice=ann.practice,
            clinician=clinician,
            clients=[ann],
            starts_at=ny(2026, 6, 10, 10, 0),
            service_type=service_type,
        )
    load_claimed = dispatch._claimed_rows

    def stop_arrives_after_the_claim(token, *ids):
        assert OutboxMessage.objects.filter(claim_token=token, kind="t24_sms", state="claimed").exists()
        post(web, inbound("STOP"))
        return load_claimed(token, *ids)

    monkeypatch.setattr(dispatch, "_claimed_rows", stop_arrives_after_the_claim)
    with time_machine.travel(ny(2026, 6, 9, 10, 0), tick=False):
        dispatch.dispatch_due()

    t24 = OutboxMessage.objects.get(appointment=appointment, kind="t24_sms")
    assert t24.channel == "email"
    assert locmem.outbox == []
    assert mail.outbox[-1].to == ["ann@example.test"]


# --- Signatures and malformed requests -----------------------------------------------------------


@pytest.mark.parametrize("forgery", ["missing", "garbage", "wrong token", "tampered"])
def test_forged_requests_are_refused_and_change_nothing(web, ann, forgery):
    params = inbound("STOP")
    if forgery == "missing":
        response = post(web, params, signature="")
    elif forgery == "garbage":
        response = post(web, params, signature="bm90IGEgc2lnbmF0dXJl")
    elif forgery == "wrong token":
        response = post(web, params, token="someone-elses-token")
    else:
        response = post(web, inbound("HELP") | {"MessageSid": params["MessageSid"]}, sent=params)

    assert response.status_code == 403
    assert consent(ann) is True
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"MessageSid": ""}, id="no MessageSid"),
        pytest.param({"MessageSid": "SM123"}, id="short MessageSid"),
        pytest.param({"MessageSid": "XX" + "a" * 32}, id="not a message SID"),
        pytest.param({"From": ""}, id="no From"),
        pytest.param({"From": "not-a-number"}, id="From is no phone number"),
        pytest.param({"To": ""}, id="no To"),
    ],
)
def test_malformed_requests_are_refused_with_400(web, ann, change):
    response = post(web, inbound("STOP") | change)

    assert response.status_code == 400
    assert consent(ann) is True


def test_only_post_is_allowed(web):
    assert web.get(HOOK_PATH).status_code == 405


def test_nothing_the_client_sent_is_logged(web, ann, caplog):
    with caplog.at_level(logging.DEBUG):
        post(web, inbound("STOP"))
        post(web, inbound("Stop texting me about my therapy"))
        post(web, inbound("STOP") | {"From": "garbage"})
        post(web, inbound("STOP"), signature="bm90IGEgc2lnbmF0dXJl")

    logged = caplog.text
    assert "0101" not in logged and "0199" not in logged
    assert "therapy" not in logged
    assert "Ann" not in logged


def test_the_consent_event_names_the_keyword_and_message_but_not_the_text(web, ann):
    params = inbound("  Stop.  ")
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False):
        post(web, params)

    event = ann.consent_events.get()
    assert event.detail == "Texted STOP"
    assert event.external_id == params["MessageSid"]
    assert event.at == ny(2026, 6, 1, 9, 0)
