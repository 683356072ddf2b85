"""Outbound webhooks (endpoints, the event outbox, one delivery per event and endpoint) and
private calendar feeds.

A webhook event is written in the same transaction as the change it reports, together with one
``WebhookDelivery`` per endpoint subscribed to its type at that moment; the deliverer
(``integrations.delivery``) claims due deliveries, commits, then calls the endpoint.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from practice.models import ClinicianProfile, Practice, PracticeScopedQuerySet
from scheduling.models import Appointment


class EventType(models.TextChoices):
    APPOINTMENT_BOOKED = "appointment.booked", "Session booked"
    APPOINTMENT_RESCHEDULED = "appointment.rescheduled", "Session rescheduled"
    APPOINTMENT_CANCELLED = "appointment.cancelled", "Session cancelled"
    APPOINTMENT_IN_PROGRESS = "appointment.in_progress", "Session in progress"
    APPOINTMENT_COMPLETED = "appointment.completed", "Session completed"
    APPOINTMENT_NO_SHOW = "appointment.no_show", "Session no-show"
    TECHCHECK_FAILED = "techcheck.failed", "Tech check failed"
    MESSAGE_FAILED = "message.failed", "Reminder failed or undeliverable"
    CLIENT_OPTED_OUT = "client.opted_out", "Client opted out of texts"
    PAYMENT_DUE = "payment.due", "Payment due"
    BOOKING_REQUESTED = "booking.requested", "Booking requested on the booking page"
    BOOKING_APPROVED = "booking.approved", "Booking request approved"
    BOOKING_PROPOSED = "booking.proposed", "Another time proposed for a booking request"
    BOOKING_DECLINED = "booking.declined", "Booking request declined"
    SLOT_FREED = "slot.freed", "Slot freed (offered to the waitlist)"
    WAITLIST_OFFER_SENT = "waitlist.offer.sent", "Waitlist offer sent"
    WAITLIST_OFFER_ACCEPTED = "waitlist.offer.accepted", "Waitlist offer accepted"
    WAITLIST_OFFER_EXPIRED = "waitlist.offer.expired", "Waitlist offer expired"


# Sent on request from the endpoint page, to that endpoint only; nobody subscribes to it.
TEST_EVENT_TYPE = "webhook.test"


class WebhookEndpoint(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField("URL", max_length=500)
    description = models.CharField(
        max_length=200, blank=True, help_text="What receives these, e.g. “EHR sync”."
    )
    # The signing secret (``whsec_`` + base64). Kept in clear because signing needs it; shown to
    # the manager once, when created or rotated, and never again in any page or the admin.
    secret = models.CharField(max_length=100)
    # After a rotation the old secret also signs (a second signature in the header) until this
    # time, so receivers can switch without dropping events.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    event_types = models.JSONField(default=list, help_text="Event types this endpoint receives.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["practice", "-created_at"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return f"Webhook endpoint #{self.pk} ({self.url})"

    def receives(self, event_type: str) -> bool:
        return self.is_active and event_type in self.event_types


class WebhookEvent(models.Model):
    """One outbound event, with the exact body every delivery of it sends."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=40, unique=True)  # "evt_…", the webhook-id header
    type = models.CharField(max_length=40)
    occurred_at = models.DateTimeField()
    # The appointment the event is about, if any: how status events are de-duplicated.
    appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(help_text="The JSON payload, byte for byte as signed and sent.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["appointment", "-id"], name="webhook_event_appointment")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Not sent"


class WebhookDelivery(models.Model):
    """One event to one endpoint: sent until the endpoint answers 2xx, at most MAX_ATTEMPTS."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once_per_endpoint")
        ]
        indexes = [
            # Read by integrations.delivery.claim_due: the pending deliveries that are due.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="webhook_delivery_due",
            ),
            # Read by integrations.delivery.expire_leases.
            models.Index(
                fields=["lease_until"], condition=models.Q(state="sending"), name="webhook_delivery_lease"
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} of {self.event_id} to endpoint #{self.endpoint_id}"


class CalendarFeed(models.Model):
    """A clinician's private iCal feed. The URL carries a random token, which is the only secret;
    only its SHA-256 hash is stored (like API tokens). Revoking makes the URL answer 404."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinician"],
                condition=models.Q(revoked_at__isnull=True),
                name="calendar_feed_one_active_per_clinician",
            )
        ]

    def __str__(self) -> str:
        return f"Calendar feed #{self.pk} of {self.clinician}"
