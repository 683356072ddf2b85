"""What goes into the webhook outbox: which facts become which events, and their payloads.

Called inside the transaction of the change (``scheduling.events.subscribe_in_transaction`` and
``practice.facts``), so an event exists exactly when its change committed. An event is recorded
only if some active endpoint of the practice subscribes to its type, with one delivery row per
such endpoint.

Payloads are minimum-necessary: ids (ours and the EHR's external ids), times, states and codes.
Never a client's name, phone number, e-mail, notes, service names or free-text reasons: an
integrator that needs more reads it through the authenticated API.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from integrations.models import (
    TEST_EVENT_TYPE,
    DeliveryState,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from practice import facts
from practice.models import Practice
from scheduling.events import AppointmentEvent
from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus

# AppointmentEvent kinds that are one event type whatever the appointment's state.
DIRECT_KINDS = {
    "booked": EventType.APPOINTMENT_BOOKED,
    "rescheduled": EventType.APPOINTMENT_RESCHEDULED,
    "cancelled": EventType.APPOINTMENT_CANCELLED,
    "payment_due": EventType.PAYMENT_DUE,
}
# Kinds that announce a status change ("attendance" and "joined" today; "in_progress",
# "completed" and "no_show" as the no-show/close-out work publishes them). The event type is
# read from the appointment's status in the transaction, and an event is recorded only if the
# appointment's last status event was a different one: two publishers of one change give one
# event, and a no-show reversed to completed and back still gives each change.
STATUS_KINDS = frozenset({"attendance", "joined", "in_progress", "completed", "no_show"})
STATUS_EVENT_TYPES = {
    AppointmentStatus.IN_PROGRESS: EventType.APPOINTMENT_IN_PROGRESS,
    AppointmentStatus.COMPLETED: EventType.APPOINTMENT_COMPLETED,
    AppointmentStatus.NO_SHOW: EventType.APPOINTMENT_NO_SHOW,
}
PROVIDER_ERROR_CODE = re.compile(r"(?:code |[Pp]rovider error )(\w+)")


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _json(payload: dict) -> str:
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)


# --- Recording ---------------------------------------------------------------------------------


def _subscribed_endpoints(practice_id: int, event_type: str) -> list[WebhookEndpoint]:
    active = WebhookEndpoint.objects.filter(practice_id=practice_id, is_active=True)
    # event_types is a short JSON list; filtering it in Python works the same on SQLite.
    return [endpoint for endpoint in active if event_type in endpoint.event_types]


def webhook_event_record(
    *,
    practice_id: int,
    event_type: str,
    data: dict,
    occurred_at: datetime,
    appointment_id: int | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
    now: datetime | None = None,
) -> WebhookEvent | None:
    """Record one event and a pending delivery to each endpoint that receives it (or to
    ``endpoints``, for a test event). Returns None when no endpoint wants it."""
    if endpoints is None:
        endpoints = _subscribed_endpoints(practice_id, event_type)
    if not endpoints:
        return None
    now = now or timezone.now()
    event_id = new_event_id()
    envelope = {"id": event_id, "type": event_type, "timestamp": _iso(occurred_at), "data": data}
    event = WebhookEvent.objects.create(
        practice_id=practice_id,
        event_id=event_id,
        type=event_type,
        occurred_at=occurred_at,
        appointment_id=appointment_id,
        body=_json(envelope),
    )
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            practice_id=practice_id,
            event=event,
            endpoint=endpoint,
            state=DeliveryState.PENDING,
            next_attempt_at=now,
        )
        for endpoint in endpoints
    )
    return event


def on_appointment_event(event: AppointmentEvent) -> None:
    """In-transaction subscriber (IntegrationsConfig.ready)."""
    if event.kind in DIRECT_KINDS:
        event_type = DIRECT_KINDS[event.kind]
    elif event.kind in STATUS_KINDS:
        event_type = None  # decided from the status below
    else:
        return  # e.g. "confirmed": not an outbound event type (yet)
    # One query on the booking path when the practice has no endpoints at all.
    if not WebhookEndpoint.objects.filter(
        is_active=True, practice__appointments=event.appointment_id
    ).exists():
        return
    appointment = Appointment.objects.select_related("practice").get(pk=event.appointment_id)
    if event_type is None:
        event_type = STATUS_EVENT_TYPES.get(appointment.status)
        if event_type is None or _last_status_event_type(appointment) == event_type:
            return
    data = {"appointment": appointment_data(appointment)}
    if event_type == EventType.APPOINTMENT_RESCHEDULED:
        data["previous_appointment_id"] = event.previous_id
    if event_type == EventType.PAYMENT_DUE:
        data |= payment_data(appointment, getattr(event, "participant_id", None))
    webhook_event_record(
        practice_id=appointment.practice_id,
        event_type=event_type,
        data=data,
        occurred_at=timezone.now(),
        appointment_id=appointment.pk,
    )


def _last_status_event_type(appointment: Appointment) -> str | None:
    last = (
        WebhookEvent.objects.filter(appointment=appointment, type__in=STATUS_EVENT_TYPES.values())
        .order_by("-pk")
        .values_list("type", flat=True)
        .first()
    )
    return last


def on_fact(fact: facts.Fact) -> None:
    """Subscriber to practice.facts (IntegrationsConfig.ready)."""
    builders = {
        facts.CLIENT_OPTED_OUT: (EventType.CLIENT_OPTED_OUT, opt_out_data),
        facts.TECH_CHECK_FAILED: (EventType.TECHCHECK_FAILED, tech_check_data),
        facts.MESSAGE_FAILED: (EventType.MESSAGE_FAILED, message_data),
    }
    if fact.kind not in builders:
        return
    event_type, build = builders[fact.kind]
    endpoints = _subscribed_endpoints(fact.practice_id, event_type)
    if not endpoints:
        return
    data, appointment_id = build(fact.object_id)
    webhook_event_record(
        practice_id=fact.practice_id,
        event_type=event_type,
        data=data,
        occurred_at=fact.occurred_at,
        appointment_id=appointment_id,
        endpoints=endpoints,
    )


def test_event_record(*, endpoint: WebhookEndpoint, now: datetime) -> WebhookEvent:
    """A ``webhook.test`` event for one endpoint (the "send a test event" button)."""
    return webhook_event_record(
        practice_id=endpoint.practice_id,
        event_type=TEST_EVENT_TYPE,
        data={
            "practice_id": endpoint.practice_id,
            "endpoint_id": endpoint.pk,
            "message": "Test event from Attend.",
        },
        occurred_at=now,
        endpoints=[endpoint],
        now=now,
    )


# --- Payloads ------------------------------------------------------------------------------------


def client_ref(client) -> dict:
    return {"id": client.pk, "external_id": client.external_id or None}


def participant_data(participant: AppointmentParticipant) -> dict:
    return {
        "id": participant.pk,
        "client": client_ref(participant.client),
        "attendance": participant.attendance,
        "joined_at": _iso(participant.joined_at),
    }


def appointment_data(appointment: Appointment) -> dict:
    participants = appointment.participants.select_related("client").order_by("pk")
    return {
        "id": appointment.pk,
        "practice_id": appointment.practice_id,
        "external_id": appointment.external_id or None,
        "source": appointment.source,
        "status": appointment.status,
        "starts_at": _iso(appointment.starts_at),
        "ends_at": _iso(appointment.ends_at),
        "timezone": appointment.practice.timezone,
        "clinician_id": appointment.clinician_id,
        "service_type_id": appointment.service_type_id,
        "modality": appointment.modality,
        "series_id": appointment.series_id,
        "rescheduled_from_id": appointment.rescheduled_from_id,
        "cancelled_at": _iso(appointment.cancelled_at),
        "cancelled_by_client": appointment.cancelled_by_client if appointment.cancelled_at else None,
        "late_cancel": appointment.is_late_cancel if appointment.cancelled_at else None,
        "participants": [participant_data(p) for p in participants],
    }


def payment_data(appointment: Appointment, participant_id: int | None) -> dict:
    """What is owed and why: the practice's no-show fee for a no-show or late cancellation
    (SPEC F1 policy), otherwise the session fee."""
    practice: Practice = appointment.practice
    if appointment.status == AppointmentStatus.NO_SHOW:
        reason, amount = "no_show", practice.no_show_fee
    elif appointment.status == AppointmentStatus.CANCELLED and appointment.is_late_cancel:
        reason, amount = "late_cancel", practice.no_show_fee
    else:
        reason, amount = "session", appointment.fee
    return {
        "participant_id": participant_id,
        "reason": reason,
        "amount": str(Decimal(amount).quantize(Decimal("0.01"))),
    }


def opt_out_data(consent_event_id: int) -> tuple[dict, None]:
    from practice.models import ConsentEvent

    consent = ConsentEvent.objects.select_related("client").get(pk=consent_event_id)
    return {
        "client": client_ref(consent.client),
        "channel": consent.channel,
        "source": consent.source,
        "opted_out_at": _iso(consent.at),
    }, None


def tech_check_data(result_id: int) -> tuple[dict, int]:
    from telehealth.models import TechCheckResult

    result = TechCheckResult.objects.select_related(
        "participant__client", "participant__appointment__practice"
    ).get(pk=result_id)
    appointment = result.participant.appointment
    return {
        "tech_check": {
            "id": result.pk,
            "checked_at": _iso(result.created_at),
            "camera_ok": result.camera_ok,
            "microphone_ok": result.microphone_ok,
            "browser_ok": result.browser_ok,
            "network_ok": result.network_ok,
            "problems": [str(code) for code in result.problems],  # codes such as "camera_blocked"
        },
        "participant_id": result.participant_id,
        "client": client_ref(result.participant.client),
        "appointment": appointment_data(appointment),
    }, appointment.pk


def message_data(message_id: int) -> tuple[dict, int]:
    from messaging.models import OutboxMessage

    message = OutboxMessage.objects.select_related(
        "appointment__practice", "participant__client", "step"
    ).get(pk=message_id)
    code = PROVIDER_ERROR_CODE.search(message.reason or "")
    participant = message.participant
    return {
        "message": {
            "id": message.pk,
            "step": message.kind,
            "channel": message.channel,
            "audience": "clinician" if message.recipient_key.startswith("clinician") else "client",
            "state": message.state,
            "error_code": code.group(1) if code else None,
            "attempts": message.attempts,
        },
        "participant_id": participant.pk if participant else None,
        "client": client_ref(participant.client) if participant else None,
        "appointment": appointment_data(message.appointment),
    }, message.appointment_id
