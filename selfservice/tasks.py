"""Background work of the self-service app, run by django-q2 (schedule in migration 0002)."""

from __future__ import annotations

from django.utils import timezone


def sweep_booking_requests() -> int:
    """Every minute: pending booking requests past their hold's expiry become expired (their
    holds are removed by the scheduling sweep). Safe to run twice."""
    from selfservice.services import booking_requests_expire

    return booking_requests_expire(now=timezone.now())


def sweep_documents() -> int:
    """Every minute: a queue item for each session within 24 hours whose client has not signed a
    required consent (raised once per consent version)."""
    from selfservice.documents import consents_missing_raise

    return consents_missing_raise(now=timezone.now())
