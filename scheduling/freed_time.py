"""Time given back to a clinician's calendar by something other than a session: a removed time
off, new weekly hours (here), a declined or expired booking request (selfservice).

Sessions announce their changes through ``scheduling.events``; availability has no such events,
and the apps that care (the waitlist, which offers freed time to the clients waiting) sit above
scheduling and may not be imported here. So the services that change availability
(``scheduling.setup_services``) publish a ``FreedTime`` after their transaction commits, and
those apps subscribe in their ``AppConfig.ready``. The rule "this change frees time" stays next to
the data it is about: every caller of ``time_off_remove`` or ``weekly_hours_add`` (staff pages,
the demo, the admin, a future API) frees time, not only the page that happens to call them.

Subscribers only hand work on (enqueue a task); a failing one is logged and never undoes the
change, which has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from practice.subscribers import Subscribers

logger = logging.getLogger(__name__)

TIME_OFF_REMOVED = "time_off_removed"
HOURS_ADDED = "hours_added"
REQUEST_DECLINED = "request_declined"
REQUEST_EXPIRED = "request_expired"


@dataclass(frozen=True)
class FreedTime:
    clinician_id: int
    # The stretches given back (UTC instants). New weekly hours: their occurrences up to the
    # practice's booking horizon.
    windows: tuple[tuple[datetime, datetime], ...]
    source: str  # one of the names above
    # Names the change, so that handling it twice offers nothing twice: "time_off:12",
    # "hours:7", "booking_request:40".
    key: str
    # Known when a booking request gave its time back: the service and modality asked for.
    service_type_id: int | None = None
    modality: str = ""


Subscriber = Callable[[FreedTime], None]
_subscribers = Subscribers("freed-time", logger)
subscribe = _subscribers.subscribe
unsubscribe = _subscribers.unsubscribe


def publish_on_commit(freed: FreedTime) -> None:
    if freed.windows:
        transaction.on_commit(lambda: _subscribers.notify(freed, about=freed.key))
