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
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def unsubscribe(subscriber: Subscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def publish_on_commit(event: AppointmentEvent) -> None:
    _record_in_transaction(event)
    transaction.on_commit(lambda: _deliver(event))


# Subscribers that keep an outbox (outbound webhooks) record the event in the publishing
# service's transaction, so the change and its outbox row commit together. They may only insert
# rows of their own; each runs in a savepoint, and a failure is logged, never undoing the change.
_in_transaction_subscribers: list[Subscriber] = []


def subscribe_in_transaction(subscriber: Subscriber) -> None:
    if subscriber not in _in_transaction_subscribers:
        _in_transaction_subscribers.append(subscriber)


def unsubscribe_in_transaction(subscriber: Subscriber) -> None:
    if subscriber in _in_transaction_subscribers:
        _in_transaction_subscribers.remove(subscriber)


def _record_in_transaction(event: AppointmentEvent) -> None:
    for subscriber in list(_in_transaction_subscribers):
        try:
            with transaction.atomic():
                subscriber(event)
        except Exception:
            logger.exception(
                "in-transaction subscriber %s failed for %s #%s",
                getattr(subscriber, "__qualname__", subscriber),
                event.kind,
                event.appointment_id,
            )


def _deliver(event: AppointmentEvent) -> None:
    for subscriber in list(_subscribers):
        try:
            subscriber(event)
        except Exception:
            logger.exception(
                "appointment event subscriber %s failed for %s #%s",
                getattr(subscriber, "__qualname__", subscriber),
                event.kind,
                event.appointment_id,
            )
