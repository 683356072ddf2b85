"""Appointments, their participants and attendance, service types and recurring series.

Rules about one appointment (may it still be cancelled? is the cancellation late?) are
methods here; writes that touch several rows live in ``scheduling.services``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from practice.models import Client, ClinicianProfile, Modality, Practice, PracticeScopedQuerySet


class ServiceType(models.Model):
    """What kind of session is booked (e.g. 90834 individual psychotherapy, 45 min)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="service_types")
    name = models.CharField(max_length=100)
    code = models.CharField(max_length=20, blank=True, help_text="Billing code, e.g. CPT 90834.")
    default_minutes = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    default_fee = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_group = models.BooleanField(default=False, help_text="Sessions of this type take several clients.")
    is_active = models.BooleanField(default=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["practice", "name"], name="service_type_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})" if self.code else self.name


class AppointmentSource(models.TextChoices):
    STAFF = "staff", "Staff"
    CLIENT_BOOKING = "client_booking", "Client booking page"
    API = "api", "API"
    EHR_IMPORT = "ehr_import", "EHR import"


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CONFIRMED = "confirmed", "Confirmed"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No-show"
    RESCHEDULED = "rescheduled", "Rescheduled"


# An appointment in one of these states holds its clinician's time (and its clients' time): no
# other appointment or hold may overlap it. The PostgreSQL exclusion constraint and the SQLite
# triggers in migrations scheduling/0002 and 0012 use the same list; change them together.
SLOT_HOLDING_STATUSES = (
    AppointmentStatus.SCHEDULED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.IN_PROGRESS,
)
UPCOMING_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)

# Which status may follow which. Terminal states have no successors.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    AppointmentStatus.SCHEDULED: frozenset(
        {
            AppointmentStatus.CONFIRMED,
            AppointmentStatus.IN_PROGRESS,
            AppointmentStatus.CANCELLED,
            AppointmentStatus.NO_SHOW,
            AppointmentStatus.RESCHEDULED,
            AppointmentStatus.COMPLETED,
        }
    ),
    AppointmentStatus.CONFIRMED: frozenset(
        {
            AppointmentStatus.IN_PROGRESS,
            AppointmentStatus.CANCELLED,
            AppointmentStatus.NO_SHOW,
            AppointmentStatus.RESCHEDULED,
            AppointmentStatus.COMPLETED,
        }
    ),
    AppointmentStatus.IN_PROGRESS: frozenset({AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}),
    # Staff correct attendance both ways (the client did attend after all, or did not).
    AppointmentStatus.NO_SHOW: frozenset({AppointmentStatus.COMPLETED, AppointmentStatus.IN_PROGRESS}),
    AppointmentStatus.COMPLETED: frozenset({AppointmentStatus.NO_SHOW}),
    AppointmentStatus.CANCELLED: frozenset(),
    AppointmentStatus.RESCHEDULED: frozenset(),
}


class Frequency(models.TextChoices):
    WEEKLY = "weekly", "Every week"
    BIWEEKLY = "biweekly", "Every 2 weeks"

    @property
    def interval(self) -> timedelta:
        return timedelta(weeks=1 if self is Frequency.WEEKLY else 2)


