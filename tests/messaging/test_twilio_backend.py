"""TwilioSMSBackend with the real twilio client against a local Twilio-shaped server."""

from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from messaging.backends import get_sms_backend
from messaging.backends.base import ChannelError, SMSMessage
from messaging.backends.twilio_sms import TwilioSMSBackend, validity_period_seconds
from messaging.models import Channel, OutboxMessage, OutboxState
from messaging.services import message_plan_for, messages_dispatch_due
from scheduling.services import appointment_book
from tests.messaging.twilio_server import FakeTwilioServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
FROM = "+15005550006"
TO = "+12125550101"
BODY = "Your session with Dr. Smith starts in 15 minutes."
CALLBACK = "https://attend.example.org/hooks/twilio/status/"


@pytest.fixture
def twilio_server():
    with FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


@pytest.fixture
def twilio_settings(settings, twilio_server):
    settings.SMS_BACKEND = "messaging.backends.twilio_sms.TwilioSMSBackend"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM
    settings.TWILIO_API_BASE = twilio_server.base_url
    settings.TWILIO_TIMEOUT_SECONDS = 10  # generous: a loaded CI machine must not turn a send ambiguous
    return settings


@pytest.fixture
def backend(twilio_settings) -> TwilioSMSBackend:
    return get_sms_backend()


def message(**overrides) -> SMSMessage:
    return SMSMessage(**({"to": TO, "body": BODY} | overrides))


# -- success ---------------------------------------------------------------------------------


def test_it_sends_to_from_body_and_status_callback_and_returns_the_sid(backend, twilio_server):
    result = backend.send(message(status_callback_url=CALLBACK))

    assert twilio_server.issued_sids == [result.provider_message_id]
    assert result.provider_message_id.startswith("SM")
    assert len(result.provider_message_id) == 34
    assert result.status == "queued"
    [request] = twilio_server.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.form == {"To": TO, "From": FROM, "Body": BODY, "StatusCallback": CALLBACK}


def test_it_uses_the_messages_own_sender_over_the_default(backend, twilio_server):
    backend.send(message(from_number="+15005550009"))

    assert twilio_server.requests[0].form["From"] == "+15005550009"


def test_it_refuses_permanently_without_any_sender(twilio_settings, twilio_server):
    twilio_settings.TWILIO_FROM_NUMBER = ""

    with pytest.raises(ChannelError) as caught:
        TwilioSMSBackend().send(message())

    assert caught.value.permanent
    assert twilio_server.requests == []


def test_it_sends_the_validity_period_in_seconds_until_valid_until(backend, twilio_server):
    now = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        backend.send(message(valid_until=now + timedelta(minutes=15)))

    assert twilio_server.requests[0].form["ValidityPeriod"] == "900"


def test_it_omits_the_validity_period_and_callback_when_not_given(backend, twilio_server):
    backend.send(message())

    assert "ValidityPeriod" not in twilio_server.requests[0].form
    assert "StatusCallback" not in twilio_server.requests[0].form


@pytest.mark.parametrize(
    ("valid_for", "expected"),
    [
        (timedelta(days=2), 36000),  # Twilio's maximum
        (timedelta(seconds=-30), 1),  # already past: the shortest Twilio allows
        (timedelta(seconds=0.2), 1),
        (timedelta(hours=1), 3600),
    ],
)
def test_validity_period_is_clamped_to_twilios_range(valid_for, expected):
    now = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert validity_period_seconds(now + valid_for, now=now) == expected


def test_validity_period_is_none_without_a_limit_and_rejects_naive_datetimes():
    now = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert validity_period_seconds(None, now=now) is None
    with pytest.raises(ValueError):
        validity_period_seconds(datetime(2026, 11, 1, 6, 0), now=now)  # noqa: DTZ001


