"""The reminder engine's data: sequences of steps, and the outbox of planned messages.

A sequence is data (ordered steps with an anchor, an offset, a channel, a template and
conditions). Planning turns (appointment, recipient, step) into one ``OutboxMessage`` with a UTC
due time; dispatch moves it through its states. The outbox is the source of truth: django-q2 is
only the clock that runs the dispatcher.
"""

from __future__ import annotations

from datetime import time

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models

from messaging.content import template_errors
from practice.models import Practice, PracticeScopedQuerySet
from scheduling.models import Appointment, AppointmentParticipant


class Anchor(models.TextChoices):
    BOOKING = "booking", "When booked"
    START = "start", "Session start"
    END = "end", "Session end"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"
    PUSH = "push", "Web push"


class Audience(models.TextChoices):
    CLIENT = "client", "Client"
    CLINICIAN = "clinician", "Clinician"


class Condition(models.TextChoices):
    """Conditions a step may require. Those about the session's type hold or not when planning;
    those about what the client did are checked again when the message is due."""

    TELEHEALTH_ONLY = "telehealth_only", "Telehealth sessions only"
    IN_PERSON_ONLY = "in_person_only", "In-person sessions only"
    TECH_CHECK_NOT_PASSED = "tech_check_not_passed", "Only if the tech check has not passed"
    NOT_JOINED = "not_joined", "Only if the client has not joined"
    NOT_CONFIRMED = "not_confirmed", "Only if the session is not confirmed"
    NOT_NO_SHOW = "not_no_show", "Only if the client was not a no-show"


def default_languages() -> list[str]:
    return ["en"]


# A holdout withholds a reminder from real clients: kept small so most of them still get it.
MAX_HOLDOUT_PERCENT = 30


