"""The webhook deliverer's clock: django-q2 runs ``deliver_webhooks_for_a_minute`` every minute
(migration integrations 0002); it sweeps every WEBHOOK_INTERVAL_SECONDS for just under a minute.
State lives in WebhookDelivery rows; the claim on each row is what makes overlapping runs safe."""

import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

LOOP_SECONDS = 50  # below django-q2's task timeout (60 s)
# Delivered test events and settled deliveries are kept this long for the delivery log.
KEEP_EVENTS = timedelta(days=30)


def deliver_webhooks_for_a_minute() -> int:
    from integrations.delivery import deliver_due

    started = time.monotonic()
    delivered = 0
    prune_old_events(now=timezone.now())
    while True:
        budget = max(LOOP_SECONDS - (time.monotonic() - started), 1)
        delivered += deliver_due(budget_seconds=budget).delivered
        if time.monotonic() - started + settings.WEBHOOK_INTERVAL_SECONDS >= LOOP_SECONDS:
            return delivered
        time.sleep(settings.WEBHOOK_INTERVAL_SECONDS)


def prune_old_events(*, now) -> int:
    """Forget events older than KEEP_EVENTS whose deliveries are all settled."""
    from integrations.models import DeliveryState, WebhookEvent

    old = WebhookEvent.objects.filter(created_at__lt=now - KEEP_EVENTS).exclude(
        deliveries__state__in=[DeliveryState.PENDING, DeliveryState.SENDING]
    )
    deleted, _ = old.delete()
    return deleted
