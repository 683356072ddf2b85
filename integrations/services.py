"""Integration actions: webhook endpoints (create, change, rotate the secret, disable, test,
redeliver) and calendar feeds (create, revoke). Every page and the admin call these."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import signing
from integrations.models import (
    CalendarFeed,
    DeliveryState,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from integrations.outbox import test_event_record
from practice.models import ClinicianProfile, Practice

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# After a rotation the old secret keeps signing this long, so receivers can switch over.
ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS_PER_PRACTICE = 20


# --- Webhook endpoints ---------------------------------------------------------------------------


def webhook_url_errors(url: str) -> list[str]:
    """Why ``url`` cannot receive webhooks: https only (http to this machine only where
    WEBHOOK_ALLOW_LOCAL_HTTP is on, for development and tests), no credentials in the URL, no
    private or loopback addresses in production."""
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        return ["Enter a full URL starting with https://."]
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    local = host in LOCAL_HOSTS
    if parts.username or parts.password:
        return ["Leave user names and passwords out of the URL; the signature authenticates us."]
    if local and not settings.WEBHOOK_ALLOW_LOCAL_HTTP:
        return ["Webhooks cannot go to this server itself."]
    if parts.scheme != "https" and not local:
        return ["Use https:// so events travel encrypted."]
    if not local:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if address is not None and not address.is_global:
            return ["Use a public address: webhooks cannot go to private or internal networks."]
    return []


def _clean_event_types(event_types) -> list[str]:
    chosen = [value for value in EventType.values if value in set(event_types or ())]
    if not chosen:
        raise ValidationError({"event_types": ["Choose at least one event to send."]})
    return chosen


def webhook_endpoint_create(
    *, practice: Practice, url: str, event_types, description: str = "", by=None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret, which is shown only now."""
    url = (url or "").strip()
    errors = {}
    if url_errors := webhook_url_errors(url):
        errors["url"] = url_errors
    try:
        event_types = _clean_event_types(event_types)
    except ValidationError as error:
        errors |= error.message_dict
    if WebhookEndpoint.objects.for_practice(practice).count() >= MAX_ENDPOINTS_PER_PRACTICE:
        errors.setdefault("url", []).append(
            f"A practice can have at most {MAX_ENDPOINTS_PER_PRACTICE} endpoints."
        )
    if errors:
        raise ValidationError(errors)
    secret = signing.secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        practice=practice,
        url=url,
        description=(description or "").strip()[:200],
        secret=secret,
        event_types=event_types,
        created_by=by,
    )
    return endpoint, secret


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, event_types, description: str | None = None
) -> WebhookEndpoint:
    endpoint.event_types = _clean_event_types(event_types)
    fields = ["event_types", "updated_at"]
    if description is not None:
        endpoint.description = description.strip()[:200]
        fields.append("description")
    endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> str:
    """A new secret, returned once. The old one keeps signing for ROTATION_OVERLAP."""
    now = now or timezone.now()
    new = signing.secret_generate()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = now + ROTATION_OVERLAP
        locked.secret = new
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    endpoint.refresh_from_db()
    return new


def webhook_endpoint_set_active(*, endpoint: WebhookEndpoint, active: bool) -> WebhookEndpoint:
    """Disable (nothing more is sent; pending deliveries are dropped when next due) or re-enable."""
    endpoint.is_active = active
    endpoint.save(update_fields=["is_active", "updated_at"])
    return endpoint


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookEvent:
    if not endpoint.is_active:
        raise ValidationError("Enable the endpoint before sending it a test event.")
    with transaction.atomic():
        return test_event_record(endpoint=endpoint, now=now or timezone.now())


def webhook_delivery_retry(*, delivery: WebhookDelivery, now: datetime | None = None) -> WebhookDelivery:
    """Send a failed delivery again (same event id, so the receiver still de-duplicates), with a
    fresh set of attempts."""
    now = now or timezone.now()
    if not delivery.endpoint.is_active:
        raise ValidationError("The endpoint is disabled; enable it first.")
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, state__in=[DeliveryState.FAILED, DeliveryState.CANCELLED]
    ).update(state=DeliveryState.PENDING, attempts=0, next_attempt_at=now, last_error="", claim_token="")
    if not updated:
        raise ValidationError("Only a failed or unsent delivery can be sent again.")
    delivery.refresh_from_db()
    return delivery


# --- Calendar feeds ------------------------------------------------------------------------------


def hash_feed_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def calendar_feed_create(
    *, clinician: ClinicianProfile, by=None, now: datetime | None = None
) -> tuple[CalendarFeed, str]:
    """A new private feed for ``clinician``, replacing (revoking) any current one. Returns the
    feed and its token, which is part of the URL and shown only now."""
    now = now or timezone.now()
    raw = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            CalendarFeed.objects.filter(clinician=clinician, revoked_at__isnull=True).update(revoked_at=now)
            feed = CalendarFeed.objects.create(
                practice_id=clinician.practice_id,
                clinician=clinician,
                token_hash=hash_feed_token(raw),
                created_by=by,
            )
    except IntegrityError as error:  # a concurrent create for the same clinician won
        raise ValidationError("A feed was just created for this calendar; reload the page.") from error
    return feed, raw


def calendar_feed_revoke(*, clinician: ClinicianProfile, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return CalendarFeed.objects.filter(clinician=clinician, revoked_at__isnull=True).update(revoked_at=now)


def calendar_feed_for_token(raw: str) -> CalendarFeed | None:
    if not raw or len(raw) > 100:
        return None
    return (
        CalendarFeed.objects.select_related("clinician__practice")
        .filter(token_hash=hash_feed_token(raw), revoked_at__isnull=True)
        .first()
    )