def test_it_refuses_to_start_without_credentials(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""

    with pytest.raises(ImproperlyConfigured):
        TwilioSMSBackend()


# -- Twilio says no ------------------------------------------------------------------------


def test_a_recipient_who_replied_stop_is_a_permanent_failure_with_code_21610(backend, twilio_server):
    twilio_server.fail_next(400, code=21610)

    with pytest.raises(ChannelError) as caught:
        backend.send(message())

    assert caught.value.permanent
    assert not caught.value.ambiguous
    assert caught.value.code == "21610"


@pytest.mark.parametrize("code", [21211, 21614])
def test_an_invalid_or_non_mobile_number_is_a_permanent_failure(backend, twilio_server, code):
    twilio_server.fail_next(400, code=code)

    with pytest.raises(ChannelError) as caught:
        backend.send(message())

    assert caught.value.permanent
    assert caught.value.code == str(code)


def test_a_full_sender_queue_21611_is_transient(backend, twilio_server):
    twilio_server.fail_next(400, code=21611)

    with pytest.raises(ChannelError) as caught:
        backend.send(message())

    assert not caught.value.permanent
    assert caught.value.code == "21611"


@pytest.mark.parametrize(("status", "code"), [(500, "20500"), (503, "20500"), (429, "20429")])
def test_server_errors_and_rate_limits_are_transient_and_not_ambiguous(backend, twilio_server, status, code):
    twilio_server.fail_next(status, retry_after=3 if status == 429 else None)

    with pytest.raises(ChannelError) as caught:
        backend.send(message())

    assert not caught.value.permanent
    assert not caught.value.ambiguous
    assert caught.value.code == code
    assert len(twilio_server.requests) == 1  # the client library does not retry on its own


def test_wrong_credentials_are_a_permanent_failure(twilio_settings, twilio_server):
    twilio_settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(ChannelError) as caught:
        get_sms_backend().send(message())

    assert caught.value.permanent
    assert caught.value.code == "20003"


def test_the_next_send_after_a_failure_succeeds(backend, twilio_server):
    twilio_server.fail_next(500)
    with pytest.raises(ChannelError):
        backend.send(message())

    assert backend.send(message()).provider_message_id.startswith("SM")
    assert len(twilio_server.requests) == 2


# -- the network ---------------------------------------------------------------------------


def test_a_timeout_after_sending_is_ambiguous_and_the_server_did_get_the_message(
    twilio_settings, twilio_server
):
    twilio_settings.TWILIO_TIMEOUT_SECONDS = 0.5
    twilio_server.slow_next(5)

    with pytest.raises(ChannelError) as caught:
        get_sms_backend().send(message())

    assert caught.value.ambiguous
    assert not caught.value.permanent
    assert caught.value.code == "timeout"
    assert len(twilio_server.requests) == 1
    assert twilio_server.requests[0].form["Body"] == BODY


def test_a_refused_connection_is_transient_and_not_ambiguous(twilio_settings):
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    twilio_settings.TWILIO_API_BASE = f"http://127.0.0.1:{closed_port}"

    with pytest.raises(ChannelError) as caught:
        get_sms_backend().send(message())

    assert not caught.value.permanent
    assert not caught.value.ambiguous
    assert caught.value.code == "unreachable"


def test_a_connection_dropped_after_sending_is_ambiguous(twilio_settings):
    received = []

    def accept_read_and_hang_up(listener):
        conn, _ = listener.accept()
        with conn:
            received.append(conn.recv(65536))

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        twilio_settings.TWILIO_API_BASE = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = threading.Thread(target=accept_read_and_hang_up, args=(listener,))
        server.start()

        with pytest.raises(ChannelError) as caught:
            get_sms_backend().send(message())
        server.join(timeout=5)

    assert caught.value.ambiguous
    assert caught.value.code == "connection_lost"
    assert received and received[0].startswith(b"POST ")


def test_nothing_logged_contains_the_phone_number_or_the_body(backend, twilio_server, caplog):
    twilio_server.fail_next(400, code=21211)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ChannelError) as caught:
            backend.send(message())
        result = backend.send(message())

    logged = caplog.text + str(caught.value)
    assert result.provider_message_id in caplog.text
    assert "21211" in logged
    assert TO not in logged and TO[1:] not in logged
    assert BODY not in logged


# -- threads -------------------------------------------------------------------------------


def test_sixteen_threads_sending_at_once_all_succeed_with_distinct_sids(backend, twilio_server):
    start = threading.Barrier(16)

    def send(i):
        start.wait(timeout=30)
        return backend.send(message(to=f"+1212555{i:04d}"))

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, range(16)))

    assert len({r.provider_message_id for r in results}) == 16
    assert len(twilio_server.requests) == 16
    assert sorted(r.form["To"] for r in twilio_server.requests) == [f"+1212555{i:04d}" for i in range(16)]


# -- through the dispatcher ----------------------------------------------------------------


@pytest.fixture
def planned_session(twilio_settings, practice, clinician, consenting_ann, service_type, tomorrow_10am):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[consenting_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    message_plan_for(appointment=appointment)
    return appointment


def test_the_dispatcher_stores_the_sid_twilio_returned_for_each_text(planned_session, twilio_server):
    messages_dispatch_due(now=planned_session.starts_at - timedelta(minutes=15))

    texts = OutboxMessage.objects.filter(
        appointment=planned_session, channel=Channel.SMS, state=OutboxState.ACCEPTED
    )
    assert texts.exists()
    assert len(twilio_server.requests) == texts.count()
    assert sorted(t.provider_message_id for t in texts) == sorted(twilio_server.issued_sids)
    assert all(r.form["StatusCallback"].endswith("/hooks/twilio/status/") for r in twilio_server.requests)


def test_a_text_that_timed_out_is_unknown_and_never_sent_again(
    planned_session, twilio_settings, twilio_server
):
    twilio_settings.TWILIO_TIMEOUT_SECONDS = 0.5
    for _ in range(5):
        twilio_server.slow_next(3)
    at = planned_session.starts_at - timedelta(minutes=15)

    messages_dispatch_due(now=at)
    sent_once = len(twilio_server.requests)
    messages_dispatch_due(now=at + timedelta(minutes=1))

    texts = OutboxMessage.objects.filter(appointment=planned_session, channel=Channel.SMS, attempts__gt=0)
    assert sent_once >= 1
    assert texts.count() == sent_once
    assert all(t.state == OutboxState.UNKNOWN for t in texts)
    assert len(twilio_server.requests) == sent_once
