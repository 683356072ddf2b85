"""Facts recorded inside the transaction that made them, for apps that keep their own outbox.

Outbound webhooks (the ``integrations`` app) must publish "a client opted out", "a tech check
failed" and "a message failed" exactly when those facts are committed, and the apps that
record them (practice, telehealth, messaging) must not import integrations: dependencies point
one way. So the service that records the fact calls ``record`` with what happened and the id
of the row it wrote, inside its own transaction; subscribers (registered in
``AppConfig.ready``) may only insert rows of their own, so the fact and its outbox entry commit
or roll back together. A subscriber that fails runs in a savepoint, is logged, and never undoes
the fact itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

logger = logging.getLogger(__name__)

CLIENT_OPTED_OUT = "client.opted_out"  # object: practice.ConsentEvent
TECH_CHECK_FAILED = "techcheck.failed"  # object: telehealth.TechCheckResult
MESSAGE_FAILED = "message.failed"  # object: messaging.OutboxMessage


@dataclass(frozen=True)
class Fact:
    kind: str
    practice_id: int
    object_id: int
    occurred_at: datetime


Recorder = Callable[[Fact], None]
_recorders: list[Recorder] = []


def subscribe(recorder: Recorder) -> None:
    if recorder not in _recorders:
        _recorders.append(recorder)


def unsubscribe(recorder: Recorder) -> None:
    if recorder in _recorders:
        _recorders.remove(recorder)


def record(fact: Fact) -> None:
    """Hand ``fact`` to every subscriber now, in the caller's transaction."""
    for recorder in list(_recorders):
        try:
            with transaction.atomic():
                recorder(fact)
        except Exception:
            logger.exception(
                "fact recorder %s failed for %s #%s",
                getattr(recorder, "__qualname__", recorder),
                fact.kind,
                fact.object_id,
            )
