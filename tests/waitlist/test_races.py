"""Two acceptances of one slot at the same instant, and an acceptance racing a staff booking, on
PostgreSQL: real concurrent transactions on their own connections (SQLite runs one writer at a
time, so there is nothing to race). Exactly one booking; the other client keeps their place."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from scheduling.models import Appointment, Hold
from scheduling.services import appointment_book, appointment_cancel
from waitlist import services
from waitlist.models import EntryStatus, FreedSlot, Offer, OfferStatus, SlotStatus
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]
SLOT = datetime(2026, 5, 5, 16, tzinfo=NEW_YORK)  # 28 h ahead: two clients at once


def run_together(*calls) -> list[str]:
    barrier = threading.Barrier(len(calls))
    results: list[str] = [""] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = str(call())
        except Exception as error:
            results[index] = f"error: {type(error).__name__}"
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def wave_of_two(practice, service_type, make_client, book, clock):
    first, second = make_client("Fay"), make_client("Sid")
    for client in (first, second):
        waitlist_entry_create(
            practice=practice, client=client, service_type=service_type, now=NOW - timedelta(days=1)
        )
    session = book(make_client("Lee"), SLOT)
    appointment_cancel(appointment=session, now=NOW)
    offers = list(Offer.objects.filter(status=OfferStatus.LIVE))
    assert len(offers) == 2
    return offers


def test_two_clients_accepting_the_same_slot_at_the_same_instant_make_one_booking(wave_of_two):
    at = NOW + timedelta(minutes=5)
    results = run_together(
        *(lambda offer=offer: services.offer_accept(offer=offer, now=at) for offer in wave_of_two)
    )

    assert sorted(results) == [services.ACCEPTED, services.TAKEN]
    assert Appointment.objects.filter(starts_at=SLOT).exclude(status="cancelled").count() == 1
    loser = wave_of_two[results.index(services.TAKEN)]
    loser.refresh_from_db()
    assert loser.status == OfferStatus.TAKEN
    assert loser.entry.status == EntryStatus.ACTIVE
    assert FreedSlot.objects.get().status == SlotStatus.FILLED
    assert not Hold.objects.exists()


def test_an_acceptance_racing_a_staff_booking_over_the_offer_makes_one_booking(
    wave_of_two, practice, hours, service_type, make_client
):
    at = NOW + timedelta(minutes=5)
    walk_in = make_client("Wes")
    hold = Hold.objects.get()

    def staff_books_over_the_offer():
        try:
            appointment_book(
                practice=practice,
                clinician=hours,
                clients=[walk_in],
                starts_at=SLOT,
                service_type=service_type,
                hold=hold,  # staff book over the offer explicitly, which withdraws it
                now=at,
            )
        except ValidationError:
            return "refused"
        return "booked"

    results = run_together(
        lambda: services.offer_accept(offer=wave_of_two[0], now=at), staff_books_over_the_offer
    )

    assert results in ([services.ACCEPTED, "refused"], [services.TAKEN, "booked"])
    assert Appointment.objects.filter(starts_at=SLOT).exclude(status="cancelled").count() == 1


def test_an_acceptance_racing_a_booking_page_request_for_the_same_time_makes_one_booking(
    wave_of_two, practice, hours, service_type
):
    """The booking page asks for the offered time at the very moment a client accepts it: the
    acceptance books it and the request is refused (the offer's hold, then the session, keep it);
    nothing is left held for the request."""
    from selfservice.models import BookingRequest, OnlineBooking
    from selfservice.services import Person, booking_request_create

    online = OnlineBooking.objects.create(practice=practice, enabled=True)
    online.services.set([service_type])
    at = NOW + timedelta(minutes=5)
    nora = Person(
        first_name="Nora",
        last_name="Quinn",
        email="nora@example.org",
        phone="+12125550123",
        timezone="America/New_York",
        sms_consent=True,
    )

    def the_booking_page_asks_for_it():
        try:
            booking_request_create(
                practice=practice,
                clinician=hours,
                service_type=service_type,
                modality="telehealth",
                starts_at=SLOT,
                person=nora,
                needs={"concern_ids": [], "age_group": "adult", "state": "NY"},
                now=at,
            )
        except ValidationError:
            return "refused"
        return "requested"

    results = run_together(
        lambda: services.offer_accept(offer=wave_of_two[0], now=at), the_booking_page_asks_for_it
    )

    assert results == [services.ACCEPTED, "refused"]
    assert Appointment.objects.filter(starts_at=SLOT).exclude(status="cancelled").count() == 1
    assert not BookingRequest.objects.exists() and not Hold.objects.exists()
    assert FreedSlot.objects.get().status == SlotStatus.FILLED