class Series(models.Model):
    """A recurring booking. Occurrences are ordinary appointments that point back here, so a
    single occurrence can be cancelled or moved (an exception) without touching the others."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="series")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.PROTECT, related_name="series")
    frequency = models.CharField(max_length=10, choices=Frequency.choices)
    first_starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    occurrences = models.PositiveSmallIntegerField(validators=[MinValueValidator(2), MaxValueValidator(52)])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "series"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_frequency_display()} with {self.clinician} x {self.occurrences}"


class AppointmentQuerySet(PracticeScopedQuerySet):
    def holding_slot(self):
        return self.filter(status__in=SLOT_HOLDING_STATUSES)

    def overlapping(self, *, clinician_id: int, starts_at: datetime, ends_at: datetime):
        """Appointments of the clinician that hold time overlapping [starts_at, ends_at)."""
        return self.holding_slot().filter(
            clinician_id=clinician_id, starts_at__lt=ends_at, ends_at__gt=starts_at
        )

    def visible_to(self, membership):
        """What a staff member may see: clinicians see their own sessions only."""
        qs = self.for_practice(membership.practice)
        if membership.role == "clinician":
            qs = qs.filter(clinician__user=membership.user)
        return qs


class Appointment(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="appointments")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.PROTECT, related_name="appointments")
    clients = models.ManyToManyField(Client, through="AppointmentParticipant", related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    service_type = models.ForeignKey(ServiceType, on_delete=models.PROTECT, related_name="appointments")
    modality = models.CharField(max_length=12, choices=Modality.choices, default=Modality.TELEHEALTH)
    fee = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    status = models.CharField(
        max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    source = models.CharField(
        max_length=20, choices=AppointmentSource.choices, default=AppointmentSource.STAFF
    )
    external_source = models.CharField(
        max_length=40, blank=True, help_text="The system the external id is from, e.g. the EHR's name."
    )
    external_id = models.CharField(max_length=100, blank=True)
    series = models.ForeignKey(
        Series, on_delete=models.SET_NULL, null=True, blank=True, related_name="appointments"
    )
    rescheduled_from = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rescheduled_to"
    )
    # "This and following": the sessions moved in one go after the first of them point to it, so
    # the client hears of the move once (the first's message lists the others), not per session.
    moved_with = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="moved_along"
    )

    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancelled_by_client = models.BooleanField(default=False)
    is_late_cancel = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="appointment_ends_after_start"
            ),
            # An EHR may push the same appointment again: (source, external source, external
            # id) finds it (scheduling.sync). A rescheduled appointment hands its external id
            # on to its replacement.
            models.UniqueConstraint(
                fields=["practice", "source", "external_source", "external_id"],
                condition=~models.Q(external_id="") & ~models.Q(status="rescheduled"),
                name="appointment_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "starts_at"]),
            models.Index(fields=["clinician", "starts_at"]),
        ]

    def __str__(self) -> str:
        # No client names: appointments appear in logs and audit entries.
        return f"Appointment #{self.pk} with {self.clinician} at {self.starts_at:%Y-%m-%d %H:%M} UTC"

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def is_group(self) -> bool:
        return self.participants.count() > 1

    def can_become(self, status: str) -> bool:
        return status in STATUS_TRANSITIONS[self.status]

    @property
    def is_upcoming(self) -> bool:
        return self.status in UPCOMING_STATUSES

    def is_late_cancel_at(self, when: datetime) -> bool:
        """Would cancelling at ``when`` fall inside the practice's late-cancel window?"""
        window = timedelta(hours=self.practice.late_cancel_window_hours)
        return when > self.starts_at - window

    def local_starts_at(self):
        return self.starts_at.astimezone(self.practice.zoneinfo)

    def local_ends_at(self):
        return self.ends_at.astimezone(self.practice.zoneinfo)


class Attendance(models.TextChoices):
    EXPECTED = "expected", "Expected"
    ATTENDED = "attended", "Attended"
    LATE = "late", "Attended late"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


