"""A list of callables that apps higher in the stack fill in (in their ``AppConfig.ready``), so a
lower app can hand work upward without importing it (scheduling.events, scheduling.freed_time).

Each subscriber is called on its own: one that fails is logged and neither stops the others nor
reaches the caller, whose change has already been made (each consumer keeps its own state and a
sweep that catches up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction


class Subscribers:
    def __init__(self, what: str, logger: logging.Logger):
        self.what = what  # named in the log when a subscriber fails
        self.logger = logger
        self._subscribers: list[Callable[[Any], None]] = []

    def subscribe(self, subscriber: Callable[[Any], None]) -> None:
        if subscriber not in self._subscribers:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Callable[[Any], None]) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def notify(self, value: Any, *, about: str, in_savepoint: bool = False) -> None:
        """Call every subscriber with ``value``; ``about`` names it in the log. ``in_savepoint``:
        inside the caller's transaction, each subscriber in a savepoint of its own, so a failing
        one undoes only its own writes."""
        for subscriber in list(self._subscribers):
            try:
                if in_savepoint:
                    with transaction.atomic():
                        subscriber(value)
                else:
                    subscriber(value)
            except Exception:
                self.logger.exception(
                    "%s subscriber %s failed for %s",
                    self.what,
                    getattr(subscriber, "__qualname__", subscriber),
                    about,
                )
