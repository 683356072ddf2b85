"""``Idempotency-Key`` on creating POSTs (docs/api.md).

A client that retries a create after a timeout sends the same key; we answer with the
first result instead of creating twice. Keys are scoped to the token's practice.

- Same key, same request (method, path and JSON body): the first status and the created
  object again (its current state), with ``Idempotent-Replayed: true``.
- Same key, different request: 409.
- Two requests with the same key at once: the record is inserted, in the request's own
  transaction, *before* the service runs, so the unique constraint on (practice, key)
  makes the second insert wait for the first transaction; it then finds the committed
  record and replays it (or, if the first failed and rolled back, proceeds itself).
- A request that fails (4xx) rolls its record back: the key was not used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from scheduling.api.errors import NON_FIELD, error_response
from scheduling.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotencyRecord._meta.get_field("key").max_length
REPLAYED_HEADER = "Idempotent-Replayed"


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _key_problem(key: str) -> str | None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        return f"Use between 1 and {MAX_KEY_LENGTH} characters."
    if not all("!" <= ch <= "~" for ch in key):
        return "Use printable ASCII characters without spaces (a UUID is a good key)."
    return None


def idempotent_create(
    *,
    request: Request,
    resource_type: str,
    create: Callable[[], models.Model],
    render: Callable[[models.Model], dict],
    lookup: Callable[[int], models.Model | None],
) -> Response:
    """Run ``create`` (a service call) once per Idempotency-Key and answer 201 with
    ``render(obj)``. Without the header it simply creates. ``lookup`` finds a created object
    again, within the token's practice, for a replay."""
    key = request.headers.get(HEADER)
    if key is None:
        return Response(render(create()), status=status.HTTP_201_CREATED)
    problem = _key_problem(key)
    if problem:
        return error_response(status_code=400, detail="Invalid input.", errors={HEADER: [problem]})

    practice = request.auth.practice
    fingerprint = request_fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    practice=practice, key=key, fingerprint=fingerprint, resource_type=resource_type
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(practice=practice, key=key).first()
            if existing is None:  # pragma: no cover - the constraint fired, so the row exists
                raise
            return _replay(existing, fingerprint=fingerprint, lookup=lookup, render=render)
        obj = create()
        record.resource_id = obj.pk
        record.status_code = status.HTTP_201_CREATED
        record.save(update_fields=["resource_id", "status_code"])
        return Response(render(obj), status=status.HTTP_201_CREATED)


def _replay(record: IdempotencyRecord, *, fingerprint: str, lookup, render) -> Response:
    if record.fingerprint != fingerprint:
        return error_response(
            status_code=409,
            detail="This Idempotency-Key was already used for a different request.",
            errors={HEADER: ["This key was already used with a different request; use a new key."]},
        )
    obj = lookup(record.resource_id) if record.resource_id else None
    if obj is None:
        return error_response(
            status_code=409,
            detail="The object created with this Idempotency-Key no longer exists.",
            errors={NON_FIELD: ["The object created with this key no longer exists."]},
        )
    return Response(render(obj), status=record.status_code, headers={REPLAYED_HEADER: "true"})


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than ``settings.IDEMPOTENCY_KEY_HOURS`` (a retry comes within minutes,
    not days); a purged key may then be used again. Run hourly (scheduling.tasks). Returns how
    many were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
