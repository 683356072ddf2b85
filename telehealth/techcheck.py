"""Client tech-check page (/t/<token>) and its probe endpoints (SPEC F8).

The page measures in the browser; the server decides (telehealth.techcheck_rules) and records
(services.tech_check_record). The check runs while the session is still ahead or under way:
after it ended or was cancelled a result would only put noise in the staff queue, so the page
explains that instead and the endpoints answer 410.

The probes are for valid tokens only and bounded: a ping is empty, a download is at most
DOWNLOAD_MAX_BYTES, an upload at most UPLOAD_MAX_BYTES and its body is read and dropped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse, UnreadablePostError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from practice.client_language import activate_for_client
from practice.parsing import parse_int
from telehealth import services, views
from telehealth.models import TechCheckResult
from telehealth.rules import JoinState, join_state
from telehealth.techcheck_rules import Check, Evaluation, PayloadError, evaluate, measurements_from_payload

RUNNABLE_STATES = frozenset({JoinState.TOO_EARLY, JoinState.OPEN})
# What the page asks for: big enough to see a video call's 1.5 Mbit/s, small enough for a
# few seconds on a slow line (the page stops early and counts what arrived).
DOWNLOAD_PROBE_BYTES = 1024 * 1024
UPLOAD_PROBE_BYTES = 512 * 1024
# What the server allows, whatever the page asks.
DOWNLOAD_MAX_BYTES = 4 * 1024 * 1024
UPLOAD_MAX_BYTES = 1024 * 1024
RESULT_MAX_BYTES = 4 * 1024
CHUNK_BYTES = 64 * 1024
# A page reloaded in a loop must not flood the staff queue's table.
MAX_RESULTS_PER_HOUR = 20

CLOSED_MESSAGE = "This session has ended or was cancelled, so there is nothing to check."


# --- Helpers -----------------------------------------------------------------------------------


def _participant_and_state(token: str):
    participant = services.participant_for_token(token)
    if participant is None:
        return None, None
    # A rescheduled session's link checks for the session that replaced it, as /j/ does.
    participant = services.current_participant(participant)
    return participant, join_state(participant.appointment, timezone.now())


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _json_error(message: str, status: int, fields: dict | None = None) -> JsonResponse:
    return _json({"error": message, "fields": fields or {}}, status=status)


def _runnable_participant(token: str):
    """(participant, None) if the check may run now, else (None, the JSON refusal)."""
    participant, state = _participant_and_state(token)
    if participant is None:
        return None, _json_error("This link doesn't work.", 404)
    if state not in RUNNABLE_STATES:
        return None, _json_error(CLOSED_MESSAGE, 410)
    return participant, None


def _probe_guard(token: str) -> JsonResponse | None:
    return _runnable_participant(token)[1]


def _content_length(request) -> int | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length >= 0 else None


# --- The page ----------------------------------------------------------------------------------


@never_cache
@require_GET
def tech_check(request, token: str):
    participant, state = _participant_and_state(token)
    if participant is None:
        return views.invalid_link(request)
    activate_for_client(participant.client)
    # Same wording and local times as the join page (its "too early" page links here).
    context = views._local_context(participant) | {"state": state, "token": token}
    if state not in RUNNABLE_STATES:
        return views.client_page(request, "telehealth/join_closed.html", context)
    context |= {
        "urls": {
            "ping": reverse("tech_check_ping", args=[token]),
            "download": reverse("tech_check_download", args=[token]),
            "upload": reverse("tech_check_upload", args=[token]),
            "result": reverse("tech_check_result", args=[token]),
        },
        "download_bytes": DOWNLOAD_PROBE_BYTES,
        "upload_bytes": UPLOAD_PROBE_BYTES,
        "script_text": json.dumps(script_text()),
    }
    return views.client_page(request, "telehealth/techcheck.html", context)


# --- Probes ------------------------------------------------------------------------------------


@never_cache
@require_GET
def tech_check_ping(request, token: str):
    return _probe_guard(token) or HttpResponse(status=204)


def _random_chunks(total: int):
    # Random bytes: a compressing proxy on the way cannot make the line look faster.
    sent = 0
    while sent < total:
        size = min(CHUNK_BYTES, total - sent)
        yield os.urandom(size)
        sent += size


@never_cache
@require_GET
def tech_check_download(request, token: str):
    try:
        size = parse_int(
            request.GET.get("bytes", str(DOWNLOAD_PROBE_BYTES)), min_value=1, max_value=DOWNLOAD_MAX_BYTES
        )
    except ValidationError:
        return _json_error(
            f"bytes must be a whole number from 1 to {DOWNLOAD_MAX_BYTES}.",
            400,
            {"bytes": f"must be from 1 to {DOWNLOAD_MAX_BYTES}"},
        )
    if refused := _probe_guard(token):
        return refused
    response = StreamingHttpResponse(_random_chunks(size), content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _discard_body(request, length: int) -> int:
    received = 0
    while received < length:
        chunk = request.read(min(CHUNK_BYTES, length - received))
        if not chunk:
            break
        received += len(chunk)
    return received


@never_cache
@require_POST
def tech_check_upload(request, token: str):
    length = _content_length(request)
    if length is None or length > UPLOAD_MAX_BYTES:
        # Refused before reading a byte of the body.
        return _json_error(f"Upload at most {UPLOAD_MAX_BYTES} bytes.", 413)
    if refused := _probe_guard(token):
        return refused
    try:
        received = _discard_body(request, length)
    except (OSError, UnreadablePostError):
        return _json_error("The upload was interrupted.", 400)
    return _json({"received": received})


# --- The result --------------------------------------------------------------------------------


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _read_payload(request):
    if request.content_type != "application/json":
        raise PayloadError({"payload": "must be sent as application/json"})
    length = _content_length(request)
    if length is None or length > RESULT_MAX_BYTES:
        raise PayloadError({"payload": f"must be at most {RESULT_MAX_BYTES} bytes"})
    body = request.read(RESULT_MAX_BYTES + 1)
    if len(body) > RESULT_MAX_BYTES:
        raise PayloadError({"payload": f"must be at most {RESULT_MAX_BYTES} bytes"})
    try:
        # NaN and Infinity are not JSON and not measurements.
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise PayloadError({"payload": "is not valid JSON"}) from None


def script_text() -> dict[str, str]:
    """What static/js/techcheck.js says while it runs, in the page's language."""
    return {
        "waiting": _("Not checked yet"),
        "running": _("Checking…"),
        "ok": _("Works"),
        "fail": _("Problem"),
        "receiving": _("Checking how fast you can receive video…"),
        "sending": _("Checking how fast you can send video…"),
        "tip": _("Tip:"),
        "passed_title": _("You're all set for your session."),
        "failed_title": _("Some things need fixing before your session."),
        "passed_done": _("Check finished: everything works."),
        "failed_done": _("Check finished: some things need fixing."),
        "unfinished_title": _(
            "We couldn't finish the check. Please check that you are online and run it again."
        ),
        "unfinished_done": _("The check could not finish."),
        "asking": _("Asking to use your camera and microphone. If your browser asks, choose Allow."),
        "network": _("Checking your connection. This takes a few seconds…"),
        "saving": _("Saving your results…"),
    }


