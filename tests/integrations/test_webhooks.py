"""Outbound webhooks: what is recorded when, how it is signed, retried, and kept per practice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from integrations import delivery, services
from integrations.models import DeliveryState, EventType, WebhookDelivery, WebhookEvent
from practice.consent import client_sms_opt_out
from practice.models import ConsentEventSource
from scheduling.events import AppointmentEvent, publish_on_commit
from scheduling.models import AppointmentStatus
from scheduling.services import appointment_book, appointment_cancel, appointment_mark_attendance

ALL_TYPES = list(EventType.values)


def make_endpoint(practice, url, types=None):
    endpoint, secret = services.webhook_endpoint_create(
        practice=practice, url=url, event_types=types or ALL_TYPES, description="EHR"
    )
    return endpoint, secret


def book(practice, clinician, client, service_type, starts_at):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client],
        starts_at=starts_at,
        service_type=service_type,
    )


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """An independent Standard Webhooks verifier, written from the spec, not from our code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    candidates = [part.split(",", 1)[1] for part in headers["webhook-signature"].split(" ")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def due_now():
    return timezone.now() + timedelta(seconds=1)


# --- Recording -------------------------------------------------------------------------------------


def test_booking_records_the_event_and_a_delivery_in_its_own_transaction(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    endpoint, _ = make_endpoint(practice, "https://ehr.example.com/hooks")

    appointment = book(practice, clinician, client_ann, service_type, tomorrow_10am)

    event = WebhookEvent.objects.get(type="appointment.booked")
    assert event.appointment_id == appointment.pk
    payload = json.loads(event.body)
    assert payload["id"] == event.event_id and payload["type"] == "appointment.booked"
    assert payload["data"]["appointment"]["id"] == appointment.pk
    assert payload["data"]["appointment"]["starts_at"] == tomorrow_10am.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    only = WebhookDelivery.objects.get()
    assert (only.endpoint, only.state) == (endpoint, DeliveryState.PENDING)


def test_a_booking_that_rolls_back_leaves_no_event(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    make_endpoint(practice, "https://ehr.example.com/hooks")

    with pytest.raises(RuntimeError), transaction.atomic():
        book(practice, clinician, client_ann, service_type, tomorrow_10am)
        raise RuntimeError("the caller's transaction fails after booking")

    assert not WebhookEvent.objects.exists()


def test_nothing_is_recorded_without_a_subscribed_endpoint(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    make_endpoint(practice, "https://ehr.example.com/hooks", types=["appointment.cancelled"])

    appointment = book(practice, clinician, client_ann, service_type, tomorrow_10am)
    assert not WebhookEvent.objects.exists()

    appointment_cancel(appointment=appointment, reason="Client asked")
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["appointment.cancelled"]


def test_a_disabled_endpoint_gets_no_new_events(practice, clinician, client_ann, service_type, tomorrow_10am):
    endpoint, _ = make_endpoint(practice, "https://ehr.example.com/hooks")
    services.webhook_endpoint_set_active(endpoint=endpoint, active=False)

    book(practice, clinician, client_ann, service_type, tomorrow_10am)

    assert not WebhookEvent.objects.exists()


def test_status_kinds_from_any_publisher_become_one_event_per_change(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    """The no-show work publishes "in_progress"/"completed"/"no_show"/"payment_due"; attendance
    marking publishes "attendance". One status change is one event, whoever announces it."""
    practice.no_show_fee = Decimal("75.00")
    practice.save()
    endpoint, _ = make_endpoint(practice, "https://ehr.example.com/hooks")
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=timezone.now() - timedelta(minutes=30),
        service_type=service_type,
    )
    after_start = timezone.now()

    appointment_mark_attendance(
        appointment=appointment, client=client_ann, attendance="no_show", now=after_start
    )
    with transaction.atomic():  # as the no-show sequence will: its own kind for the same change
        publish_on_commit(AppointmentEvent("no_show", appointment.pk))
        publish_on_commit(AppointmentEvent("payment_due", appointment.pk))
    appointment_mark_attendance(
        appointment=appointment,
        client=client_ann,
        attendance="attended",
        note="Joined by phone",
        now=after_start,
    )
    with transaction.atomic():
        publish_on_commit(AppointmentEvent("completed", appointment.pk))  # still in progress: nothing new

    types = list(WebhookEvent.objects.order_by("pk").values_list("type", flat=True))
    assert types == [
        "appointment.booked",
        "appointment.no_show",
        "payment.due",
        "appointment.in_progress",
    ]
    payment = json.loads(WebhookEvent.objects.get(type="payment.due").body)["data"]
    assert payment["reason"] == "no_show" and payment["amount"] == "75.00"
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 4


def test_completed_kind_records_completed_once_status_is_completed(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    make_endpoint(practice, "https://ehr.example.com/hooks", types=["appointment.completed"])
    appointment = book(practice, clinician, client_ann, service_type, tomorrow_10am)
    with transaction.atomic():
        appointment.status = AppointmentStatus.COMPLETED
        appointment.save(update_fields=["status"])
        publish_on_commit(AppointmentEvent("completed", appointment.pk))
        publish_on_commit(AppointmentEvent("completed", appointment.pk))

    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["appointment.completed"]


def test_opt_out_tech_check_and_failed_message_facts_become_events(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    from messaging.models import OutboxMessage, OutboxState
    from messaging.services import message_record_status
    from telehealth.services import tech_check_record

    make_endpoint(practice, "https://ehr.example.com/hooks")
    appointment = book(practice, clinician, client_ann, service_type, tomorrow_10am)
    participant = appointment.participants.get()
    client_ann.sms_consent_at = timezone.now()
    client_ann.save()

    client_sms_opt_out(client=client_ann, source=ConsentEventSource.SMS_KEYWORD, now=timezone.now())
    client_sms_opt_out(
        client=client_ann, source=ConsentEventSource.SMS_KEYWORD, now=timezone.now()
    )  # no change
    tech_check_record(
        participant=participant,
        camera_ok=False,
        microphone_ok=True,
        browser_ok=True,
        network_ok=True,
        problems=["camera_blocked"],
        details={},
    )
    OutboxMessage.objects.create(
        practice=practice,
        appointment=appointment,
        participant=participant,
        recipient_key=f"client:{client_ann.pk}",
        kind="t24_sms",
        channel="sms",
        due_at=timezone.now(),
        state=OutboxState.ACCEPTED,
        provider_message_id="SM123",
    )
    message_record_status(provider_message_id="SM123", status="undelivered", error_code="30003")

    by_type = {event.type: json.loads(event.body)["data"] for event in WebhookEvent.objects.all()}
    assert set(by_type) == {"appointment.booked", "client.opted_out", "techcheck.failed", "message.failed"}
    assert by_type["client.opted_out"]["client"] == {"id": client_ann.pk, "external_id": None}
    assert by_type["techcheck.failed"]["tech_check"]["camera_ok"] is False
    assert by_type["message.failed"]["message"]["error_code"] == "30003"
    assert by_type["message.failed"]["message"]["state"] == "undelivered"


def test_payloads_carry_no_client_names_or_contact_details(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    from telehealth.services import tech_check_record

    client_ann.preferred_name = "Annie"
    client_ann.sms_consent_at = timezone.now()
    client_ann.save()
    make_endpoint(practice, "https://ehr.example.com/hooks")
    appointment = book(practice, clinician, client_ann, service_type, tomorrow_10am)
    tech_check_record(
        participant=appointment.participants.get(),
        camera_ok=False,
        microphone_ok=False,
        browser_ok=True,
        network_ok=True,
        problems=[],
        details={"note": "Ann Avery's laptop"},
    )
    client_sms_opt_out(client=client_ann, source=ConsentEventSource.VERBAL, now=timezone.now())
    appointment_cancel(appointment=appointment, reason="Ann Avery has the flu")

    bodies = " ".join(WebhookEvent.objects.values_list("body", flat=True))
    assert WebhookEvent.objects.count() == 4
    for secret in (
        "Ann",
        "Avery",
        "Annie",
        "2125550101",
        "ann@example.test",
        "flu",
        "Individual therapy",
        "90834",
    ):
        assert secret not in bodies


# --- Delivery ---------------------------------------------------------------------------------------


def test_each_delivery_is_signed_so_an_independent_verifier_accepts_it(
    receiver, practice, clinician, client_ann, service_type, tomorrow_10am
):
    endpoint, secret = make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)

    report = delivery.deliver_due(now=due_now())

    assert report.delivered == 1
    [request] = receiver.received
    event = WebhookEvent.objects.get()
    assert request.headers["webhook-id"] == event.event_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    assert request.body == event.body.encode()
    assert verify(secret, request.headers, request.body)
    assert not verify(secret, request.headers, request.body.replace(b"booked", b"cancelled"))
    assert not verify(services.signing.secret_generate(), request.headers, request.body)
    sent = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (sent.state, sent.attempts, sent.last_status_code) == (DeliveryState.DELIVERED, 1, 200)
    assert delivery.deliver_due(now=due_now() + timedelta(hours=12)).claimed == 0  # never again


def test_failures_and_timeouts_are_retried_with_backoff_until_the_endpoint_answers(
    receiver, practice, clinician, client_ann, service_type, tomorrow_10am
):
    receiver.script = [500, "hang", 503]
    _, secret = make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)

    waits = []
    for expected_error in ("HTTP 500", "Timed out", "HTTP 503"):
        before = timezone.now()
        delivery.deliver_due(now=due_now())
        row = WebhookDelivery.objects.get()
        assert row.state == DeliveryState.PENDING and expected_error in row.last_error
        waits.append(row.next_attempt_at - before)
        assert delivery.deliver_due(now=row.next_attempt_at - timedelta(seconds=5)).claimed == 0  # not yet
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # the wait is over
    delivery.deliver_due(now=due_now())

    row = WebhookDelivery.objects.get()
    assert row.state == DeliveryState.DELIVERED and row.attempts == 4
    assert [round(w.total_seconds() / 10) * 10 for w in waits] == [30, 120, 600]
    assert len(set(receiver.ids())) == 1 and len(receiver.received) == 4  # same event id every time
    # Each attempt is signed at send time, so a retry never carries a stale timestamp.
    assert all(verify(secret, request.headers, request.body) for request in receiver.received)


def test_a_delivery_fails_for_good_after_the_last_attempt(
    receiver, practice, clinician, client_ann, service_type, tomorrow_10am
):
    receiver.default = 500
    make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)

    for _ in range(delivery.MAX_ATTEMPTS + 2):
        delivery.deliver_due(now=due_now())
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING).update(next_attempt_at=timezone.now())

    row = WebhookDelivery.objects.get()
    assert row.state == DeliveryState.FAILED
    assert row.attempts == delivery.MAX_ATTEMPTS == len(receiver.received)
    assert row.next_attempt_at is None and row.last_status_code == 500


def test_a_dead_deliverers_claim_expires_and_the_delivery_is_attempted_again(
    receiver, practice, clinician, client_ann, service_type, tomorrow_10am
):
    make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)
    delivery.claim_due(now=due_now(), limit=10)  # claimed, then the process "dies"
    assert delivery.deliver_due(now=due_now()).claimed == 0

    later = timezone.now() + timedelta(minutes=10)  # the lease has run out
    assert delivery.deliver_due(now=later).requeued_leases == 1
    row = WebhookDelivery.objects.get()
    assert row.state == DeliveryState.PENDING and row.attempts == 1  # it may have gone out: it counts
    report = delivery.deliver_due(now=row.next_attempt_at)

    assert report.delivered == 1 and len(receiver.received) == 1
    row = WebhookDelivery.objects.get()
    assert row.state == DeliveryState.DELIVERED and row.attempts == 2


def test_disabling_an_endpoint_drops_what_was_not_sent_yet(
    receiver, practice, clinician, client_ann, service_type, tomorrow_10am
):
    endpoint, _ = make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)
    services.webhook_endpoint_set_active(endpoint=endpoint, active=False)

    report = delivery.deliver_due(now=due_now())

    assert report.cancelled == 1 and receiver.received == []
    assert WebhookDelivery.objects.get().state == DeliveryState.CANCELLED


def test_after_rotation_both_secrets_sign_for_a_day(receiver, practice):
    endpoint, old_secret = make_endpoint(practice, receiver.url)
    new_secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint)
    services.webhook_endpoint_send_test(endpoint=endpoint)

    delivery.deliver_due(now=due_now())

    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(new_secret, request.headers, request.body)
    assert verify(old_secret, request.headers, request.body)
    assert json.loads(request.body)["type"] == "webhook.test"


