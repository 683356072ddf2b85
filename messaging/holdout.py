"""Measured lift (SPEC F18): a random share of clients is held out of a step, recorded at planning.

When a step with ``holdout_percent > 0`` is planned for a client, one draw decides whether this
client of this appointment gets the step or is held out of it; the draw is stored as a
``HoldoutAssignment`` (both arms), and a held-out client's outbox row is written ``skipped`` with
the reason ``HELD_OUT_REASON``, so the dispatcher never claims it and the timeline says why.

Only rows that would otherwise be planned take part: a step whose time had passed at booking,
or which does not apply to the session, is in neither arm.
"""

from __future__ import annotations

import random
from datetime import datetime

from messaging.models import Audience, HoldoutAssignment, OutboxMessage, OutboxState

HELD_OUT_REASON = (
    "Held out for measurement: a random share of sessions skips this step to measure its effect."
)

# The draw. A module attribute so a test can replace it with a seeded ``random.Random``.
RANDOM: random.Random = random.SystemRandom()


def apply_holdouts(*, rows: list[OutboxMessage], now: datetime) -> None:
    """Draw (once, stored) and apply the holdout of every step in ``rows`` that has one.

    ``rows`` are unsaved outbox rows of one appointment; held-out ones are changed in place to
    ``skipped`` before they are inserted. Planning again reads the stored draw, so it never
    changes an earlier assignment."""
    eligible = [
        row
        for row in rows
        if row.state == OutboxState.PLANNED
        and row.step is not None
        and row.step.holdout_percent > 0
        and row.step.audience == Audience.CLIENT
        and row.participant is not None
    ]
    if not eligible:
        return
    drawn = [
        HoldoutAssignment(
            practice_id=row.practice_id,
            step=row.step,
            appointment=row.appointment,
            participant=row.participant,
            held_out=RANDOM.random() * 100 < row.step.holdout_percent,
            percent=row.step.holdout_percent,
            assigned_at=now,
        )
        for row in eligible
    ]
    # A concurrent planner may have drawn first; its stored draw wins (read back below).
    HoldoutAssignment.objects.bulk_create(drawn, ignore_conflicts=True)
    held_out = set(
        HoldoutAssignment.objects.filter(appointment=eligible[0].appointment, held_out=True).values_list(
            "step_id", "participant_id"
        )
    )
    for row in eligible:
        if (row.step.pk, row.participant.pk) in held_out:
            row.state = OutboxState.SKIPPED
            row.reason = HELD_OUT_REASON
            row.settled_at = now
