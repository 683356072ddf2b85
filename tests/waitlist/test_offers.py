"""Freed slots offered in waves as holds; the offer page; the chain through time."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from messaging.backends import locmem
from scheduling.models import Appointment, AppointmentStatus, Hold, HoldKind
from scheduling.services import appointment_book, appointment_cancel, hold_place
from waitlist import services
from waitlist.models import Band, EntryStatus, FreedSlot, Offer, OfferMessage, OfferStatus, SlotStatus
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)


def enter(practice, service_type, client, band=Band.ROUTINE, created=NOW - timedelta(days=1), **kwargs):
    return waitlist_entry_create(
        practice=practice, client=client, service_type=service_type, band=band, now=created, **kwargs
    )


def token_of(sms_body: str) -> str:
    return sms_body.rsplit("/o/", 1)[1].strip()


def test_a_cancellation_three_days_out_is_offered_to_the_top_client_as_a_held_slot(
    practice, service_type, make_client, book, clock
):
    leaving = make_client("Lee")
    urgent, routine = make_client("Uma"), make_client("Rob")
    enter(practice, service_type, routine, created=NOW - timedelta(days=10))
    enter(practice, service_type, urgent, band=Band.URGENT)
    session = book(leaving, datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))

    appointment_cancel(appointment=session, by_client=True, now=NOW)

    slot = FreedSlot.objects.get()
    assert (slot.status, slot.wave) == (SlotStatus.OFFERING, 1)
    offer = Offer.objects.get()
    assert offer.client == urgent
    assert offer.expires_at == NOW + timedelta(minutes=120)
    hold = Hold.objects.get()
    assert (hold.kind, hold.starts_at, hold.expires_at) == (
        HoldKind.WAITLIST_OFFER,
        slot.starts_at,
        offer.expires_at,
    )
    [text] = locmem.outbox
    assert text.to == urgent.phone.as_e164
    assert (
        "Friday, May 8" in text.body and "10:00 AM EDT" in text.body and "https://attend.test/o/" in text.body
    )
    message = OfferMessage.objects.get()
    assert (message.state, message.body) == ("accepted", "")  # the link's token is not kept


def test_a_get_of_the_offer_page_changes_nothing_and_a_post_books_the_slot(
    client, practice, service_type, make_client, book, clock
):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    appointment_cancel(appointment=session, now=NOW)
    token = token_of(locmem.outbox[0].body)

    page = client.get(f"/o/{token}")
    assert page.status_code == 200
    assert b"Friday, May 8 at 10:00 AM EDT" in page.content
    assert Offer.objects.get().status == OfferStatus.LIVE

    answer = client.post(f"/o/{token}", {"action": "accept"})
    assert answer.status_code == 302
    booked = Appointment.objects.get(participants__client=ann)
    assert booked.starts_at == datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)
    assert not Hold.objects.exists()
    assert FreedSlot.objects.get().status == SlotStatus.FILLED
    assert ann.waitlist_entries.get().status == EntryStatus.FULFILLED
    assert b"the session is yours" in client.get(answer["Location"]).content


def test_a_later_acceptance_of_a_taken_slot_is_told_and_keeps_its_place(
    client, practice, service_type, make_client, book, clock
):
    first, second = make_client("Fay"), make_client("Sid")
    enter(practice, service_type, first)
    enter(practice, service_type, second)
    # 30 hours ahead: two at a time.
    session = book(make_client("Lee"), datetime(2026, 5, 5, 16, tzinfo=NEW_YORK))
    appointment_cancel(appointment=session, now=NOW)
    tokens = {text.to: token_of(text.body) for text in locmem.outbox}
    assert len(tokens) == 2

    client.post(f"/o/{tokens[first.phone.as_e164]}", {"action": "accept"})
    answer = client.post(f"/o/{tokens[second.phone.as_e164]}", {"action": "accept"}, follow=True)

    assert b"just taken" in answer.content and b"You keep your place" in answer.content
    assert Appointment.objects.filter(participants__client=second).count() == 0
    assert second.waitlist_entries.get().status == EntryStatus.ACTIVE
    assert Offer.objects.get(client=second).status == OfferStatus.TAKEN


def test_a_72_hour_offer_chain_through_time(practice, service_type, make_client, book):
    """Thursday noon freed on Monday noon (72 h): one client for 120 min; then two for 60 min;
    then the last; a decline in the last wave leaves nobody, and the slot is given back."""
    a, b, c, d = (make_client(name) for name in ("Amy", "Ben", "Cat", "Dan"))
    enter(practice, service_type, a, band=Band.URGENT)
    enter(practice, service_type, b, band=Band.SOON)
    enter(practice, service_type, c, created=NOW - timedelta(days=5))
    enter(practice, service_type, d, created=NOW - timedelta(days=2))
    with time_machine.travel(NOW - timedelta(days=7), tick=False):
        session = book(make_client("Lee"), datetime(2026, 5, 7, 12, tzinfo=NEW_YORK))
    with time_machine.travel(NOW, tick=False):
        appointment_cancel(appointment=session, now=NOW)
    assert [o.client for o in Offer.objects.filter(wave=1)] == [a]

    at = NOW + timedelta(minutes=119)
    assert services.waitlist_sweep(now=at) == 0  # A's two hours are not over

    at = NOW + timedelta(minutes=121)
    assert services.waitlist_sweep(now=at) == 2
    assert Offer.objects.get(client=a).status == OfferStatus.EXPIRED
    wave2 = Offer.objects.filter(wave=2)
    assert {o.client for o in wave2} == {b, c}
    assert {o.expires_at for o in wave2} == {at + timedelta(minutes=60)}
    assert Hold.objects.get().expires_at == at + timedelta(minutes=60)

    services.offer_decline(offer=Offer.objects.get(client=b), now=at + timedelta(minutes=5))
    assert not Offer.objects.filter(wave=3).exists()  # C's offer still runs
    at += timedelta(minutes=61)
    assert services.waitlist_sweep(now=at) == 1
    [last] = Offer.objects.filter(wave=3)
    assert last.client == d

    services.offer_accept(offer=last, now=at + timedelta(minutes=10))
    booked = Appointment.objects.get(participants__client=d)
    assert booked.starts_at == datetime(2026, 5, 7, 12, tzinfo=NEW_YORK)
    slot = FreedSlot.objects.get()
    assert (slot.status, slot.filled_appointment) == (SlotStatus.FILLED, booked)
    assert services.waitlist_sweep(now=at + timedelta(minutes=30)) == 0


def test_nobody_left_gives_the_slot_back(practice, service_type, make_client, book, clock):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    appointment_cancel(appointment=session, now=NOW)

    services.offer_decline(offer=Offer.objects.get(), now=NOW + timedelta(minutes=1))

    slot = FreedSlot.objects.get()
    assert (slot.status, slot.reason) == (SlotStatus.UNFILLED, "Nobody on the waitlist fits.")
    assert not Hold.objects.exists()
    assert ann.waitlist_entries.get().status == EntryStatus.ACTIVE


def test_nothing_is_offered_for_a_slot_starting_within_two_hours(
    practice, service_type, make_client, book, clock
):
    enter(practice, service_type, make_client("Ann"))
    session = book(make_client("Lee"), NOW + timedelta(minutes=110))
    appointment_cancel(appointment=session, now=NOW)
    assert FreedSlot.objects.get().status == SlotStatus.UNFILLED
    assert not Offer.objects.exists() and not locmem.outbox


def test_a_client_who_opted_out_of_texts_gets_the_offer_by_email_only(
    practice, service_type, make_client, book, clock
):
    quiet = make_client("Ola", texts=False)
    enter(practice, service_type, quiet)
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    appointment_cancel(appointment=session, now=NOW)

    assert locmem.outbox == []
    [email] = mail.outbox
    assert email.to == [quiet.email]
    assert "/o/" in email.body and "Friday, May 8" in email.body


def test_offers_wait_for_the_clients_quiet_hours(practice, service_type, make_client, book):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    late = datetime(2026, 5, 4, 22, 0, tzinfo=NEW_YORK)
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    with time_machine.travel(late, tick=False):
        appointment_cancel(appointment=session, now=late)
    # 22:00 is inside the practice's quiet hours (21:00-08:00): nobody is offered anything now.
    assert not Offer.objects.exists() and not locmem.outbox
    assert FreedSlot.objects.get().status == SlotStatus.OFFERING
    assert services.waitlist_sweep(now=datetime(2026, 5, 5, 7, 59, tzinfo=NEW_YORK)) == 0

    morning = datetime(2026, 5, 5, 8, 0, tzinfo=NEW_YORK)
    assert services.waitlist_sweep(now=morning) == 1
    assert Offer.objects.get().expires_at == morning + timedelta(minutes=120)


def test_three_expired_offers_in_a_row_pause_the_entry_and_ask_once(
    practice, service_type, make_client, book
):
    ann = make_client("Ann")
    entry = enter(practice, service_type, ann)
    at = NOW
    for day in range(3):
        at = NOW + timedelta(days=day)
        with time_machine.travel(at, tick=False):
            session = book(make_client(f"Lee{day}"), datetime(2026, 5, 12 + day, 10, tzinfo=NEW_YORK))
            appointment_cancel(appointment=session, now=at)
        services.waitlist_sweep(now=at + timedelta(minutes=121))
    entry.refresh_from_db()
    assert (entry.status, entry.expired_in_a_row) == (EntryStatus.PAUSED, 3)
    asks = OfferMessage.objects.filter(offer__isnull=True)
    assert asks.count() == 1 and asks.get().key.startswith("paused:")


def test_a_client_has_at_most_one_live_offer(practice, service_type, make_client, book, clock):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    first = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    second = book(make_client("Max"), datetime(2026, 5, 8, 14, tzinfo=NEW_YORK))
    appointment_cancel(appointment=first, now=NOW)
    appointment_cancel(appointment=second, now=NOW)
    [offer] = Offer.objects.filter(client=ann)
    # The second slot waits for her (not given up): tried again when her live offer can end.
    waiting = FreedSlot.objects.get(starts_at=second.starts_at)
    assert (waiting.status, waiting.wave, waiting.hold, waiting.retry_at) == (
        SlotStatus.OFFERING,
        0,
        None,
        offer.expires_at,
    )
    services.waitlist_sweep(now=NOW + timedelta(minutes=5))
    assert Offer.objects.filter(client=ann).count() == 1  # nothing changed: left alone

    # She says no to the first: the second is hers at the next sweep.
    services.offer_decline(offer=offer, now=NOW + timedelta(minutes=10))
    services.waitlist_sweep(now=NOW + timedelta(minutes=11))
    assert Offer.objects.get(client=ann, status=OfferStatus.LIVE).slot == waiting


def test_moving_up_cascades_and_stops_after_the_setting(practice, service_type, make_client, book, clock):
    """Eve and Fin wait for earlier times than their sessions; Thursday frees; Fin (more days to
    gain) says no, Eve takes it; her Friday slot is then offered to Fin, who takes it; his session
    the week after frees in turn (step 3, the last the setting allows)."""
    eve, fin = make_client("Eve"), make_client("Fin")
    eve_later = book(eve, datetime(2026, 5, 15, 15, tzinfo=NEW_YORK))
    fin_later = book(fin, datetime(2026, 5, 22, 15, tzinfo=NEW_YORK))
    enter(practice, service_type, eve, earlier_than=eve_later)
    enter(practice, service_type, fin, earlier_than=fin_later)
    enter(practice, service_type, make_client("Gus"))  # new, no session: ranked after them
    thursday = book(make_client("Lee"), datetime(2026, 5, 7, 13, tzinfo=NEW_YORK))

    appointment_cancel(appointment=thursday, now=NOW)
    first = Offer.objects.get()
    assert first.client == fin  # 15 days gained against Eve's 8
    services.offer_decline(offer=first, now=NOW + timedelta(minutes=1))
    eves = Offer.objects.get(client=eve)
    assert services.offer_accept(offer=eves, now=NOW + timedelta(minutes=2)) == services.ACCEPTED

    eve_later.refresh_from_db()
    assert eve_later.status == AppointmentStatus.RESCHEDULED
    moved = Appointment.objects.get(rescheduled_from=eve_later)
    assert moved.starts_at == datetime(2026, 5, 7, 13, tzinfo=NEW_YORK)
    step2 = FreedSlot.objects.get(source_appointment=eve_later)
    assert step2.step == 2
    fins = Offer.objects.get(slot=step2)
    assert fins.client == fin
    assert services.offer_accept(offer=fins, now=NOW + timedelta(minutes=3)) == services.ACCEPTED
    assert Appointment.objects.get(rescheduled_from=fin_later).starts_at == eve_later.starts_at
    step3 = FreedSlot.objects.get(source_appointment=fin_later)
    assert step3.step == 3
    assert (
        Appointment.objects.filter(starts_at=datetime(2026, 5, 7, 13, tzinfo=NEW_YORK))
        .exclude(status=AppointmentStatus.CANCELLED)
        .count()
        == 1
    )


def test_while_offered_the_slot_is_held_against_the_booking_page_and_the_staff_form(
    practice, hours, service_type, make_client, book, clock
):
    enter(practice, service_type, make_client("Ann"))
    friday = datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)
    appointment_cancel(appointment=book(make_client("Lee"), friday), now=NOW)

    with pytest.raises(ValidationError, match="held"):
        hold_place(
            practice=practice,
            clinician=hours,
            starts_at=friday,
            ends_at=friday + timedelta(minutes=45),
            expires_at=NOW + timedelta(hours=24),
            kind=HoldKind.BOOKING_REQUEST,
            now=NOW,
        )
    with pytest.raises(ValidationError, match="held"):
        appointment_book(
            practice=practice,
            clinician=hours,
            clients=[make_client("Wes")],
            starts_at=friday,
            service_type=service_type,
            now=NOW,
        )


def test_staff_booking_over_the_offer_withdraws_it(practice, hours, service_type, make_client, book, clock):
    enter(practice, service_type, make_client("Ann"))
    friday = datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)
    appointment_cancel(appointment=book(make_client("Lee"), friday), now=NOW)
    offer = Offer.objects.get()

    walk_in = appointment_book(
        practice=practice,
        clinician=hours,
        clients=[make_client("Wes")],
        starts_at=friday,
        service_type=service_type,
        hold=Hold.objects.get(),  # explicitly over the offer
        now=NOW,
    )

    assert services.offer_accept(offer=offer, now=NOW + timedelta(minutes=1)) == services.TAKEN
    services.waitlist_sweep(now=NOW + timedelta(minutes=1))
    slot = FreedSlot.objects.get()
    assert (slot.status, slot.filled_appointment) == (SlotStatus.FILLED, walk_in)
    assert offer.entry.status == EntryStatus.ACTIVE


def test_an_unknown_link_is_a_plain_404(client, db):
    page = client.get("/o/not-a-real-token")
    assert page.status_code == 404
    assert b"This link is not valid" in page.content


def test_no_thanks_on_the_page_declines_and_keeps_the_place(
    client, practice, service_type, make_client, book, clock
):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    appointment_cancel(
        appointment=book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)), now=NOW
    )
    token = token_of(locmem.outbox[0].body)

    page = client.post(f"/o/{token}", {"action": "decline"}, follow=True)

    assert b"You keep your place" in page.content
    assert Offer.objects.get().status == OfferStatus.DECLINED
    assert ann.waitlist_entries.get().status == EntryStatus.ACTIVE
    assert not Appointment.objects.filter(participants__client=ann).exists()


def test_entries_expire_after_their_latest_date_on_the_clients_clock(practice, service_type, make_client):
    entry = enter(practice, service_type, make_client("Ann"), latest_date=date(2026, 5, 4))
    services.waitlist_sweep(now=datetime(2026, 5, 4, 23, 30, tzinfo=NEW_YORK))  # still the 4th in New York
    entry.refresh_from_db()
    assert entry.status == EntryStatus.ACTIVE
    services.waitlist_sweep(now=datetime(2026, 5, 5, 0, 30, tzinfo=NEW_YORK))
    entry.refresh_from_db()
    assert entry.status == EntryStatus.EXPIRED


def test_an_offer_sent_before_the_spring_dst_night_stops_its_clock_for_the_night(
    practice, service_type, make_client, hours
):
    """Through the services: an offer sent at 20:30 on the Saturday the clocks go forward (02:00)
    has 30 minutes of its 120 before the practice's quiet hours (21:00) and the other 90 from 08:00
    EDT — 12 real hours later, the night being an hour short; the sweep ends it then, not before."""
    evening = datetime(2026, 3, 7, 20, 30, tzinfo=NEW_YORK)
    ann = make_client("Ann")
    enter(practice, service_type, ann, created=evening - timedelta(days=1))
    with time_machine.travel(evening, tick=False):
        session = appointment_book(
            practice=practice,
            clinician=hours,
            clients=[make_client("Lee")],
            starts_at=datetime(2026, 3, 11, 10, tzinfo=NEW_YORK),
            service_type=service_type,
            now=evening,
        )
        appointment_cancel(appointment=session, now=evening)

    offer = Offer.objects.get()
    assert offer.client == ann
    assert offer.expires_at == datetime(2026, 3, 8, 9, 30, tzinfo=NEW_YORK)
    assert offer.expires_at - offer.sent_at == timedelta(hours=12)
    services.waitlist_sweep(now=datetime(2026, 3, 8, 9, 29, tzinfo=NEW_YORK))
    offer.refresh_from_db()
    assert offer.status == OfferStatus.LIVE
    services.waitlist_sweep(now=datetime(2026, 3, 8, 9, 31, tzinfo=NEW_YORK))
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXPIRED
