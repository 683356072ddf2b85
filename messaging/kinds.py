"""Outbox rows that are not a sequence step: their kinds, and the e-mail fallback of a text.

Planning (messaging.services) and sending (messaging.dispatch) both need these. They live here so
that the dispatcher never imports the planning services: services hand work to the dispatcher
(``dispatch_one`` for an immediate send), never the other way round.
"""

from __future__ import annotations

from datetime import datetime

from messaging.models import Channel, OutboxMessage

CANCELLATION_NOTICE = "cancellation_notice"
# The e-mail that replaces a failed or undeliverable text has the text's kind with this suffix.
FALLBACK_SUFFIX = ":email"
# Staff tapped "Resend link" (the today board, the queue): kinds link_resend:1, link_resend:2, …
LINK_RESEND = "link_resend"
# How the fallback e-mail's row explains itself on the timeline, before and after it is sent.
FALLBACK_REASON = "E-mail instead of a text"


def message_is_link_resend(kind: str) -> bool:
    return kind.startswith(LINK_RESEND + ":")


def message_plan_fallback(*, message: OutboxMessage, now: datetime, why: str) -> OutboxMessage | None:
    """An SMS that failed or could not be delivered goes out again by e-mail (SPEC F12), once."""
    if message.channel != Channel.SMS or message.kind.endswith(FALLBACK_SUFFIX):
        return None
    fallback, _ = OutboxMessage.objects.get_or_create(
        appointment_id=message.appointment_id,
        recipient_key=message.recipient_key,
        kind=message.kind + FALLBACK_SUFFIX,
        defaults={
            "practice_id": message.practice_id,
            "participant_id": message.participant_id,
            "step_id": message.step_id,
            "channel": Channel.EMAIL,
            "fallback_of": message,
            "due_at": now,
            "reason": f"{FALLBACK_REASON}: {why}"[:300],
        },
    )
    return fallback
