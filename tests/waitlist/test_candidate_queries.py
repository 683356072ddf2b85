"""The candidate search reads a fixed number of queries however many entries wait (a day with
thousands of freed slots and 20,000 entries must stay cheap): it fails on a query per entry."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import ClientPreferences
from messaging.sequences import sequence_for
from scheduling.services import appointment_cancel
from waitlist import services
from waitlist.models import Band, FreedSlot, Offer, WaitlistEntry, WaitlistSettings

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def reminder_sequence(practice):
    """Made on first use by messaging (a one-time cost, not the search's)."""
    return sequence_for(practice)


def waiting_clients(practice, service_type, clinician, make_client, book, n: int, offset: int) -> None:
    """``n`` entries of every kind the search looks at: a session to move earlier, a last session
    with the clinician, quiet hours of their own, an offer earlier today."""
    for i in range(n):
        client = make_client(f"W{offset + i}")
        kind, apart = i % 4, timedelta(minutes=50 * ((offset + i) // 4))
        earlier_than = None
        if kind == 0:
            earlier_than = book(client, datetime(2026, 5, 20, tzinfo=NEW_YORK) + apart)
        elif kind == 1:
            book(client, datetime(2026, 5, 5, tzinfo=NEW_YORK) + apart)
        elif kind == 2:
            ClientPreferences.objects.create(
                practice=practice, client=client, quiet_start=time(22), quiet_end=time(7)
            )
        entry = services.waitlist_entry_create(
            practice=practice,
            client=client,
            service_type=service_type,
            clinicians=[clinician] if i % 2 else [],
            earlier_than=earlier_than,
            band=Band.SOON if i % 3 == 0 else Band.ROUTINE,
            now=NOW - timedelta(days=i + 1),
        )
        if kind == 3:
            other = FreedSlot.objects.create(
                practice=practice,
                clinician=clinician,
                service_type=service_type,
                modality="telehealth",
                starts_at=NOW + timedelta(days=20),
                ends_at=NOW + timedelta(days=20, minutes=45),
                freed_at=NOW,
                status="unfilled",
            )
            Offer.objects.create(
                practice=practice,
                entry=entry,
                client=client,
                slot=other,
                wave=1,
                token_hash=f"{entry.pk:064d}",
                sent_at=NOW - timedelta(hours=1),
                expires_at=NOW - timedelta(minutes=1),
                status="expired",
            )


def count_search(slot, settings) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        found = services._candidates(slot, settings, NOW)
    return len(captured), len(found)


def test_the_candidate_search_costs_the_same_queries_for_4_or_24_entries(
    practice, service_type, hours, make_client, book
):
    settings = WaitlistSettings.for_practice(practice)
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    waiting_clients(practice, service_type, hours, make_client, book, 4, 0)
    # Recorded by hand (these tests do not commit, so no task runs): the search is measured alone.
    appointment_cancel(appointment=session, now=NOW)
    slot = services.freed_slot_record(appointment_id=session.pk, now=NOW)
    few_queries, few_found = count_search(slot, settings)

    waiting_clients(practice, service_type, hours, make_client, book, 20, 100)
    many_queries, many_found = count_search(slot, settings)

    assert WaitlistEntry.objects.count() == 24
    assert many_found > few_found > 0  # the search really judged the new entries
    assert many_queries == few_queries <= 8


def test_a_whole_wave_costs_the_same_queries_for_4_or_24_entries(
    practice, service_type, hours, make_client, book
):
    waiting_clients(practice, service_type, hours, make_client, book, 4, 200)
    first = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    second = book(make_client("Max"), datetime(2026, 5, 8, 14, tzinfo=NEW_YORK))

    def wave_queries(session) -> int:
        appointment_cancel(appointment=session, now=NOW)
        slot = services.freed_slot_record(appointment_id=session.pk, now=NOW)
        with CaptureQueriesContext(connection) as captured:
            offers = services.freed_slot_offer_next_wave(slot=slot, now=NOW, force=True)
        assert len(offers) == 1  # >= 72 h ahead: one client at a time
        return len(captured)

    wave_queries(book(make_client("Kim"), datetime(2026, 5, 8, 12, tzinfo=NEW_YORK)))  # caches warm
    few = wave_queries(first)
    waiting_clients(practice, service_type, hours, make_client, book, 20, 300)
    assert wave_queries(second) == few
