"""The managers' webhook pages: register (secret shown once), rotate, disable, test, delivery log."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations import delivery, services
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from tests.conftest import verified_session


def test_a_manager_registers_an_endpoint_and_sees_its_secret_once(manager, practice):
    http = verified_session(manager)

    created = http.post(
        "/settings/webhooks/",
        {
            "url": "https://ehr.example.com/hooks",
            "description": "EHR",
            "event_types": ["appointment.no_show"],
        },
    )

    endpoint = WebhookEndpoint.objects.get()
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    assert endpoint.secret in created.content.decode()
    assert endpoint.practice == practice and endpoint.event_types == ["appointment.no_show"]
    for page in ("/settings/webhooks/", f"/settings/webhooks/{endpoint.pk}/"):
        assert endpoint.secret not in http.get(page).content.decode()


def test_bad_endpoint_input_is_shown_beside_the_fields(manager, settings):
    settings.WEBHOOK_ALLOW_LOCAL_HTTP = False
    response = verified_session(manager).post("/settings/webhooks/", {"url": "http://ehr.example.com/hooks"})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "https" in errors["url"][0] and "event_types" in errors
    assert not WebhookEndpoint.objects.exists()


def test_rotate_disable_and_test_from_the_endpoint_page(manager, practice):
    endpoint, secret = services.webhook_endpoint_create(
        practice=practice, url="https://ehr.example.com/hooks", event_types=["appointment.booked"]
    )
    http = verified_session(manager)

    rotated = http.post(f"/settings/webhooks/{endpoint.pk}/rotate/")
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.secret in rotated.content.decode()

    http.post(f"/settings/webhooks/{endpoint.pk}/test/")
    assert WebhookDelivery.objects.get().event.type == "webhook.test"

    http.post(f"/settings/webhooks/{endpoint.pk}/active/", {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    refused = http.post(f"/settings/webhooks/{endpoint.pk}/test/", follow=True)
    assert "Enable the endpoint" in refused.content.decode()


def test_the_delivery_log_shows_status_code_attempts_and_next_retry(manager, practice, receiver):
    receiver.default = 502
    endpoint, _ = services.webhook_endpoint_create(
        practice=practice, url=receiver.url, event_types=["appointment.booked"]
    )
    services.webhook_endpoint_send_test(endpoint=endpoint)
    delivery.deliver_due(now=timezone.now() + timedelta(seconds=1))
    row = WebhookDelivery.objects.get()

    page = verified_session(manager).get("/settings/webhooks/deliveries/")

    text = page.content.decode()
    assert row.event.event_id in text and "502" in text and "Pending" in text
    assert page.context["deliveries"][0].next_attempt_at == row.next_attempt_at


def test_a_failed_delivery_can_be_sent_again(manager, practice, receiver):
    endpoint, _ = services.webhook_endpoint_create(
        practice=practice, url=receiver.url, event_types=["appointment.booked"]
    )
    event = services.webhook_endpoint_send_test(endpoint=endpoint)
    WebhookDelivery.objects.update(state=DeliveryState.FAILED, attempts=8, next_attempt_at=None)
    row = WebhookDelivery.objects.get()

    verified_session(manager).post(f"/settings/webhooks/deliveries/{row.pk}/retry/")
    delivery.deliver_due(now=timezone.now() + timedelta(seconds=1))

    row.refresh_from_db()
    assert row.state == DeliveryState.DELIVERED
    assert receiver.ids() == [event.event_id]


def test_another_practices_manager_sees_none_of_it(other_manager, practice, receiver):
    endpoint, _ = services.webhook_endpoint_create(
        practice=practice, url=receiver.url, event_types=["appointment.booked"]
    )
    services.webhook_endpoint_send_test(endpoint=endpoint)
    row = WebhookDelivery.objects.get()
    http = verified_session(other_manager)

    assert http.get(f"/settings/webhooks/{endpoint.pk}/").status_code == 404
    assert http.post(f"/settings/webhooks/{endpoint.pk}/rotate/").status_code == 404
    assert http.post(f"/settings/webhooks/{endpoint.pk}/active/", {"active": "0"}).status_code == 404
    assert http.post(f"/settings/webhooks/deliveries/{row.pk}/retry/").status_code == 404
    assert list(http.get("/settings/webhooks/").context["endpoints"]) == []
    assert list(http.get("/settings/webhooks/deliveries/").context["deliveries"]) == []


def test_only_managers_manage_webhooks(front_desk, clinician_user):
    for user in (front_desk, clinician_user):
        assert verified_session(user).get("/settings/webhooks/").status_code == 403


def test_the_operator_console_lists_deliveries_without_secrets(practice, receiver, db):
    from practice.models import User

    operator = User.objects.create_superuser(email="op@attend.test", password="x", full_name="Op")
    endpoint, secret = services.webhook_endpoint_create(
        practice=practice, url=receiver.url, event_types=["appointment.booked"]
    )
    services.webhook_endpoint_send_test(endpoint=endpoint)
    http = verified_session(operator)

    deliveries = http.get("/admin/integrations/webhookdelivery/")
    endpoint_page = http.get(f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/")

    assert (
        deliveries.status_code == 200
        and WebhookDelivery.objects.get().event.event_id in deliveries.content.decode()
    )
    assert endpoint_page.status_code == 200 and secret not in endpoint_page.content.decode()


def test_endpoint_changes_are_audit_logged_without_the_secret(manager, practice):
    from auditlog.models import LogEntry

    http = verified_session(manager)
    http.post(
        "/settings/webhooks/", {"url": "https://ehr.example.com/hooks", "event_types": ["appointment.booked"]}
    )
    endpoint = WebhookEndpoint.objects.get()
    http.post(f"/settings/webhooks/{endpoint.pk}/rotate/")
    endpoint.refresh_from_db()

    entries = LogEntry.objects.get_for_object(endpoint)
    assert entries.count() >= 1 and entries.filter(actor=manager).exists()
    logged = " ".join(str(entry.changes) for entry in entries)
    assert endpoint.secret not in logged and endpoint.previous_secret not in logged
