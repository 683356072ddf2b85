"""Reminder engine actions: the only way other apps touch messaging.

- ``message_plan_for`` turns a booked appointment into outbox rows (idempotent).
- ``message_withdraw_for`` withdraws what is still pending (cancel, reschedule).
- ``message_plan_cancellation_notice`` plans the one notice a cancelled session sends.
- ``messages_dispatch_due`` runs one dispatcher sweep (messaging.dispatch).
- ``message_record_status`` applies a provider status callback.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.defaults import DEFAULT_STEPS
from messaging.models import (
    Audience,
    Channel,
    Condition,
    DeliveryReport,
    OutboxMessage,
    OutboxState,
    Sequence,
    Step,
)
from messaging.planning import applies_to_session, due_time
from practice.models import Practice
from scheduling.models import Appointment, AppointmentParticipant

logger = logging.getLogger(__name__)

CANCELLATION_NOTICE = "cancellation_notice"
FALLBACK_SUFFIX = ":email"

# Provider statuses, in the order a message moves through them. A callback never moves a
# message backwards (Twilio may deliver "sent" after "delivered").
STATUS_RANK = {
    "accepted": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
}
FINAL_STATES = {
    "delivered": OutboxState.DELIVERED,
    "undelivered": OutboxState.UNDELIVERED,
    "failed": OutboxState.UNDELIVERED,
}


# --- Sequences --------------------------------------------------------------------------------


def sequence_for(practice: Practice) -> Sequence:
    """The practice's sequence, created with the default steps (SPEC F9) on first use."""
    sequence = Sequence.objects.filter(practice=practice).first()
    if sequence is not None:
        return sequence
    try:
        with transaction.atomic():
            sequence = Sequence.objects.create(practice=practice)
            Step.objects.bulk_create(
                Step(sequence=sequence, position=index, **fields)
                for index, fields in enumerate(DEFAULT_STEPS)
            )
    except IntegrityError:
        # Another worker made it at the same moment.
        sequence = Sequence.objects.get(practice=practice)
    return sequence


# --- Planning ---------------------------------------------------------------------------------


def _recipient_keys(step: Step, participants: list[AppointmentParticipant]):
    """(recipient key, participant) pairs a step writes to. Client steps go to every participant;
    a clinician step about one client's absence (``not_joined``) is per participant, other
    clinician steps once per session."""
    if step.audience == Audience.CLIENT:
        return [(f"client:{p.pk}", p) for p in participants]
    if Condition.NOT_JOINED in (step.conditions or ()):
        return [(f"clinician:{p.pk}", p) for p in participants]
    return [("clinician", participants[0] if participants else None)]


def _recipient_zone(step: Step, participant: AppointmentParticipant | None, appointment: Appointment):
    if step.audience == Audience.CLINICIAN or participant is None:
        return appointment.clinician.zoneinfo
    return participant.client.zoneinfo(appointment.practice)


def message_plan_for(*, appointment: Appointment, now: datetime | None = None) -> int:
    """Plan the practice's sequence for every recipient of ``appointment``; returns how many rows
    were added. Running it again adds nothing. A step whose time had already passed when the
    session was booked is recorded as skipped, with the reason, instead of being sent late."""
    now = now or timezone.now()
    appointment = Appointment.objects.select_related("practice", "clinician__user").get(pk=appointment.pk)
    if not appointment.is_upcoming:
        return 0
    participants = list(appointment.participants.select_related("client"))
    steps = [
        s
        for s in sequence_for(appointment.practice).steps.filter(is_active=True)
        if applies_to_session(s, appointment)
    ]
    booked_at = min(appointment.created_at, now)
    rows = []
    for step in steps:
        for recipient_key, participant in _recipient_keys(step, participants):
            tz = _recipient_zone(step, participant, appointment)
            due_at = due_time(step, appointment, booked_at=booked_at, tz=tz)
            passed = due_at < booked_at and step.anchor != "booking"
            rows.append(
                OutboxMessage(
                    practice_id=appointment.practice_id,
                    appointment=appointment,
                    participant=participant,
                    recipient_key=recipient_key,
                    step=step,
                    kind=step.key,
                    channel=step.channel,
                    due_at=due_at,
                    state=OutboxState.SKIPPED if passed else OutboxState.PLANNED,
                    reason="Its time had already passed when the session was booked." if passed else "",
                    settled_at=now if passed else None,
                )
            )
    existing = OutboxMessage.objects.filter(appointment=appointment).count()
    # The unique key (appointment, recipient, kind) makes a second run insert nothing.
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return OutboxMessage.objects.filter(appointment=appointment).count() - existing


