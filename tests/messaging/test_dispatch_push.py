"""The T-0 web push through the dispatcher (SPEC F9 step 5): to every browser the client
subscribed, encrypted, revoking the ones the push service calls gone; nothing without one."""

import json

import pytest
import time_machine

from messaging import dispatch
from messaging.models import OutboxMessage, OutboxState
from messaging.push import push_subscription_save, push_subscriptions_for
from scheduling.services import appointment_book
from telehealth.services import join_link_for
from tests.messaging.conftest import ny
from tests.messaging.push_service import FakePushService
from tests.messaging.test_webpush import Browser, vapid_key, webpush_settings  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

SESSION = ny(2026, 6, 10, 10, 0)


@pytest.fixture
def session(practice, clinician, client_ann, service_type, django_capture_on_commit_callbacks):
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            starts_at=SESSION,
            service_type=service_type,
        )


@pytest.fixture
def push_service():
    with FakePushService() as service:
        yield service


def subscribe(appointment, endpoint: str) -> Browser:
    browser = Browser()
    push_subscription_save(
        participant=appointment.participants.get(),
        endpoint=endpoint,
        p256dh=browser.p256dh,
        auth=browser.auth,
        user_agent="test",
    )
    return browser


def t0(appointment) -> OutboxMessage:
    return OutboxMessage.objects.get(appointment=appointment, kind="t0_push")


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return dispatch.dispatch_due()


def test_the_t0_push_reaches_the_subscribed_browser(session, push_service):
    browser = subscribe(session, push_service.endpoint("phone"))
    sweep_at(ny(2026, 6, 10, 9, 59))
    assert push_service.requests == []

    sweep_at(SESSION)

    (request,) = push_service.requests
    payload = json.loads(browser.decrypt(request.body))
    join = "https://attend.example.org/j/" + join_link_for(session.participants.get()).token
    assert payload == {
        "title": "Your session with Dr. Smith",
        "body": "Dr. Smith is ready for you. Tap to join.",
        "url": join,
    }
    assert request.headers["ttl"] == "1800"  # until the row's send deadline, 30 min after the start
    assert t0(session).state == OutboxState.ACCEPTED
    assert push_subscriptions_for(session.participants.get().client)[0].last_success_at is not None

    sweep_at(ny(2026, 6, 10, 10, 1))
    assert len(push_service.requests) == 1  # once


def test_a_gone_subscription_is_revoked_and_the_row_fails_without_fallback(session, push_service):
    subscribe(session, push_service.endpoint("old"))
    push_service.answer_next(410)

    sweep_at(SESSION)

    row = t0(session)
    assert row.state == OutboxState.FAILED and "gone" in row.reason
    assert push_subscriptions_for(session.participants.get().client) == []
    assert not OutboxMessage.objects.filter(fallback_of=row).exists()


def test_a_transient_failure_is_retried(session, push_service):
    subscribe(session, push_service.endpoint("a"))
    push_service.answer_next(503)
    sweep_at(SESSION)
    assert t0(session).state == OutboxState.PLANNED
    sweep_at(ny(2026, 6, 10, 10, 1))
    assert t0(session).state == OutboxState.ACCEPTED
    assert len(push_service.requests) == 2


def test_without_a_subscription_nothing_is_sent(session, push_service):
    sweep_at(SESSION)
    row = t0(session)
    assert row.state == OutboxState.SKIPPED
    assert row.reason == "The client has not subscribed to web push notifications."


def test_without_vapid_keys_push_rows_are_skipped_not_crashing(settings, session, push_service):
    subscribe(session, push_service.endpoint("a"))
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    report = sweep_at(SESSION)
    row = t0(session)
    assert row.state == OutboxState.SKIPPED and "not set up" in row.reason
    assert report.skipped >= 1 and push_service.requests == []
