"""The staff waitlist page tells a freed time that is waiting (everyone it suits is busy: another
offer, quiet hours, today's limit) from one being offered right now."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from scheduling.services import appointment_cancel
from waitlist.models import FreedSlot, Offer, SlotStatus
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_waiting_slot_says_so_and_when_it_is_tried_next(
    signed_in, front_desk, practice, service_type, make_client, book, clock
):
    waitlist_entry_create(practice=practice, client=make_client("Ann"), service_type=service_type, now=NOW)
    appointment_cancel(
        appointment=book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)), now=NOW
    )
    slot = FreedSlot.objects.get()
    assert Offer.objects.filter(slot=slot).exists(), "offered at once: Ann fits"
    assert "Being offered · 1 wave" in signed_in(front_desk).get("/waitlist/").content.decode()

    # Ann is busy elsewhere until 11:00: the slot waits for her.
    Offer.objects.filter(slot=slot).delete()
    FreedSlot.objects.filter(pk=slot.pk).update(hold=None, retry_at=NOW + timedelta(hours=1))

    text = signed_in(front_desk).get("/waitlist/").content.decode()
    assert "Waiting: everyone it suits is busy" in text
    assert "next try " + (NOW + timedelta(hours=1)).astimezone(NEW_YORK).strftime("%b %-d, %-I:%M %p") in text
    assert FreedSlot.objects.get().status == SlotStatus.OFFERING
