"""Clinician overrides (SPEC F14): switch a client-facing step off for one client or one session.

- ``step_override_set`` is the one write path (views and admin call it); audit-logged through
  django-auditlog's registration of StepOverride.
- ``OverrideLookup`` answers "is this message switched off, and by whom?" for a batch of outbox
  rows with one query (the dispatcher, the timeline).

Precedence, most specific first: appointment, then client (all the client's sessions with that
clinician), then the practice's sequence. Only "off" exists at client level; an appointment
override may be "on" to undo a client-level "off" for one session. Overrides never send what
the client refused: their opt-outs, consent and quiet hours are checked after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from messaging.models import Audience, OutboxMessage, Step, StepOverride
from practice.models import Client, ClinicianProfile
from scheduling.models import Appointment

OFF, ON = "off", "on"


def overridable_steps(sequence) -> list[Step]:
    """The steps an override may switch: active, client-facing, in sequence order."""
    return list(sequence.steps.filter(is_active=True, audience=Audience.CLIENT).order_by("position", "pk"))


def _setter_name(by, clinician: ClinicianProfile) -> str:
    if by is not None and clinician.user_id == by.pk:
        return clinician.display_name
    return getattr(by, "full_name", "") or "staff"


def _validate(*, step: Step, client: Client, clinician: ClinicianProfile, appointment, state) -> None:
    practice_id = client.practice_id
    if step.sequence.practice_id != practice_id or clinician.practice_id != practice_id:
        raise ValidationError("The step, the client and the clinician must belong to the same practice.")
    if step.audience != Audience.CLIENT or not step.is_active:
        raise ValidationError({"step": "Only active steps that go to clients can be switched."})
    if state not in (OFF, ON, None):
        raise ValidationError({"state": "Choose off, on, or back to the default."})
    if appointment is None:
        if state == ON:
            raise ValidationError({"state": "For all sessions a step can only be switched off."})
        return
    if appointment.practice_id != practice_id or appointment.clinician_id != clinician.pk:
        raise ValidationError("The session must be this clinician's, in the same practice.")
    if not appointment.participants.filter(client=client).exists():
        raise ValidationError({"client": "The client does not attend this session."})


def step_override_set(
    *,
    step: Step,
    client: Client,
    clinician: ClinicianProfile,
    appointment: Appointment | None = None,
    state: str | None,
    by,
    now: datetime,
) -> StepOverride | None:
    """Switch ``step`` off (or, for one session, on) for ``client``, or clear the override
    (``state=None``: back to what the next level says). Returns the override, or None if cleared."""
    _validate(step=step, client=client, clinician=clinician, appointment=appointment, state=state)
    scope = {"step": step, "client": client, "clinician": clinician, "appointment": appointment}
    with transaction.atomic():
        existing = StepOverride.objects.select_for_update().filter(**scope).first()
        if state is None:
            if existing is not None:
                existing.delete()  # auditlog records the deletion with the actor
            return None
        enabled = state == ON
        if existing is not None and existing.enabled == enabled:
            return existing
        override = existing or StepOverride(practice_id=client.practice_id, **scope)
        override.enabled = enabled
        override.set_by = by
        override.set_by_name = _setter_name(by, clinician)
        override.updated_at = now
        override.save()
        return override


class OverrideLookup:
    """The overrides that bear on a set of outbox rows, loaded with one query."""

    def __init__(self, overrides: Iterable[StepOverride]):
        self._by_session: dict[tuple[int, int, int], StepOverride] = {}
        self._by_client: dict[tuple[int, int, int], StepOverride] = {}
        for override in overrides:
            if override.appointment_id:
                self._by_session[(override.appointment_id, override.client_id, override.step_id)] = override
            else:
                self._by_client[(override.clinician_id, override.client_id, override.step_id)] = override

    @classmethod
    def for_messages(cls, messages: Iterable[OutboxMessage]) -> OverrideLookup:
        relevant = [
            m
            for m in messages
            if m.step_id and m.participant_id and not m.recipient_key.startswith(Audience.CLINICIAN)
        ]
        if not relevant:
            return cls([])
        # Overrides are exceptions a clinician sets by hand: few per practice. Loading the
        # batch's practices' overrides for its steps is one small query, and the lookup's keys
        # pick the ones that apply; filtering by every session, client and clinician id of a
        # burst batch made a query of thousands of parameters that took longer to build than to run.
        query = StepOverride.objects.filter(
            practice_id__in={m.practice_id for m in relevant}, step_id__in={m.step_id for m in relevant}
        )
        return cls(query)

    def switched_off(self, message: OutboxMessage) -> StepOverride | None:
        """The override that switches this row off, or None (no override, or on for the session)."""
        if not message.step_id or message.participant_id is None:
            return None
        if message.recipient_key.startswith(Audience.CLINICIAN):
            return None
        client_id = message.participant.client_id
        session = self._by_session.get((message.appointment_id, client_id, message.step_id))
        if session is not None:
            return None if session.enabled else session
        return self._by_client.get((message.appointment.clinician_id, client_id, message.step_id))


def override_reason(override: StepOverride) -> str:
    return f"Switched off by {override.set_by_name} for {override.scope_label}."