def test_events_of_one_practice_never_reach_another_practices_endpoint(
    receiver, practice, other_practice, clinician, client_ann, service_type, tomorrow_10am
):
    make_endpoint(other_practice, receiver.url)

    book(practice, clinician, client_ann, service_type, tomorrow_10am)
    delivery.deliver_due(now=due_now())

    assert receiver.received == []
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
def test_two_deliverers_at_once_send_each_event_once(
    receiver, practice, clinician, service_type, tomorrow_10am
):
    from practice.models import Client

    make_endpoint(practice, receiver.url)
    make_endpoint(practice, receiver.url.replace("/attend", "/second"))
    for index in range(30):
        client = Client.objects.create(practice=practice, first_name=f"C{index}", last_name="Load")
        book(practice, clinician, client, service_type, tomorrow_10am + timedelta(hours=index))
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            delivery.deliver_due(now=due_now(), limit=4)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    pairs = [(request.path, request.headers["webhook-id"]) for request in receiver.received]
    assert len(pairs) == 60 == len(set(pairs))
    assert WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count() == 60


# --- Endpoint rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://ehr.example.com/hooks", True),
        ("http://ehr.example.com/hooks", False),
        ("https://10.0.0.5/hooks", False),
        ("https://169.254.169.254/latest", False),
        ("https://user:pw@ehr.example.com/hooks", False),
        ("ftp://ehr.example.com/", False),
        ("not a url", False),
    ],
)
def test_endpoints_must_be_public_https(settings, url, allowed):
    settings.WEBHOOK_ALLOW_LOCAL_HTTP = False
    assert (services.webhook_url_errors(url) == []) is allowed