class AppointmentParticipant(models.Model):
    """One client in an appointment (several in a group session), with their attendance."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="participants")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="participations")
    attendance = models.CharField(max_length=10, choices=Attendance.choices, default=Attendance.EXPECTED)
    joined_at = models.DateTimeField(null=True, blank=True)
    attendance_marked_at = models.DateTimeField(null=True, blank=True)
    attendance_marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attendance_note = models.CharField(max_length=300, blank=True)
    # Set once by the lifecycle sweep when the client had not joined 5 minutes in (SPEC F9 step 6),
    # so a late-arrival item resolved by staff is not raised again a minute later.
    late_flagged_at = models.DateTimeField(null=True, blank=True)
    # A client is never in two live sessions at once (migration scheduling 0012 refuses it),
    # unless staff book a real exception: the reason is kept here, audit-logged with the row,
    # and a row with a reason is left out of that rule.
    overlap_reason = models.CharField(
        max_length=300, blank=True, help_text="Why this client may be in another session at this time."
    )

    class Meta:
        ordering = ["appointment", "client__last_name", "client__first_name"]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "client"], name="participant_once_per_appointment")
        ]

    def __str__(self) -> str:
        return f"Participant #{self.pk} in appointment #{self.appointment_id}"

    def no_show_fee_applies(self) -> bool:
        """A no-show fee is charged (and announced) only when the practice has one and this client
        signed the no-show policy."""
        return (
            self.appointment.practice.no_show_fee > 0 and self.client.no_show_policy_accepted_on is not None
        )


class FollowUpKind(models.TextChoices):
    TECH_CHECK_FAILED = "tech_check_failed", "Tech check failed: client may need help"
    MEETING_FAILED = "meeting_failed", "Telehealth link could not be created"
    LATE_ARRIVAL = "late_arrival", "Client late"
    NO_SHOW = "no_show", "No-show to follow up"
    UNDELIVERABLE = "undeliverable", "Contact undeliverable"
    MESSAGE_PROBLEM = "message_problem", "Message failed or unknown"
    BOOKING_REQUESTED = "booking_requested", "Client asked to book their next session"
    RESCHEDULE_REQUESTED = "reschedule_requested", "Client asked to reschedule"
    CONSENT_MISSING = "consent_missing", "Required consent not signed"


class FollowUpQuerySet(PracticeScopedQuerySet):
    def open(self):
        return self.filter(resolved_at__isnull=True)


class FollowUp(models.Model):
    """An item in a staff queue: something about a session that a person should look at.

    Raised by the system (a failed tech check, a meeting that could not be created, …) and
    resolved by staff with a note. One open item per (appointment, participant, kind)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="follow_ups")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="follow_ups")
    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, null=True, blank=True, related_name="follow_ups"
    )
    kind = models.CharField(max_length=30, choices=FollowUpKind.choices)
    detail = models.CharField(
        max_length=300, blank=True, help_text="Administrative detail only; never clinical information."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution_note = models.CharField(max_length=300, blank=True)
    source = models.CharField(
        max_length=60,
        blank=True,
        help_text="What raised it, when one thing raises one item for good (e.g. outbox:<id>): "
        "resolving it is final, the same source never raises it again.",
    )

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "participant", "kind"],
                # Items with a source are one per source (each failed message is its own item).
                condition=models.Q(resolved_at__isnull=True, source=""),
                name="follow_up_one_open_per_kind",
            ),
            models.UniqueConstraint(
                fields=["practice", "source"],
                condition=~models.Q(source=""),
                name="follow_up_once_per_source",
            ),
        ]
        # The open-queue pages list a practice's unresolved items newest first.
        indexes = [
            models.Index(
                fields=["practice", "kind", "-created_at"],
                condition=models.Q(resolved_at__isnull=True),
                name="follow_up_open_queue",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (appointment #{self.appointment_id})"


class IdempotencyRecord(models.Model):
    """An ``Idempotency-Key`` an API client sent with a creating request (SPEC F19).

    The row is inserted in the same transaction as the object it creates, before the
    service runs, so the unique constraint makes a concurrent duplicate wait and then see
    the committed record instead of creating a second object; a request that fails rolls
    its record back and the key stays free. Only a hash of the request and the id of what
    was created are kept, never a copy of the body (which may hold client data).
    Written and read only by ``scheduling.api.idempotency``.
    """

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and request body.")
    resource_type = models.CharField(max_length=30)
    resource_id = models.PositiveBigIntegerField(null=True)
    status_code = models.PositiveSmallIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["practice", "key"], name="idempotency_key_unique_per_practice")
        ]
        # Read by scheduling.api.idempotency.idempotency_records_purge: records past their day.
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"Idempotency key for {self.resource_type} #{self.resource_id}"


# --- What clients did, and what was done for them (scheduling.client_actions) ---------------------


class ActivityKind(models.TextChoices):
    CONFIRMED = "confirmed", "Client confirmed"
    RESCHEDULE_REQUESTED = "reschedule_requested", "Client asked to reschedule"
    CANCELLED = "cancelled", "Client cancelled"
    REPLIED = "replied", "Client replied"
    CHECK_IN_SENT = "check_in_sent", "“Are you OK to continue?” text sent"
    NO_SHOW_MARKED = "no_show_marked", "Marked no-show"
    NO_SHOW_REVERSED = "no_show_reversed", "No-show reversed"
    MOVED = "moved", "Client moved the session"


class ActivityChannel(models.TextChoices):
    SMS = "sms", "Text reply"
    LINK = "link", "Session link"
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System"


class AppointmentActivity(models.Model):
    """One entry of a session's client timeline: a confirmation, a reschedule request, a
    cancellation or a free-text reply from the client, with the channel it came by, and the
    related staff and system actions (check-in text, no-show marked or reversed).

    ``body`` holds a client's free-text reply. It may contain anything the client wrote, so it is
    kept in this table only: never logged, never copied into the audit log (excluded there),
    never sent anywhere."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="activities")
    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, null=True, blank=True, related_name="activities"
    )
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    channel = models.CharField(max_length=10, choices=ActivityChannel.choices)
    body = models.TextField(blank=True)
    detail = models.CharField(max_length=300, blank=True, help_text="Administrative detail only.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The provider's id of the inbound text (Twilio MessageSid): a re-delivered webhook is
    # recognised and records nothing twice.
    external_id = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "appointment activities"
        constraints = [
            models.UniqueConstraint(
                fields=["external_id", "participant"],
                condition=~models.Q(external_id=""),
                name="activity_once_per_inbound_message",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (appointment #{self.appointment_id})"


class ManageLinkQuerySet(models.QuerySet):
    def valid(self, now: datetime):
        return self.filter(expires_at__gt=now)


class ManageLink(models.Model):
    """An opaque link to a client's page for one session, /a/<token>: confirm, ask to reschedule,
    cancel (or, after a no-show, ask for a new time). 192 random bits handed out once in a
    message; only the SHA-256 is stored, so a copy of the database opens nothing."""

    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, related_name="manage_links"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = ManageLinkQuerySet.as_manager()

    class Meta:
        indexes = [
            # For pruning expired links.
            models.Index(fields=["expires_at"], name="manage_link_expiry"),
        ]

    def __str__(self) -> str:
        return f"Session link of participant #{self.participant_id} until {self.expires_at:%Y-%m-%d %H:%M}"
