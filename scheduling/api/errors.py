"""One error shape for every 4xx answer of the API (docs/api.md):

    {"detail": "Invalid input.", "errors": {"starts_at": ["…"], "non_field_errors": ["…"]}}

``errors`` always maps a field name (or ``non_field_errors``) to a list of messages; nested
fields are flattened to dotted names (``clients.0``). The ValidationError that services
raise is translated here, so views call services without a try/except of their own.
"""

from __future__ import annotations

import logging

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from practice.parsing import has_unstorable

logger = logging.getLogger(__name__)

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY  # "non_field_errors"
# A service error with this code means the clinician's time is taken: answered with 409.
CONFLICT_CODES = frozenset({"double_booking"})


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class ErrorSerializer(serializers.Serializer):
    """For the schema only: the body of every 4xx response."""

    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    class Meta:
        ref_name = "Error"


def _flatten(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF error data (dicts, lists, nested) as {"field": ["message", …]}."""
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            name = NON_FIELD if key in (NON_FIELD_ERRORS, NON_FIELD) and not prefix else str(key)
            for field, messages in _flatten(value, f"{prefix}.{name}" if prefix else name).items():
                out.setdefault(field, []).extend(messages)
        return out
    key = prefix or NON_FIELD
    if isinstance(data, list | tuple):
        out = {}
        for index, item in enumerate(data):
            if isinstance(item, dict | list | tuple) and item:
                nested_prefix = f"{key}.{index}" if isinstance(item, dict) else key
                for field, messages in _flatten(item, nested_prefix).items():
                    out.setdefault(field, []).extend(messages)
            elif item not in ({}, [], ()):
                out.setdefault(key, []).append(str(item))
        return out
    return {key: [str(data)]}


def _codes(error: DjangoValidationError) -> set[str]:
    return (
        {e.code for e in error.error_list if e.code}
        if not hasattr(error, "error_dict")
        else {e.code for errors in error.error_dict.values() for e in errors if e.code}
    )


def from_django_validation_error(error: DjangoValidationError) -> exceptions.APIException:
    data = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD: error.messages}
    if _codes(error) & CONFLICT_CODES:
        conflict = Conflict()
        conflict.detail = data
        return conflict
    return exceptions.ValidationError(data)


def field_errors(error: DjangoValidationError | exceptions.ValidationError) -> dict[str, list[str]]:
    """A service's or a serializer's ValidationError as ``{"field": ["message", …]}``, for the
    places that answer outside DRF's exception handling (the EHR webhook, CSV imports)."""
    if isinstance(error, exceptions.ValidationError):
        return _flatten(error.detail)
    return _flatten(error.message_dict if hasattr(error, "error_dict") else {NON_FIELD: error.messages})


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = from_django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, IntegrityError):
        # A unique rule raced with another request between a service's check and its insert.
        # Logged without values: they may be client data.
        logger.warning("API request hit a database constraint: %s", type(exc).__name__)
        exc = Conflict("This conflicts with a change made at the same time; fetch the data and retry.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling (and logging) applies
    data = response.data
    if isinstance(exc, exceptions.ValidationError) or (
        isinstance(exc, Conflict) and isinstance(exc.detail, dict | list)
    ):
        detail = "Invalid input." if isinstance(exc, exceptions.ValidationError) else Conflict.default_detail
        errors = _flatten(data)
    else:
        detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
        errors = {NON_FIELD: [detail]}
    # A message may quote the input (DRF's "not a valid choice"), and a lone surrogate from a
    # JSON escape cannot be encoded as UTF-8: replace it so the answer can be rendered.
    response.data = {
        "detail": _printable(detail),
        "errors": {
            _printable(field): [_printable(m) for m in messages] for field, messages in errors.items()
        },
    }
    return response


def _printable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8") if has_unstorable(text) else text


def error_response(*, status_code: int, detail: str, errors: dict[str, list[str]]) -> Response:
    return Response({"detail": detail, "errors": errors}, status=status_code)
