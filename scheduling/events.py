"""After-commit notifications of appointment changes, for the apps that build on scheduling.

Dependencies point one way (practice ← scheduling ← telehealth, messaging), so scheduling
cannot call telehealth or messaging. Instead its services publish an ``AppointmentEvent``
once the transaction commits, and those apps subscribe in their ``AppConfig.ready``.
Subscribers only hand work on (enqueue a task, plan rows); the rules stay in services.
A subscriber that fails is logged and does not affect the others or the booking, which
has already committed: each consumer keeps its own state and a sweep that catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from practice.subscribers import Subscribers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppointmentEvent:
    # "booked", "rescheduled", "cancelled", "confirmed", "attendance", "joined", and the session
    # lifecycle (scheduling.lifecycle): "in_progress", "completed", "no_show" (one per participant
    # who became a no-show), "payment_due" (a completed session with a fee, or a no-show whose
    # client signed the no-show policy of a practice that charges a fee).
    kind: str
    appointment_id: int
    # For "rescheduled": the appointment that was replaced by ``appointment_id``.
    previous_id: int | None = None
    # For "no_show" and a no-show's "payment_due": the participant concerned.
    participant_id: int | None = None


Subscriber = Callable[[AppointmentEvent], None]
_after_commit = Subscribers("appointment event", logger)
subscribe = _after_commit.subscribe
unsubscribe = _after_commit.unsubscribe


def publish_on_commit(event: AppointmentEvent) -> None:
    _record_in_transaction(event)
    transaction.on_commit(lambda: _deliver(event))


# Subscribers that keep an outbox (outbound webhooks) record the event in the publishing
# service's transaction, so the change and its outbox row commit together. They may only insert
# rows of their own; each runs in a savepoint, and a failure is logged, never undoing the change.
_in_transaction = Subscribers("in-transaction appointment event", logger)
subscribe_in_transaction = _in_transaction.subscribe
unsubscribe_in_transaction = _in_transaction.unsubscribe


def _record_in_transaction(event: AppointmentEvent) -> None:
    _in_transaction.notify(event, about=_describe(event), in_savepoint=True)


def _deliver(event: AppointmentEvent) -> None:
    _after_commit.notify(event, about=_describe(event))


def _describe(event: AppointmentEvent) -> str:
    return f"{event.kind} #{event.appointment_id}"
