"""Background work of the scheduling app, run by django-q2 (schedules in migrations)."""

from __future__ import annotations

import logging

from django.utils import timezone

logger = logging.getLogger(__name__)


def sweep_lifecycle() -> int:
    """Every minute (migration scheduling 0008): late arrivals, no-shows, completions, and
    holds past their expiry (``holds_sweep_expired``, safe to run twice)."""
    from scheduling.lifecycle import appointments_sweep_lifecycle
    from scheduling.services import holds_sweep_expired

    now = timezone.now()
    report = appointments_sweep_lifecycle(now=now)
    expired = holds_sweep_expired(now=now)
    return report.late_flagged + report.no_shows + report.completed + expired


def purge_idempotency_records() -> int:
    """Hourly (migration scheduling 0010): forget API Idempotency-Keys past their lifetime."""
    from scheduling.api.idempotency import idempotency_records_purge

    deleted = idempotency_records_purge()
    logger.info("Purged %d old Idempotency-Key records.", deleted)
    return deleted
