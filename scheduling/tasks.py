"""Scheduled housekeeping of the scheduling app, run by django-q2 (schedules in migrations)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def purge_idempotency_records() -> int:
    """Hourly (migration scheduling 0006): forget API Idempotency-Keys past their lifetime."""
    from scheduling.api.idempotency import idempotency_records_purge

    deleted = idempotency_records_purge()
    logger.info("Purged %d old Idempotency-Key records.", deleted)
    return deleted
