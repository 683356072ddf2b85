"""Telehealth meetings, one-tap join links, join events and tech-check results."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64encode

from django.conf import settings
from django.db import models

from practice.models import Practice, PracticeScopedQuerySet
from scheduling.models import Appointment, AppointmentParticipant


class MeetingState(models.TextChoices):
    PENDING = "pending", "Being created"
    READY = "ready", "Ready"
    AWAITING_LINK = "awaiting_link", "Waiting for a link from staff or the EHR"
    FAILED = "failed", "Could not be created"
    CANCELLED = "cancelled", "Cancelled"


class MeetingQuerySet(PracticeScopedQuerySet):
    def due_for_attempt(self, now):
        return self.filter(state=MeetingState.PENDING, next_attempt_at__lte=now)


class Meeting(models.Model):
    """The provider meeting of one appointment (a group session shares one).

    Created after the booking commits and retried on transient provider errors; when an
    appointment is rescheduled its meeting moves to the replacement appointment."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="meetings")
    appointment = models.OneToOneField(Appointment, on_delete=models.CASCADE, related_name="meeting")
    # Random, unique, no data in it: used for room names and as the provider-side reference.
    key = models.CharField(max_length=32, unique=True, editable=False)
    provider = models.CharField(max_length=20)
    state = models.CharField(max_length=20, choices=MeetingState.choices, default=MeetingState.PENDING)
    external_id = models.CharField(max_length=100, blank=True)
    join_url = models.URLField(max_length=1000, blank=True)
    host_url = models.URLField(max_length=2000, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        indexes = [
            # Read by telehealth.services.meetings_retry_due (the retry sweep).
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="meeting_pending_retry",
            ),
            models.Index(fields=["provider", "external_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.provider} meeting for appointment #{self.appointment_id} ({self.state})"

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(16)


def _derive_token(nonce: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"join-link:{nonce}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class JoinLinkQuerySet(models.QuerySet):
    def by_token(self, token: str):
        return self.filter(token_hash=hash_token(token))


class JoinLink(models.Model):
    """The one-tap link of one participant: /j/<token> (join) and /t/<token> (tech check).

    The token is 192 random-looking bits derived from a stored nonce and SECRET_KEY, so the
    links can be rendered into every reminder while a copy of the database alone is not
    enough to join a session. Lookups go through the token's SHA-256."""

    participant = models.OneToOneField(
        AppointmentParticipant, on_delete=models.CASCADE, related_name="join_link"
    )
    nonce = models.CharField(max_length=32, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = JoinLinkQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Join link of participant #{self.participant_id}"

    @classmethod
    def build(cls, participant: AppointmentParticipant) -> JoinLink:
        nonce = secrets.token_hex(16)
        return cls(participant=participant, nonce=nonce, token_hash=hash_token(_derive_token(nonce)))

    @property
    def token(self) -> str:
        return _derive_token(self.nonce)


class JoinSource(models.TextChoices):
    LINK = "link", "One-tap link"
    ZOOM_WEBHOOK = "zoom_webhook", "Zoom webhook"
    HOST_LINK = "host_link", "Clinician host link"


class JoinEvent(models.Model):
    """A join seen by Attend. ``dedupe_key`` makes a re-delivered webhook a no-op."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="join_events")
    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, null=True, blank=True, related_name="join_events"
    )
    source = models.CharField(max_length=20, choices=JoinSource.choices)
    dedupe_key = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="join_event_delivered_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} join, appointment #{self.appointment_id}"


class TechCheckResult(models.Model):
    """One run of the tech-check page by a participant. ``details`` holds the measured
    figures (devices found, permissions, round-trip and throughput), never media."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, related_name="tech_checks"
    )
    passed = models.BooleanField()
    camera_ok = models.BooleanField(default=False)
    microphone_ok = models.BooleanField(default=False)
    browser_ok = models.BooleanField(default=False)
    network_ok = models.BooleanField(default=False)
    problems = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Tech check {'passed' if self.passed else 'failed'} (participant #{self.participant_id})"