def test_local_http_endpoints_only_where_allowed(settings):
    settings.WEBHOOK_ALLOW_LOCAL_HTTP = True
    assert services.webhook_url_errors("http://127.0.0.1:9000/x") == []
    settings.WEBHOOK_ALLOW_LOCAL_HTTP = False
    assert services.webhook_url_errors("http://127.0.0.1:9000/x")
    assert services.webhook_url_errors("https://localhost/x")


def test_the_deliverer_is_scheduled_in_django_q2_and_its_task_sweeps(
    receiver, settings, practice, clinician, client_ann, service_type, tomorrow_10am
):
    from django_q.models import Schedule

    from integrations.tasks import LOOP_SECONDS, deliver_webhooks_for_a_minute

    schedule = Schedule.objects.get(name="integrations.webhooks")
    assert schedule.func == "integrations.tasks.deliver_webhooks_for_a_minute" and schedule.repeats == -1
    settings.WEBHOOK_INTERVAL_SECONDS = LOOP_SECONDS  # one sweep, then return
    make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)

    assert deliver_webhooks_for_a_minute() == 1
    assert len(receiver.received) == 1


def test_old_settled_events_are_pruned_but_pending_ones_kept(practice, receiver):
    from integrations.tasks import KEEP_EVENTS, prune_old_events

    endpoint, _ = make_endpoint(practice, receiver.url)
    settled = services.webhook_endpoint_send_test(endpoint=endpoint)
    pending = services.webhook_endpoint_send_test(endpoint=endpoint)
    WebhookDelivery.objects.filter(event=settled).update(state=DeliveryState.DELIVERED)
    later = timezone.now() + KEEP_EVENTS + timedelta(days=1)

    prune_old_events(now=later)

    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [pending.pk]


