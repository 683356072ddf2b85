"""Web-push endpoints for the client pages (SPEC F9 step 5).

- ``GET /push/public-key``: the VAPID application server key the browser subscribes with;
- ``POST /t/<token>/push``: the browser's subscription, JSON ``{endpoint, keys: {p256dh, auth}}``,
  from a client page (CSRF token in ``X-CSRFToken``). Stores it for the token's client and
  answers at once: no network call;
- ``GET /push-sw.js``: the service worker, served from the site root so its scope covers the
  client pages (``/j/…``, ``/t/…``).

Answers carry no client data; logs carry ids only.
"""

from __future__ import annotations

import json

from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from messaging.backends.webpush import vapid_public_key
from messaging.push import push_subscription_save
from telehealth import services as telehealth

SUBSCRIBE_MAX_BYTES = 4 * 1024
SERVICE_WORKER = "js/push-sw.js"


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _error(message: str, status: int, fields: dict | None = None) -> JsonResponse:
    return _json({"error": message, "fields": fields or {}}, status=status)


@require_GET
def push_public_key(request):
    try:
        key = vapid_public_key()
    except ImproperlyConfigured:
        return _error("Notifications are not available.", 503)
    response = _json({"public_key": key})
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _subscription_fields(request) -> tuple[dict | None, JsonResponse | None]:
    """(endpoint, p256dh, auth) from the posted JSON, or the 400 answer."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > SUBSCRIBE_MAX_BYTES:
        return None, _error("The subscription is too large.", 400)
    try:
        data = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return None, _error("The subscription is not valid JSON.", 400)
    if not isinstance(data, dict):
        return None, _error("The subscription must be a JSON object.", 400)
    keys = data.get("keys")
    keys = keys if isinstance(keys, dict) else {}
    fields = {"endpoint": data.get("endpoint"), "p256dh": keys.get("p256dh"), "auth": keys.get("auth")}
    missing = {
        name: ["This field is required."] for name, value in fields.items() if not isinstance(value, str)
    }
    if missing:
        return None, _error("The subscription is incomplete.", 400, missing)
    return fields, None


@never_cache
@require_POST
def push_subscribe(request, token: str):
    participant = telehealth.participant_for_token(token)
    if participant is None:
        return _error("This link doesn't work.", 404)
    fields, refusal = _subscription_fields(request)
    if refusal is not None:
        return refusal
    try:
        push_subscription_save(
            participant=participant,
            user_agent=request.headers.get("User-Agent", ""),
            **fields,
        )
    except ValidationError as error:
        return _error("The subscription was not accepted.", 400, error.message_dict)
    return _json({"subscribed": True}, status=201)


@require_GET
def push_service_worker(request):
    path = finders.find(SERVICE_WORKER)
    if not path:
        return HttpResponse(status=404)
    with open(path, "rb") as worker:
        response = HttpResponse(worker.read(), content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # Browsers check for a new worker at least daily anyway; never serve a stale one.
    response["Cache-Control"] = "no-cache"
    return response