class Sequence(models.Model):
    """A practice's reminder sequence and its practice-wide messaging settings. Every practice
    has exactly one (made on first use)."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="sequence")
    # Practice-wide quiet hours on the *client's* wall clock (docs/preferences.md): no texts or
    # push notifications then, except urgent steps. Both empty: no practice quiet hours.
    # 21:00-08:00 by default, the hours US rules (TCPA) and most practices treat as night.
    quiet_start = models.TimeField(
        null=True, blank=True, default=time(21, 0), help_text="No texts from this time (client's clock)."
    )
    quiet_end = models.TimeField(
        null=True, blank=True, default=time(8, 0), help_text="… until this time. Leave both empty for none."
    )
    languages = models.JSONField(
        default=default_languages,
        blank=True,
        help_text='Languages clients may choose for their messages, the default first, e.g. ["en", "es"]. '
        "The steps' own texts are in the default language; other languages come from each step's "
        "translations.",
    )
    # The practice's own words for the automatic texts (answers to C, R, HELP, STOP… and the no-show
    # notice), {key: {language: {"subject": "…", "body": "…"}}}; a key or language not here uses
    # the default text (messaging.auto_texts), checked against the same whitelist as the steps.
    auto_texts = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PracticeScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Reminder sequence of {self.practice}"


class Step(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(
        max_length=40, help_text="Stable name of the step, e.g. t15_sms. Outbox rows point at the step."
    )
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    anchor = models.CharField(max_length=10, choices=Anchor.choices)
    offset_minutes = models.IntegerField(
        default=0,
        help_text="Minutes after the anchor (negative: before). Whole days keep the recipient's "
        "local clock time across daylight-saving changes.",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.CLIENT)
    subject = models.CharField(max_length=200, blank=True, help_text="E-mail subject (e-mail steps).")
    body = models.TextField(help_text="Only whitelisted {{ fields }} may be used.")
    # {"es": {"subject": "…", "body": "…"}}: the step's text in the practice's other languages,
    # checked against the same whitelist; a language without one gets the default text.
    translations = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(default=list, blank=True)
    urgent = models.BooleanField(
        default=False,
        help_text="Goes out even during the client's quiet hours (e.g. the 15-minute join link).",
    )
    attach_calendar = models.BooleanField(
        default=False, help_text="Attach the session as an .ics calendar file (e-mail steps)."
    )
    is_active = models.BooleanField(default=True)
    holdout_percent = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_HOLDOUT_PERCENT)],
        help_text="Measured lift: this share of new client appointments skips the step at "
        "random, so its effect on no-shows can be measured. 0 turns the holdout off.",
    )

    class Meta:
        ordering = ["sequence", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["sequence", "key"], name="step_key_unique")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        # The content whitelist (SPEC F15) is a rule of the row: the settings page, the operator
        # console and sequence_step_update all validate the step, so every path refuses a field
        # outside it (e.g. {{ client.diagnosis }}).
        errors = {
            name: found for name in ("subject", "body") if (found := template_errors(getattr(self, name)))
        }
        if errors:
            raise ValidationError(errors, code="template_field_not_allowed")


class OutboxState(models.TextChoices):
    PLANNED = "planned", "Planned"
    CLAIMED = "claimed", "Claimed by a dispatcher"
    SENDING = "sending", "Handing to the provider"
    ACCEPTED = "accepted", "Accepted by the provider"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undeliverable"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Withdrawn"
    UNKNOWN = "unknown", "Unknown: may or may not have been sent"


# States in which a message may still go out; everything else is settled for good.
PENDING_STATES = (OutboxState.PLANNED, OutboxState.CLAIMED)


class OutboxQuerySet(PracticeScopedQuerySet):
    def pending(self):
        return self.filter(state__in=PENDING_STATES)


class OutboxMessage(models.Model):
    """One message for one recipient of one appointment from one step, sent at most once.

    The unique key is (appointment, recipient, step). A reschedule creates a new appointment row
    (scheduling.services.appointment_reschedule), so the appointment id is also its version:
    rows of the old time are withdrawn and the new appointment gets rows of its own."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    # No index of its own: the unique key (appointment, recipient_key, kind) leads with it and
    # serves every lookup by appointment; one index fewer to maintain per planned row (B2).
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="outbox_messages", db_index=False
    )
    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # "client:<participant id>" or "clinician": never null, so the unique key works everywhere.
    recipient_key = models.CharField(max_length=40)
    step = models.ForeignKey(Step, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(
        max_length=40, help_text="The step key, or a one-off notice such as cancellation_notice."
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    fallback_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fallbacks",
        help_text="The SMS this e-mail replaces after it failed or was undeliverable.",
        db_index=False,  # a partial index below: almost every row has none
    )
    due_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=OutboxState.choices, default=OutboxState.PLANNED)
    reason = models.CharField(
        max_length=300, blank=True, help_text="Why it was skipped, withdrawn or failed."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "recipient_key", "kind"], name="outbox_once_per_recipient_and_kind"
            )
        ]
        indexes = [
            # Read by messaging.dispatch.claim_due: the dispatcher's "what is due now" scan.
            models.Index(fields=["due_at"], condition=models.Q(state="planned"), name="outbox_due_planned"),
            # Read by messaging.dispatch.expire_leases: rows a dead dispatcher left behind.
            models.Index(
                fields=["lease_until"],
                condition=models.Q(state__in=["claimed", "sending"]),
                name="outbox_leased",
            ),
            # Status callbacks find their message by the provider's id (messaging.services.
            # message_record_status, which excludes the empty id). Partial: a planned row has none
            # yet, so planning (B2) does not maintain this index at all.
            models.Index(
                fields=["provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="outbox_provider_id_set",
            ),
            # The e-mail that replaced a failed SMS, and the foreign key's own checks (deleting
            # an SMS sets its fallback's pointer to NULL). Partial for the same reason.
            models.Index(
                fields=["fallback_of"],
                condition=models.Q(fallback_of__isnull=False),
                name="outbox_fallback_of_set",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.get_channel_display()} for appointment #{self.appointment_id} ({self.state})"
        )

    @property
    def display_name(self) -> str:
        """What the timeline calls it: its step's name, or the one-off notice's (e-mail fallbacks
        included)."""
        if self.step_id is not None:
            return self.step.name
        from messaging.defaults import ONE_OFF_NOTICES

        kind, _, suffix = self.kind.partition(":")
        if kind == "link_resend":  # messaging.kinds.LINK_RESEND: link_resend:1, link_resend:2, …
            return "Link resent by staff" + (
                f" (the {_ordinal(suffix)} time)" if suffix not in ("", "1") else ""
            )
        notice = ONE_OFF_NOTICES.get(kind)
        name = notice["name"] if notice else kind.replace("_", " ").capitalize()
        return name + (" (e-mail)" if suffix == "email" else "")


def _ordinal(number: str) -> str:
    if not number.isdigit():
        return number
    n = int(number)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class HoldoutAssignment(models.Model):
    """Whether one client of one appointment was held out of a step (SPEC F18), drawn once when the
    step was planned for them. Both arms are recorded, so the no-show rates with and without the
    step have honest denominators. Written by messaging.holdout, read by the metrics page."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="holdout_assignments")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(AppointmentParticipant, on_delete=models.CASCADE, related_name="+")
    held_out = models.BooleanField()
    percent = models.PositiveSmallIntegerField(help_text="The step's holdout share when this was drawn.")
    assigned_at = models.DateTimeField()

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["step", "participant"], name="holdout_once_per_step_and_participant"
            )
        ]

    def __str__(self) -> str:
        arm = "held out of" if self.held_out else "sent"
        return f"Participant #{self.participant_id} {arm} step #{self.step_id}"


class DeliveryReport(models.Model):
    """A provider status callback as received, once per (provider id, status): a re-delivered
    callback is recognised and changes nothing."""

    provider_message_id = models.CharField(max_length=100)
    status = models.CharField(max_length=30)
    error_code = models.CharField(max_length=20, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_message_id", "status"], name="delivery_report_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider_message_id}: {self.status}"


class DispatcherHeartbeat(models.Model):
    """When the dispatcher last finished a sweep, so staff can see a stalled one."""

    name = models.CharField(max_length=40, unique=True)
    last_sweep_at = models.DateTimeField()
    last_sweep_sent = models.PositiveIntegerField(default=0)
    # Held by the worker running the minute-long sweep loop (messaging.tasks), so a second
    # scheduled run does not start a second loop and occupy another worker for nothing.
    loop_lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_sweep_at:%Y-%m-%d %H:%M:%S}"
