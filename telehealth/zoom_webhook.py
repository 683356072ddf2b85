"""Zoom event webhook: /hooks/zoom/.

Zoom signs each request: ``x-zm-signature: v0=HMAC_SHA256(secret, "v0:{timestamp}:{body}")``
with the timestamp in ``x-zm-request-timestamp`` (seconds). We verify it over the raw body,
refuse timestamps more than five minutes away (replays), answer Zoom's
``endpoint.url_validation`` challenge, and turn ``meeting.participant_joined`` into a join.
A re-delivered event (same meeting, participant and join time) changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from scheduling.models import AppointmentParticipant
from telehealth import services
from telehealth.models import JoinSource, Meeting, MeetingState

logger = logging.getLogger(__name__)

SIGNATURE_WINDOW_SECONDS = 5 * 60


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_is_valid(*, secret: str, timestamp: str, signature: str, body: bytes, now: float) -> bool:
    if not secret or not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > SIGNATURE_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(expected_signature(secret, timestamp, body), signature)


@csrf_exempt
@require_POST
def zoom_events(request):
    secret = settings.ZOOM_WEBHOOK_SECRET_TOKEN
    if not signature_is_valid(
        secret=secret,
        timestamp=request.headers.get("x-zm-request-timestamp", ""),
        signature=request.headers.get("x-zm-signature", ""),
        body=request.body,
        now=time.time(),
    ):
        return HttpResponseForbidden("invalid signature")
    try:
        event = json.loads(request.body)
    except ValueError:  # also UnicodeDecodeError
        return HttpResponseBadRequest("malformed event")
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return HttpResponseBadRequest("malformed event")
    name = event["event"]
    payload = event.get("payload") or {}
    if not isinstance(payload, dict):
        return HttpResponseBadRequest("malformed event")

    if name == "endpoint.url_validation":
        plain = str(payload.get("plainToken", ""))
        if not plain:
            return HttpResponseBadRequest("missing plainToken")
        encrypted = hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
        return JsonResponse({"plainToken": plain, "encryptedToken": encrypted})
    if name == "meeting.participant_joined":
        return _participant_joined(payload)
    return HttpResponse(status=204)  # other events are not used


def _participant_joined(payload: dict) -> HttpResponse:
    obj = payload.get("object")
    person = obj.get("participant") if isinstance(obj, dict) else None
    if not isinstance(person, dict) or not str(obj.get("id", "")):
        return HttpResponseBadRequest("malformed participant_joined")
    meeting_id = str(obj["id"])
    meeting = (
        Meeting.objects.filter(provider="zoom", external_id=meeting_id)
        .exclude(state=MeetingState.CANCELLED)
        .select_related("appointment__practice", "appointment__clinician")
        .first()
    )
    if meeting is None:
        return HttpResponse(status=204)  # not one of ours, or the session was cancelled
    if _is_host(meeting, obj, person):
        return HttpResponse(status=204)  # the clinician
    participant = _match_participant(meeting, str(person.get("user_name", "")))
    if participant is None:
        logger.info("zoom join in meeting %s not matched to a participant", meeting.pk)
        return HttpResponse(status=204)
    joined_at = _parse_time(person.get("join_time"))
    dedupe = (
        f"{meeting_id}:{person.get('participant_uuid') or person.get('id', '')}:{person.get('join_time', '')}"
    )
    services.join_record(
        participant=participant, source=JoinSource.ZOOM_WEBHOOK, dedupe_key=dedupe[:200], at=joined_at
    )
    return HttpResponse(status=204)


def _is_host(meeting: Meeting, obj: dict, person: dict) -> bool:
    """A signed-in host joins with their Zoom user id as participant ``id``; a host who is
    not signed in can only be recognised by the name they show."""
    host_id = str(obj.get("host_id") or "")
    if host_id and host_id in {str(person.get("id") or ""), str(person.get("user_id") or "")}:
        return True
    shown = str(person.get("user_name") or "").strip().casefold()
    return bool(shown) and shown == meeting.appointment.clinician.display_name.strip().casefold()


def _match_participant(meeting: Meeting, display_name: str) -> AppointmentParticipant | None:
    """An individual session has one client; in a group we match the name Zoom shows."""
    participants = list(meeting.appointment.participants.select_related("client", "appointment__practice"))
    if len(participants) == 1:
        return participants[0]
    wanted = display_name.strip().casefold()
    for participant in participants:
        client = participant.client
        if wanted and wanted in {client.greeting_name.casefold(), client.full_name.casefold()}:
            return participant
    return None


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
