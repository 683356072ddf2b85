"""Clinician overrides (SPEC F14): a client-facing step switched off for one client or one session.

Precedence, most specific first: an override for the appointment, then one for the client (all of
their sessions with that clinician), then the practice's sequence. An appointment override can
switch a step back *on* for that session when the client-level one switched it off; it can never
send what the client refused (their opt-outs, consent and quiet hours still apply) or a step the
practice switched off. Written through ``messaging.overrides`` only; audit-logged.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from messaging.models.engine import Step
from practice.models import Client, ClinicianProfile, Practice, PracticeScopedQuerySet
from scheduling.models import Appointment


class StepOverride(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="overrides")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="step_overrides")
    # Whose sessions a client-level override covers; for an appointment override, its clinician.
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="step_overrides")
    appointment = models.ForeignKey(
        Appointment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="step_overrides",
        help_text="Empty: every session of this client with this clinician.",
    )
    enabled = models.BooleanField(
        default=False, help_text="Off, or (for one session only) back on despite a client-level override."
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Who the timeline names ("switched off by Dr. Smith"): the clinician's display name when they
    # set it themselves, else the staff member's name; kept so it survives a renamed account.
    set_by_name = models.CharField(max_length=150)
    updated_at = models.DateTimeField()

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinician", "client", "step"],
                condition=models.Q(appointment__isnull=True),
                name="step_override_once_per_client",
            ),
            models.UniqueConstraint(
                fields=["appointment", "client", "step"],
                condition=models.Q(appointment__isnull=False),
                name="step_override_once_per_session",
            ),
            models.CheckConstraint(
                condition=models.Q(appointment__isnull=False) | models.Q(enabled=False),
                name="step_override_client_level_is_off",
            ),
        ]

    def __str__(self) -> str:
        scope = f"appointment #{self.appointment_id}" if self.appointment_id else "all sessions"
        return f"{self.step} {'on' if self.enabled else 'off'} for client #{self.client_id} ({scope})"

    @property
    def scope_label(self) -> str:
        return "this session" if self.appointment_id else "this client"
