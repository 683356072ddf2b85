"""Inbound EHR webhook (SPEC F20): POST /hooks/ehr/<practice slug>/ (docs/api.md, "Webhook").

The EHR signs each request with the practice's secret (EhrWebhookSecret):

    Attend-Timestamp: 1767225600                  (Unix seconds, when it was sent)
    Attend-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">

and sends one event as JSON: ``{"id", "type", "source", "data"}``. The signature is checked on
the raw body before anything is parsed; a stale timestamp (more than five minutes off), a bad
signature, a malformed body or an event id already applied is answered with a 4xx and changes
nothing. An event is recorded (EhrWebhookEvent) in the same transaction as its effect, so a
re-delivery after a success is a 409 and one after a failure is applied afresh.

Events map onto the sync services, like the API's EHR endpoints:
``client.upserted`` → client_upsert; ``appointment.created`` / ``appointment.changed`` →
appointment_upsert; ``appointment.cancelled`` → synced_appointment_cancel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from practice.models import Practice
from practice.parsing import has_unstorable
from scheduling.api.audit import audit_as, request_remote_addr
from scheduling.api.ehr import AppointmentUpsertInput, ClientUpsertInput, upsert_appointment, upsert_client
from scheduling.api.errors import NON_FIELD, field_errors
from scheduling.models import EhrWebhookEvent, EhrWebhookSecret
from scheduling.sync import SOURCE_PATTERN

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "Attend-Timestamp"
SIGNATURE_HEADER = "Attend-Signature"
SECRET_PREFIX = "whsec_"
# After a rotation the old secret keeps working this long, so the EHR can switch over.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
EVENT_TYPES = ("client.upserted", "appointment.created", "appointment.changed", "appointment.cancelled")


# --- Secrets -----------------------------------------------------------------------------------


def ehr_webhook_secret_rotate(*, practice: Practice, now: datetime | None = None) -> str:
    """Give the practice a new signing secret (creating the first one) and return it, to show
    once. The previous secret stays valid for PREVIOUS_SECRET_GRACE."""
    now = now or timezone.now()
    raw = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        current = EhrWebhookSecret.objects.select_for_update().filter(practice=practice).first()
        if current is None:
            EhrWebhookSecret.objects.create(practice=practice, secret=raw)
            return raw
        current.previous_secret = current.secret
        current.previous_valid_until = now + PREVIOUS_SECRET_GRACE
        current.secret = raw
        current.rotated_at = now
        current.save()
    return raw


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (what the EHR computes)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _valid_secrets(record: EhrWebhookSecret, now: datetime) -> list[str]:
    valid = [record.secret]
    if record.previous_secret and record.previous_valid_until and record.previous_valid_until > now:
        valid.append(record.previous_secret)
    return valid


def signature_problem(*, record: EhrWebhookSecret, headers, body: bytes, now: datetime) -> str | None:
    """Why the request is not from the EHR (or too old to trust), or None if it is."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return f"Send the {TIMESTAMP_HEADER} header: the Unix time in seconds."
    if abs(now.timestamp() - int(timestamp)) > settings.EHR_WEBHOOK_TOLERANCE_SECONDS:
        return "The timestamp is too far from our clock; send events as they happen, with a synced clock."
    sent = [part.strip() for part in headers.get(SIGNATURE_HEADER, "").split(",") if part.strip()]
    expected = [sign(secret=secret, timestamp=timestamp, body=body) for secret in _valid_secrets(record, now)]
    if not any(hmac.compare_digest(s.encode(), e.encode()) for s in sent for e in expected):
        return "The signature does not match."
    return None


# --- The endpoint --------------------------------------------------------------------------------


def _error(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": errors or {NON_FIELD: [detail]}}, status=status)


def _parse_event(body: bytes) -> tuple[dict | None, dict[str, list[str]]]:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None, {NON_FIELD: ["Send a JSON object."]}
    if not isinstance(event, dict):
        return None, {NON_FIELD: ["Send a JSON object."]}
    errors: dict[str, list[str]] = {}
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 100 or has_unstorable(event_id):
        errors["id"] = ["Send the event's id: a string of 1 to 100 characters."]
    if event.get("type") not in EVENT_TYPES:
        errors["type"] = [f"Use one of {', '.join(EVENT_TYPES)}."]
    if not isinstance(event.get("source"), str) or not SOURCE_PATTERN.match(event["source"]):
        errors["source"] = ["Name the EHR: lower-case letters, digits, - and _, e.g. simplepractice."]
    if not isinstance(event.get("data"), dict):
        errors["data"] = ["Send the event's data as an object."]
    return (None if errors else event), errors


def _apply(practice: Practice, event: dict):
    """Parse the event's data with the API's input serializers and call the sync service."""
    kind, source, data = event["type"], event["source"], event["data"]
    if kind == "appointment.cancelled":
        data = {**data, "status": "cancelled"}
    serializer_class = ClientUpsertInput if kind == "client.upserted" else AppointmentUpsertInput
    serializer = serializer_class(data=data, context={"practice": practice})
    if not serializer.is_valid():
        raise ValidationError(serializer.errors)
    if kind == "client.upserted":
        return upsert_client(practice=practice, source=source, data=serializer.validated_data)
    return upsert_appointment(practice=practice, source=source, data=serializer.validated_data)


def _data_errors(error: ValidationError | ApiValidationError) -> dict[str, list[str]]:
    """A service's or serializer's errors, named after the event's fields (``data.starts_at``)."""
    return {
        name if name == NON_FIELD else f"data.{name}": messages
        for name, messages in field_errors(error).items()
    }


@csrf_exempt
@require_POST
def ehr_webhook(request, practice_slug: str):
    now = timezone.now()
    record = EhrWebhookSecret.objects.select_related("practice").filter(practice__slug=practice_slug).first()
    if record is None:
        return _error(404, "Not found.")
    problem = signature_problem(record=record, headers=request.headers, body=request.body, now=now)
    if problem:
        logger.warning("EHR webhook for practice %s refused: %s", record.practice_id, problem)
        return _error(401, problem)
    event, errors = _parse_event(request.body)
    if event is None:
        return _error(400, "Invalid event.", errors)

    practice = record.practice
    try:
        with (
            audit_as(
                label=lambda: f'EHR webhook "{event["source"]}"',
                data=lambda: {"ehr_event_id": event["id"], "ehr_event_type": event["type"]},
                remote_addr=request_remote_addr(request),
            ),
            transaction.atomic(),
        ):
            try:
                with transaction.atomic():
                    received = EhrWebhookEvent.objects.create(
                        practice=practice,
                        event_id=event["id"],
                        event_type=event["type"],
                        source=event["source"],
                        result="",
                        received_at=now,
                    )
            except IntegrityError:
                return _error(409, "This event was already received; nothing was changed.")
            obj, result = _apply(practice, event)
            received.result, received.object_id = result, getattr(obj, "pk", None)
            received.save(update_fields=["result", "object_id"])
    except (ValidationError, ApiValidationError) as error:
        return _error(400, "Invalid input.", _data_errors(error))
    logger.info("EHR webhook %s applied for practice %s: %s", event["type"], practice.pk, result)
    return JsonResponse({"result": result, "event": event["id"], "object_id": received.object_id})
