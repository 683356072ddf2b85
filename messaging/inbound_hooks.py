"""Answers to an inbound "YES" from the apps above messaging.

A "YES" text is an opt-in keyword (messaging.twilio_inbound), and also the natural answer to an
offer the client was texted by an app that builds on messaging (the waitlist: "a time opened up,
reply YES"). Messaging cannot import those apps, so they register a handler in their
``AppConfig.ready``; the inbound webhook asks each in turn. A handler returns the reply text when
the YES was about something of theirs (and acts on it through its own services), else None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from practice.models import Client

logger = logging.getLogger(__name__)

YesHandler = Callable[..., str | None]  # (*, clients: list[Client], now: datetime) -> reply or None
_yes_handlers: list[YesHandler] = []


def on_yes(handler: YesHandler) -> None:
    if handler not in _yes_handlers:
        _yes_handlers.append(handler)


def answer_yes(*, clients: list[Client], now: datetime) -> str | None:
    """The first handler's reply to a YES from these clients' number, or None if none claims it."""
    for handler in list(_yes_handlers):
        try:
            reply = handler(clients=clients, now=now)
        except Exception:
            logger.exception("YES handler %s failed", getattr(handler, "__qualname__", handler))
            continue
        if reply:
            return reply
    return None
