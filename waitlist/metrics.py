"""Refill figures for the staff waitlist page: what freed up, what the waitlist refilled, how fast
and with how many offers, and the sessions and fees recovered. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median

from django.db.models import Count

from practice.models import Practice
from waitlist.models import FreedSlot, Offer, OfferStatus, SlotStatus


@dataclass(frozen=True)
class RefillFigures:
    freed: int
    refilled: int
    median_minutes_to_refill: float | None
    offers_per_refill: float | None
    revenue_recovered: Decimal

    @property
    def refilled_share(self) -> float | None:
        return self.refilled / self.freed if self.freed else None


def refill_figures(*, practice: Practice, now: datetime, days: int = 30) -> RefillFigures:
    """Slots freed in the last ``days`` (offered or not), and those refilled through an accepted
    offer (not the ones staff booked over the offer)."""
    slots = FreedSlot.objects.filter(practice=practice, freed_at__gte=now - timedelta(days=days))
    refilled = list(
        slots.filter(status=SlotStatus.FILLED, offers__status=OfferStatus.ACCEPTED)
        .select_related("filled_appointment")
        .distinct()
    )
    offers = Offer.objects.filter(slot__in=[slot.pk for slot in refilled]).aggregate(n=Count("pk"))["n"]
    minutes = [
        (slot.settled_at - slot.freed_at) / timedelta(minutes=1) for slot in refilled if slot.settled_at
    ]
    revenue = sum(
        (
            slot.filled_appointment.fee or Decimal(0)
            for slot in refilled
            if slot.filled_appointment is not None
        ),
        Decimal(0),
    )
    return RefillFigures(
        freed=slots.count(),
        refilled=len(refilled),
        median_minutes_to_refill=median(minutes) if minutes else None,
        offers_per_refill=offers / len(refilled) if refilled else None,
        revenue_recovered=revenue,
    )
