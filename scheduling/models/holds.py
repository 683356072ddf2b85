"""Holds on a clinician's time and each practice's booking policy (issue 15).

A **hold** keeps a slot for someone who has not booked yet: a booking request waiting for the
practice, a waitlist offer waiting for the client. It is a row with an expiry, not a flag on a
slot, and it falls under the same no-double-booking rule as appointments: no two holds, and no
hold and a live session, ever overlap in one clinician's calendar (migration scheduling 0012:
an exclusion constraint between holds, and triggers between holds and sessions on PostgreSQL;
triggers on SQLite). An expired hold no longer keeps anyone out: the services drop it before
they book over it, and ``holds_sweep_expired`` removes the rest.

The **booking policy** is the practice's settings for open slots and self-service moves. It is
a scheduling row one-to-one with the practice (the practice app knows nothing of scheduling);
a practice without a row has the defaults (``BookingPolicy.for_practice``), so reading a policy
never writes one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from practice.models import Client, ClinicianProfile, Practice, PracticeScopedQuerySet


class BookingPolicy(models.Model):
    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="booking_policy")
    buffer_minutes = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(120)],
        help_text="Free minutes kept before and after every session and hold when offering slots.",
    )
    new_client_notice_hours = models.PositiveSmallIntegerField(
        default=24,
        validators=[MaxValueValidator(24 * 14)],
        help_text="How far ahead a new client may book at the earliest.",
    )
    move_notice_hours = models.PositiveSmallIntegerField(
        default=2,
        validators=[MaxValueValidator(24 * 14)],
        help_text="How far ahead a client may move a session to, at the earliest.",
    )
    horizon_days = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="How far ahead clients may book or move to, at the latest.",
    )
    clients_may_reschedule = models.BooleanField(
        default=True, help_text="Clients may pick a new time themselves from their session link."
    )
    max_moves_per_session = models.PositiveSmallIntegerField(
        default=2, help_text="How often a client may move one session themselves."
    )
    max_moves_per_client = models.PositiveSmallIntegerField(
        default=4, help_text="How many sessions a client may move themselves in 30 days."
    )
    clients_may_change_clinician = models.BooleanField(
        default=False, help_text="A client moving a session may pick another clinician's time."
    )

    class Meta:
        verbose_name = "booking policy"
        verbose_name_plural = "booking policies"

    def __str__(self) -> str:
        return f"Booking policy of practice #{self.practice_id}"

    @classmethod
    def for_practice(cls, practice: Practice) -> BookingPolicy:
        """The practice's policy, or an unsaved one with the defaults (nothing is written)."""
        policy = cls.objects.filter(practice=practice).first()
        return policy if policy is not None else cls(practice=practice)

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)


class HoldKind(models.TextChoices):
    BOOKING_REQUEST = "booking_request", "Booking request"
    WAITLIST_OFFER = "waitlist_offer", "Waitlist offer"


class HoldQuerySet(PracticeScopedQuerySet):
    def unexpired(self, now: datetime):
        return self.filter(expires_at__gt=now)

    def overlapping(self, *, clinician_id: int, starts_at: datetime, ends_at: datetime):
        return self.filter(clinician_id=clinician_id, starts_at__lt=ends_at, ends_at__gt=starts_at)


class Hold(models.Model):
    """A clinician's time kept for someone until ``expires_at``. Placed, released and swept by
    ``scheduling.services`` (``hold_place``, ``hold_release``, ``holds_sweep_expired``)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="holds")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="holds")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True, related_name="holds")
    kind = models.CharField(max_length=20, choices=HoldKind.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True, help_text="Administrative only.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = HoldQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="hold_ends_after_start"
            )
        ]
        indexes = [
            # Read by the slot search and the booking services: a clinician's holds in a range.
            models.Index(fields=["clinician", "starts_at"], name="hold_by_clinician"),
            # Read by holds_sweep_expired: holds past their expiry.
            models.Index(fields=["expires_at"], name="hold_by_expiry"),
        ]

    def __str__(self) -> str:
        return f"Hold #{self.pk} ({self.kind}) at {self.starts_at:%Y-%m-%d %H:%M} UTC"

    def is_expired_at(self, when: datetime) -> bool:
        return when >= self.expires_at