def test_the_verification_snippet_in_the_docs_accepts_our_requests(
    receiver, practice, clinician, client_ann, service_type, tomorrow_10am
):
    from pathlib import Path

    from django.conf import settings

    text = (Path(settings.BASE_DIR) / "docs" / "webhooks.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # the code integrators copy, run as written
    verify_webhook = namespace["verify_webhook"]
    _, secret = make_endpoint(practice, receiver.url)
    book(practice, clinician, client_ann, service_type, tomorrow_10am)
    delivery.deliver_due(now=due_now())
    [request] = receiver.received

    assert verify_webhook(secret, request.headers, request.body)
    assert not verify_webhook(secret, request.headers, request.body + b" ")
    stale = {**request.headers, "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) - 600)}
    assert not verify_webhook(secret, stale, request.body)


def test_a_text_the_dispatcher_gives_up_on_becomes_message_failed_and_a_carrier_stop_an_opt_out(
    practice, clinician, client_ann, service_type, monkeypatch, settings, django_capture_on_commit_callbacks
):
    import time_machine

    from messaging import dispatch
    from messaging.backends.base import ChannelError

    class RefusingSMS:
        def send(self, message):
            raise ChannelError("Attempt to send to unsubscribed recipient", permanent=True, code="21610")

    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    monkeypatch.setattr(dispatch, "get_sms_backend", lambda: RefusingSMS())
    client_ann.sms_consent_at = timezone.now()
    client_ann.sms_consent_source = "intake_form"
    client_ann.save()
    make_endpoint(practice, "https://ehr.example.com/hooks", types=["message.failed", "client.opted_out"])
    # 16:00 UTC is daytime in New York, so the practice's quiet hours don't hold the text.
    start = (timezone.now() + timedelta(days=3)).replace(hour=16, minute=0, second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        book(practice, clinician, client_ann, service_type, start)

    with time_machine.travel(start - timedelta(hours=24), tick=False):
        dispatch.dispatch_due()

    by_type = {event.type: json.loads(event.body)["data"] for event in WebhookEvent.objects.all()}
    assert by_type["message.failed"]["message"]["channel"] == "sms"
    assert by_type["message.failed"]["message"]["error_code"] == "21610"
    assert by_type["message.failed"]["message"]["state"] == "failed"
    assert by_type["client.opted_out"]["source"] == "carrier_21610"
