"""Freed time that is not a session: a removed time off, new weekly hours, a declined or expired
booking request. The open-slot selector says which starts it makes bookable; the waitlist offers
the ones someone waiting could take."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine

from scheduling import freed_time
from scheduling.models import Appointment, TimeOff, WeeklyHours
from scheduling.setup_services import time_off_add, time_off_remove, weekly_hours_add
from selfservice.models import BookingRequestStatus, OnlineBooking
from selfservice.services import (
    Person,
    booking_request_create,
    booking_request_decline,
    booking_requests_expire,
)
from waitlist import services
from waitlist.models import FreedSlot, Offer, OfferStatus, SlotSource, SlotStatus
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)


def enter(practice, service_type, client, **wishes):
    return waitlist_entry_create(
        practice=practice, client=client, service_type=service_type, now=NOW - timedelta(days=3), **wishes
    )


def test_removing_time_off_offers_the_time_it_gave_back(practice, service_type, hours, make_client, clock):
    ann = make_client("Ann")
    enter(practice, service_type, ann, time_windows=[["10:00", "12:00"]])
    wednesday = datetime(2026, 5, 6, 9, tzinfo=NEW_YORK)
    row = time_off_add(clinician=hours, starts_at=wednesday, ends_at=wednesday + timedelta(hours=8))

    time_off_remove(row=row)

    # 45-minute slots from 09:00 cut by the selector; the two inside her 10:00-12:00 window.
    slots = list(FreedSlot.objects.order_by("starts_at"))
    assert [s.starts_at.astimezone(NEW_YORK).time() for s in slots] == [time(10, 30), time(11, 15)]
    assert {(s.source, s.modality) for s in slots} == {(SlotSource.TIME_OFF_REMOVED, "")}
    # One live offer per client: the first goes to Ann, the second waits for her answer.
    offer = Offer.objects.get()
    assert (offer.client, offer.slot, offer.status) == (ann, slots[0], OfferStatus.LIVE)
    assert (slots[1].status, slots[1].retry_at) == (SlotStatus.OFFERING, offer.expires_at)

    # She takes it: booked with the clinician's first modality (the slot is "either").
    assert services.offer_accept(offer=offer, now=NOW + timedelta(minutes=5)) == services.ACCEPTED
    assert Appointment.objects.get(starts_at=slots[0].starts_at).modality == "telehealth"


def test_removing_time_off_nobody_could_use_records_nothing(
    practice, service_type, hours, make_client, clock
):
    enter(practice, service_type, make_client("Ann"), weekdays=[4])  # Fridays only
    wednesday = datetime(2026, 5, 6, 9, tzinfo=NEW_YORK)
    row = time_off_add(clinician=hours, starts_at=wednesday, ends_at=wednesday + timedelta(hours=8))
    time_off_remove(row=row)
    assert not FreedSlot.objects.exists()
    assert not TimeOff.objects.exists()


def test_new_weekly_hours_are_offered_on_the_days_they_add(practice, service_type, hours, make_client, clock):
    ann, bob = make_client("Ann"), make_client("Bob")
    enter(practice, service_type, ann, weekdays=[5])  # Saturdays
    enter(practice, service_type, bob, weekdays=[0, 1, 2, 3, 4])  # weekdays: nothing new for him

    weekly_hours_add(clinician=hours, weekday=5, starts_at=time(10), ends_at=time(11, 30))

    slots = list(FreedSlot.objects.order_by("starts_at"))
    # Two 45-minute starts each Saturday up to the 60-day horizon (May 9 to June 27: 8 Saturdays).
    assert len(slots) == 16
    assert {s.starts_at.astimezone(NEW_YORK).weekday() for s in slots} == {5}
    assert {s.source for s in slots} == {SlotSource.HOURS_ADDED}
    assert Offer.objects.get().client == ann


def test_the_same_change_handled_twice_offers_nothing_twice(
    practice, service_type, hours, make_client, clock
):
    enter(practice, service_type, make_client("Ann"))
    start = datetime(2026, 5, 6, 10, tzinfo=NEW_YORK)
    kwargs = dict(
        clinician_id=hours.pk,
        windows=[(start, start + timedelta(minutes=45))],
        source=SlotSource.TIME_OFF_REMOVED,
        key="time_off:99",
        now=NOW,
    )
    # The selector's 45-minute starts from 09:00 that overlap 10:00-10:45: 09:45 and 10:30.
    assert len(services.freed_time_record(**kwargs)) == 2
    assert services.freed_time_record(**kwargs) == []
    assert FreedSlot.objects.count() == 2


def test_time_within_the_minimum_lead_is_not_offered(practice, service_type, hours, make_client, clock):
    enter(practice, service_type, make_client("Ann"))
    soon = NOW + timedelta(minutes=30)
    slots = services.freed_time_record(
        clinician_id=hours.pk,
        windows=[(soon, soon + timedelta(minutes=90))],
        source=SlotSource.TIME_OFF_REMOVED,
        key="time_off:1",
        now=NOW,
    )
    assert slots == []


def request_for(practice, clinician, service_type, starts_at):
    OnlineBooking.objects.get_or_create(practice=practice, defaults={"enabled": True})
    person = Person(
        first_name="Nora",
        last_name="Quinn",
        email="nora@example.org",
        phone="",
        timezone="America/New_York",
        sms_consent=False,
    )
    return booking_request_create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        modality="telehealth",
        starts_at=starts_at,
        person=person,
        needs={"concern_ids": [], "age_group": "adult", "state": "NY"},
        now=NOW,
    )


def test_a_declined_booking_request_gives_its_time_to_the_waitlist(
    practice, service_type, hours, make_client, manager, clock
):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    request = request_for(practice, hours, service_type, datetime(2026, 5, 7, 14, tzinfo=NEW_YORK))
    assert not FreedSlot.objects.exists()

    booking_request_decline(request=request, by=manager, reason="We are not taking new clients.", now=NOW)

    slot = FreedSlot.objects.get()
    assert (slot.source, slot.starts_at, slot.modality, slot.service_type) == (
        SlotSource.REQUEST_DECLINED,
        request.starts_at,
        "telehealth",
        service_type,
    )
    assert Offer.objects.get().client == ann


def test_an_expired_booking_request_gives_its_time_to_the_waitlist(
    practice, service_type, hours, make_client, clock
):
    ann = make_client("Ann")
    enter(practice, service_type, ann)
    request = request_for(practice, hours, service_type, datetime(2026, 5, 8, 14, tzinfo=NEW_YORK))

    later = request.expires_at + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert booking_requests_expire(now=later) == 1
        assert booking_requests_expire(now=later) == 0

    request.refresh_from_db()
    assert request.status == BookingRequestStatus.EXPIRED
    slot = FreedSlot.objects.get()
    assert (slot.source, slot.starts_at) == (SlotSource.REQUEST_EXPIRED, request.starts_at)
    assert Offer.objects.get().client == ann


def test_a_failing_subscriber_never_undoes_the_change(practice, hours, clock):
    def broken(freed):
        raise RuntimeError("boom")

    freed_time.subscribe(broken)
    try:
        weekly_hours_add(clinician=hours, weekday=6, starts_at=time(9), ends_at=time(10))
    finally:
        freed_time.unsubscribe(broken)
    assert WeeklyHours.objects.filter(clinician=hours, weekday=6).exists()