def _too_many_results(participant) -> bool:
    since = timezone.now() - timedelta(hours=1)
    recent = TechCheckResult.objects.filter(participant=participant, created_at__gte=since)
    return recent.count() >= MAX_RESULTS_PER_HOUR


def _evaluation_json(evaluation: Evaluation) -> dict:
    return {
        "passed": evaluation.passed,
        "checks": {str(check): ok for check, ok in evaluation.checks.items()},
        "problems": [
            {"code": p.code, "check": str(p.check), "title": str(p.title), "fix": str(p.fix)}
            for p in evaluation.problems
        ],
        "tips": [str(tip) for tip in evaluation.tips],
    }


@never_cache
@require_POST
def tech_check_result(request, token: str):
    participant, refused = _runnable_participant(token)
    if refused:
        return refused
    activate_for_client(participant.client)  # the problems and fixes are worded for the client
    try:
        measurements = measurements_from_payload(_read_payload(request))
    except PayloadError as error:
        return _json_error(f"The check results were not understood ({error}).", 400, error.fields)
    if _too_many_results(participant):
        return _json_error("Too many checks in the last hour. Please try again later.", 429)
    evaluation = evaluate(measurements)
    services.tech_check_record(
        participant=participant,
        camera_ok=evaluation.checks[Check.CAMERA],
        microphone_ok=evaluation.checks[Check.MICROPHONE],
        browser_ok=evaluation.checks[Check.BROWSER],
        network_ok=evaluation.checks[Check.NETWORK],
        problems=evaluation.problem_codes,
        details=asdict(measurements),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    return _json(_evaluation_json(evaluation))
