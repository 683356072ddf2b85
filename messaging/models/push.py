"""Web-push subscriptions (SPEC F9 step 5, F12).

A subscription belongs to the client, not to one session: the browser that subscribed from one
session's page also gets the T-0 notification of the client's later sessions. The push service
says when a subscription is dead (HTTP 404/410); it is then revoked, never deleted, so the
admin can see what happened.
"""

from __future__ import annotations

from django.db import models

from practice.models import Client, Practice, PracticeScopedQuerySet


class PushSubscriptionQuerySet(PracticeScopedQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class PushSubscription(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="push_subscriptions")
    # The push service's URL for this browser (https://fcm.googleapis.com/…, …push.services.mozilla.com/…).
    endpoint = models.URLField(max_length=1000)
    # The browser's keys (base64url, unpadded): the P-256 public key the payload is encrypted to
    # (65 bytes decoded) and the 16-byte authentication secret.
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=40)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the push service said the subscription is gone (404/410)."
    )

    objects = PushSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["client", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "endpoint"], name="push_subscription_once_per_client")
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"Push subscription #{self.pk} of client #{self.client_id} ({state})"
