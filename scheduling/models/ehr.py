"""Inbound EHR webhooks (SPEC F20): each practice's signing secret and the events received.

Written only by scheduling.ehr.
"""

from __future__ import annotations

from django.db import models

from practice.models import Practice, PracticeScopedQuerySet


class EhrWebhookSecret(models.Model):
    """The shared secret an EHR signs its webhooks to this practice with (HMAC-SHA256).

    HMAC needs the secret itself, so it is stored as is (unlike API tokens, which are hashed);
    the admin never shows it. After a rotation the previous secret keeps working until
    ``previous_valid_until`` so the EHR can switch without losing events."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="ehr_webhook_secret")
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "EHR webhook secret"

    def __str__(self) -> str:
        return f"EHR webhook secret of {self.practice}"


class EhrWebhookEvent(models.Model):
    """One EHR event applied, recorded in the same transaction as its effect, so a re-delivered
    event (same id) is recognised and changes nothing twice. Holds no client data: the event's
    id and type, and what it did."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=40)
    source = models.CharField(max_length=40)
    result = models.CharField(max_length=20, help_text="created, updated, rescheduled, cancelled, unchanged…")
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField()

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "event_id"], name="ehr_webhook_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