def message_withdraw_for(*, appointment: Appointment, reason: str, now: datetime | None = None) -> int:
    """Withdraw every message of ``appointment`` that has not gone out. Rows a dispatcher has
    already claimed are left to it: it checks the appointment again before sending."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(appointment=appointment, state=OutboxState.PLANNED).update(
        state=OutboxState.CANCELLED, reason=reason[:300], settled_at=now, updated_at=now
    )


def message_plan_cancellation_notice(*, appointment: Appointment, now: datetime | None = None) -> int:
    """One cancellation notice per client, sent now by their usual channel (SMS if they can get
    texts, else e-mail). Planning it again adds nothing."""
    now = now or timezone.now()
    rows = [
        OutboxMessage(
            practice_id=appointment.practice_id,
            appointment=appointment,
            participant=participant,
            recipient_key=f"client:{participant.pk}",
            kind=CANCELLATION_NOTICE,
            channel=Channel.SMS if participant.client.has_sms_consent else Channel.EMAIL,
            due_at=now,
        )
        for participant in appointment.participants.select_related("client")
    ]
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def message_plan_fallback(*, message: OutboxMessage, now: datetime, why: str) -> OutboxMessage | None:
    """An SMS that failed or could not be delivered goes out again by e-mail (SPEC F12), once."""
    if message.channel != Channel.SMS or message.kind.endswith(FALLBACK_SUFFIX):
        return None
    fallback, _ = OutboxMessage.objects.get_or_create(
        appointment_id=message.appointment_id,
        recipient_key=message.recipient_key,
        kind=message.kind + FALLBACK_SUFFIX,
        defaults={
            "practice_id": message.practice_id,
            "participant_id": message.participant_id,
            "step_id": message.step_id,
            "channel": Channel.EMAIL,
            "fallback_of": message,
            "due_at": now,
            "reason": f"E-mail instead of a text: {why}"[:300],
        },
    )
    return fallback


def message_plan_missing(*, now: datetime, horizon_days: int = 8, limit: int = 200) -> int:
    """Catch-up: plan upcoming sessions that have no outbox rows (an event lost to a crash)."""
    upcoming = Appointment.objects.filter(
        status__in=("scheduled", "confirmed"),
        starts_at__gt=now,
        starts_at__lt=now + timedelta(days=horizon_days),
        outbox_messages__isnull=True,
    ).order_by("starts_at")[:limit]
    return sum(message_plan_for(appointment=appointment, now=now) for appointment in upcoming)


# --- Reading ---------------------------------------------------------------------------------


def message_timeline(*, appointment: Appointment) -> list[dict]:
    """Every message of a session — planned, sent, delivered, skipped, failed or unknown — with
    its reason and time, oldest first. Used by the session page and the API."""
    rows = OutboxMessage.objects.filter(appointment=appointment).select_related("step", "participant__client")
    return [timeline_entry(row) for row in rows.order_by("due_at", "pk")]


def timeline_entry(row: OutboxMessage) -> dict:
    """What staff and the API may see of one message: its step, recipient (the clinician, or the
    client's first or preferred name), channel, state and reason, never its text. Load rows with
    ``select_related("step", "participant__client")``."""
    return {
        "id": row.pk,
        "appointment": row.appointment_id,
        "kind": row.kind,
        "step": row.step.name if row.step else row.kind.replace("_", " ").capitalize(),
        "recipient": "clinician"
        if row.recipient_key.startswith(Audience.CLINICIAN)
        else row.participant.client.greeting_name,
        "channel": row.channel,
        "state": row.state,
        "reason": row.reason,
        "due_at": row.due_at,
        "sent_at": row.sent_at,
        "attempts": row.attempts,
    }


# --- Dispatch and provider callbacks ----------------------------------------------------------


def messages_dispatch_due(
    *, now: datetime | None = None, limit: int | None = None, budget_seconds: float | None = None
):
    from messaging import dispatch

    return dispatch.dispatch_due(now=now, limit=limit, budget_seconds=budget_seconds)


def message_record_status(
    *, provider_message_id: str, status: str, error_code: str = "", now: datetime | None = None
) -> None:
    """Apply a provider status callback once, never moving a message backwards. An SMS that
    ends undelivered (or failed after acceptance) falls back to e-mail."""
    now = now or timezone.now()
    with transaction.atomic():
        _, first_time = DeliveryReport.objects.get_or_create(
            provider_message_id=provider_message_id, status=status, defaults={"error_code": error_code[:20]}
        )
        if not first_time:
            return
        message = (
            OutboxMessage.objects.select_for_update()
            .filter(provider_message_id=provider_message_id)
            .exclude(provider_message_id="")
            .first()
        )
        if message is None:
            logger.info("status %s for unknown provider message %s", status, provider_message_id)
            return
        new_state = _state_after(message, status)
        if new_state is None:
            return
        message.state = new_state
        if error_code:
            message.reason = f"Provider error {error_code}."
        if new_state in FINAL_STATES.values():
            message.settled_at = now
        message.save(update_fields=["state", "reason", "settled_at", "updated_at"])
        if new_state == OutboxState.UNDELIVERED:
            message_plan_fallback(
                message=message, now=now, why=f"the text could not be delivered ({error_code or status})."
            )


def _state_after(message: OutboxMessage, status: str) -> str | None:
    """The state a callback moves the message to, or None if it would move it backwards."""
    if status not in STATUS_RANK:
        return None
    if message.state in (OutboxState.DELIVERED, OutboxState.UNDELIVERED):
        return None
    if status in FINAL_STATES:
        return FINAL_STATES[status]
    # "sent"/"queued" confirm that a message in doubt did reach the provider.
    if message.state in (OutboxState.UNKNOWN, OutboxState.SENDING):
        return OutboxState.ACCEPTED
    return None
