"""The waitlist's rows (issue 16). Rules about one row are methods here or pure functions in
``waitlist.policy``; every write goes through ``waitlist.services``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from practice.models import Client, ClinicianProfile, Practice, PracticeScopedQuerySet
from scheduling.models import Appointment, Hold, ServiceType


class WaitlistSettings(models.Model):
    """A practice's waitlist policy. The defaults are the issue's numbers (docs/waitlist.md)."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="waitlist_settings")
    enabled = models.BooleanField(default=True, help_text="Offer freed slots to the waitlist by itself.")
    min_lead_minutes = models.PositiveSmallIntegerField(
        default=120, help_text="Nothing is offered for slots starting sooner than this."
    )
    # Waves by lead time: (size, hold minutes) for >= 72 h, 24-72 h, 4-24 h, 2-4 h.
    wave_size_72h = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    hold_minutes_72h = models.PositiveSmallIntegerField(default=120, validators=[MinValueValidator(1)])
    wave_size_24h = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    hold_minutes_24h = models.PositiveSmallIntegerField(default=60, validators=[MinValueValidator(1)])
    wave_size_4h = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1)])
    hold_minutes_4h = models.PositiveSmallIntegerField(default=15, validators=[MinValueValidator(1)])
    wave_size_2h = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1)])
    hold_minutes_2h = models.PositiveSmallIntegerField(default=10, validators=[MinValueValidator(1)])
    offers_per_client_per_day = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    expired_in_a_row_to_pause = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1)])
    aging_days = models.PositiveSmallIntegerField(
        default=21,
        validators=[MinValueValidator(1)],
        help_text="An entry waiting this long moves up one band.",
    )
    max_cascade_steps = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="How many times a slot freed by a client moving up is offered on in turn.",
    )

    class Meta:
        verbose_name = "waitlist settings"
        verbose_name_plural = "waitlist settings"

    def __str__(self) -> str:
        return f"Waitlist settings of practice #{self.practice_id}"

    @classmethod
    def for_practice(cls, practice: Practice) -> WaitlistSettings:
        """The practice's settings, or an unsaved row with the defaults (nothing is written)."""
        found = cls.objects.filter(practice=practice).first()
        return found if found is not None else cls(practice=practice)


class Band(models.TextChoices):
    URGENT = "urgent", "Urgent"
    SOON = "soon", "Soon"
    ROUTINE = "routine", "Routine"


class EntryStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    FULFILLED = "fulfilled", "Fulfilled"
    REMOVED = "removed", "Removed"
    EXPIRED = "expired", "Expired"


