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
    transaction.on_commit(lambda: _deliver(event))


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