class WaitlistEntry(models.Model):
    """A client waiting for a time: which service, how, with whom, on which days and hours of
    their own clock, between which dates; or an earlier time than a session they already have."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="waitlist_entries")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="waitlist_entries")
    # RESTRICT, not PROTECT: a service in use cannot be deleted, but a practice deleted whole takes
    # its rows with it.
    service_type = models.ForeignKey(ServiceType, on_delete=models.RESTRICT, related_name="+")
    modality = models.CharField(max_length=20, blank=True, help_text="Empty: either.")
    clinicians = models.ManyToManyField(
        ClinicianProfile, blank=True, related_name="+", help_text="None chosen: any who offers the service."
    )
    # Python weekdays (0 = Monday); empty: any day.
    weekdays = models.JSONField(default=list, blank=True)
    # [["09:00", "12:00"], ...] on the client's clock; empty: any time.
    time_windows = models.JSONField(default=list, blank=True)
    earliest_date = models.DateField(null=True, blank=True)
    latest_date = models.DateField(null=True, blank=True, help_text="The entry expires after this date.")
    earlier_than = models.ForeignKey(
        Appointment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Their current session: offer them an earlier time and move it.",
    )
    band = models.CharField(max_length=10, choices=Band.choices, default=Band.ROUTINE)
    status = models.CharField(max_length=10, choices=EntryStatus.choices, default=EntryStatus.ACTIVE)
    expired_in_a_row = models.PositiveSmallIntegerField(default=0)
    note = models.CharField(max_length=200, blank=True, help_text="Administrative only.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "waitlist entries"
        indexes = [
            # Read by waitlist.services._candidates: a practice's active entries for a service.
            models.Index(
                fields=["practice", "service_type"],
                condition=models.Q(status="active"),
                name="waitlist_active_by_service",
            ),
            # Read by the minute sweep: entries that may be past their latest date (without it
            # the sweep joined every entry to its client and practice each minute: 95 ms in B6).
            models.Index(
                fields=["latest_date"],
                condition=models.Q(status__in=["active", "paused"], latest_date__isnull=False),
                name="waitlist_entry_may_expire",
            ),
        ]

    def __str__(self) -> str:
        return f"Waitlist entry #{self.pk} ({self.status})"

    def windows(self) -> list[tuple[time, time]]:
        return [(time.fromisoformat(start), time.fromisoformat(end)) for start, end in self.time_windows]

    def accepts(self, *, starts_at: datetime, ends_at: datetime, tz) -> bool:
        """Whether a slot suits this entry's days, hours (on ``tz``, the client's clock) and dates."""
        start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
        day: date = start.date()
        if self.weekdays and day.weekday() not in self.weekdays:
            return False
        if self.earliest_date and day < self.earliest_date:
            return False
        if self.latest_date and day > self.latest_date:
            return False
        windows = self.windows()
        return not windows or any(
            w_start <= start.time() and (end.time() <= w_end or (end.date() > day and w_end == time(0)))
            for w_start, w_end in windows
        )

    def waiting(self, now: datetime) -> timedelta:
        return now - self.created_at


class SlotStatus(models.TextChoices):
    OFFERING = "offering", "Being offered"
    FILLED = "filled", "Refilled"
    UNFILLED = "unfilled", "Not refilled"


class SlotSource(models.TextChoices):
    CANCELLED = "cancelled", "Cancellation"
    MOVED = "moved", "Session moved"
    REQUEST_DECLINED = "request_declined", "Booking request declined"
    REQUEST_EXPIRED = "request_expired", "Booking request expired"
    TIME_OFF_REMOVED = "time_off_removed", "Time off removed"
    HOURS_ADDED = "hours_added", "New weekly hours"


class FreedSlot(models.Model):
    """Time given back (a cancellation, a move, a declined or expired booking request, a removed
    time off, new weekly hours), being offered to the waitlist in waves. One hold
    (``scheduling.models.Hold``) keeps it while a wave is out; every offer of the wave shares it."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="+")
    # RESTRICT, not PROTECT: a service in use cannot be deleted, but a practice deleted whole takes
    # its rows with it.
    service_type = models.ForeignKey(ServiceType, on_delete=models.RESTRICT, related_name="+")
    # Empty: either of the clinician's modalities (time freed by hours or time off, not by a session).
    modality = models.CharField(max_length=20, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    freed_at = models.DateTimeField()
    source = models.CharField(max_length=20, choices=SlotSource.choices, default=SlotSource.CANCELLED)
    source_appointment = models.OneToOneField(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Time not freed by a session: what freed it and the start ("booking_request:40",
    # "time_off:12:2026-05-08T14:00:00+00:00"), so the same change is never offered twice.
    source_key = models.CharField(max_length=80, blank=True)
    # 1 for a cancellation; n + 1 for the slot a client moving up left behind (at most the setting).
    step = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=SlotStatus.choices, default=SlotStatus.OFFERING)
    reason = models.CharField(max_length=200, blank=True)
    wave = models.PositiveSmallIntegerField(default=0)
    # Nobody could be offered it yet (quiet hours, a live offer of another slot, the day's limit):
    # the earliest moment that can change. The sweep leaves the slot alone until then (or until an
    # offer ends early or someone joins the waitlist, which bring it forward).
    retry_at = models.DateTimeField(null=True, blank=True)
    hold = models.ForeignKey(Hold, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    filled_appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    settled_at = models.DateTimeField(null=True, blank=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key"], condition=~models.Q(source_key=""), name="freed_slot_once_per_source"
            )
        ]
        indexes = [
            # Read by waitlist.services.waitlist_sweep: the slots still being offered.
            models.Index(
                fields=["starts_at"], condition=models.Q(status="offering"), name="freed_slot_offering"
            ),
        ]

    def __str__(self) -> str:
        return f"Freed slot #{self.pk} at {self.starts_at:%Y-%m-%d %H:%M} UTC ({self.status})"

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class OfferStatus(models.TextChoices):
    LIVE = "live", "Waiting for the client"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    # Someone else took the slot first, or staff withdrew the offer ("skip this client").
    TAKEN = "taken", "Taken by someone else"
    SKIPPED = "skipped", "Skipped by staff"


class Offer(models.Model):
    """One client's offer of one freed slot, in one wave. The link carries a token; only its hash
    is kept. At most one live offer per client (the database says so)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    slot = models.ForeignKey(FreedSlot, on_delete=models.CASCADE, related_name="offers")
    hold = models.ForeignKey(Hold, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    wave = models.PositiveSmallIntegerField()
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=OfferStatus.choices, default=OfferStatus.LIVE)
    sent_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["client"], condition=models.Q(status="live"), name="offer_one_live_per_client"
            ),
            models.UniqueConstraint(fields=["slot", "entry"], name="offer_once_per_slot_and_entry"),
        ]
        indexes = [
            # Read by the per-day limit: a client's offers by time.
            models.Index(fields=["client", "sent_at"], name="offer_by_client"),
            # Read by the sweep and its next-event clock: the live offers by expiry.
            models.Index(
                fields=["expires_at"], condition=models.Q(status="live"), name="offer_live_by_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"Offer #{self.pk} ({self.status})"

    def is_live_at(self, when: datetime) -> bool:
        return self.status == OfferStatus.LIVE and when < self.expires_at


class MessageState(models.TextChoices):
    PLANNED = "planned", "Planned"
    CLAIMED = "claimed", "Claimed"
    SENDING = "sending", "Sending"
    ACCEPTED = "accepted", "Accepted by the provider"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown (never resent)"
    SKIPPED = "skipped", "Skipped"


class OfferMessage(models.Model):
    """The waitlist's own small outbox: one row per message, sent at most once (unique ``key``),
    claimed by a conditional UPDATE with a lease, sent after the claim commits, through the same
    channel backends as reminders (messaging.backends). See docs/waitlist.md for why not
    messaging's outbox. The body (which carries the offer link) is cleared once sent."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="messages")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, null=True, blank=True, related_name="messages")
    key = models.CharField(max_length=60, unique=True)
    channel = models.CharField(max_length=10)  # "sms" or "email"
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=MessageState.choices, default=MessageState.PLANNED)
    reason = models.CharField(max_length=300, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "pk"]
        indexes = [
            # Read by waitlist.services.offer_messages_dispatch: what is due now.
            models.Index(fields=["due_at"], condition=models.Q(state="planned"), name="offer_message_due"),
            # Its look for lapsed leases (claimed or sending): a few rows, not the whole table.
            models.Index(
                fields=["lease_until"],
                condition=models.Q(state__in=["claimed", "sending"]),
                name="offer_message_leased",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} by {self.channel} ({self.state})"
