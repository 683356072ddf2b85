"""The demo's self-service and waitlist (part of ``manage.py seed_demo``): the booking page on,
with concerns, payers and matching profiles; two documents; a request waiting in the queue and one
for which the front desk proposed another time (the person's accept/decline link is e-mailed);
known clients booking instantly at Lakeside; a waitlist with entries, and a session two days out
cancelled so the worker offers its time to the first client in line — the offer's link is
printed by the worker with the other messages; and a clinician's time off three days out
removed, so its freed time goes to the next client in line.

Everything goes through the same services as real use, with the demo's ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta

from practice.models import Practice
from scheduling.availability import Audience, open_slots, slot_rules
from scheduling.models import BookingPolicy, ServiceType
from scheduling.services import appointment_book, appointment_cancel
from scheduling.setup_services import time_off_add, time_off_remove
from selfservice.documents import document_template_save, parse_fields
from selfservice.models import DocumentKind, OnlineBooking
from selfservice.services import (
    Person,
    booking_request_create,
    booking_request_propose,
    matching_profile_update,
    online_booking_update,
)
from waitlist.models import Band
from waitlist.services import waitlist_entry_create

CONCERNS = ["Anxiety", "Depression", "Trauma", "Couples", "ADHD", "Grief", "Life transitions"]
PAYERS = ["Self-pay", "Aetna", "BlueCross BlueShield", "UnitedHealthcare"]
# Per clinician (by position): concerns, payers, age groups, states.
PROFILES = (
    (
        ("Anxiety", "Depression", "Trauma"),
        ("Self-pay", "Aetna", "BlueCross BlueShield"),
        ("adult",),
        ("NY", "NJ"),
    ),
    (("ADHD", "Couples", "Life transitions"), ("Self-pay", "UnitedHealthcare"), ("adult", "teen"), ("NY",)),
    (("Grief", "Depression", "Anxiety"), ("Self-pay", "Aetna"), ("adult", "older_adult"), ("NY", "PA")),
)
INTAKE_QUESTIONS = """What brings you to therapy now? * | text
Have you seen a therapist before? * | yesno
How did you hear about us? | choice | A friend; My doctor; Online search; My insurer"""
TELEHEALTH_CONSENT = (
    "I agree to receive therapy by secure video. I understand the limits of confidentiality online, "
    "that I should join from a private place, and that the practice will call me if the video fails."
)


def build_self_service(*, practice: Practice, clinicians, clients, services: dict, now: datetime, by) -> None:
    """Lakeside's self-service: called inside the demo's transaction, after the sessions. Known
    clients book instantly there: a demo client's e-mail (ava.thompson@example.com) or mobile on
    the booking page books the time at once once the code is entered."""
    bookable = [services["individual"]]
    online_booking_update(
        practice=practice,
        fields={
            "enabled": True,
            "accepts_new_clients": True,
            "known_clients_book_instantly": True,
            "request_hold_hours": 24,
        },
        services=bookable,
        concerns=CONCERNS,
        payers=PAYERS,
    )
    online = OnlineBooking.objects.get(practice=practice)
    concerns = {c.name: c for c in online.practice.concerns.all()}
    payers = {p.name: p for p in online.practice.payers.all()}
    for clinician, (their_concerns, their_payers, ages, states) in zip(clinicians, PROFILES, strict=False):
        matching_profile_update(
            clinician=clinician,
            fields={"accepting_new_clients": True, "age_groups": list(ages), "states_licensed": list(states)},
            concerns=[concerns[name] for name in their_concerns],
            payers=[payers[name] for name in their_payers],
        )
    _documents(practice)
    _request_waiting(practice, clinicians[0], services["individual"], now)
    _request_with_proposal(practice, clinicians[1], services["individual"], now, by)
    _waitlist(practice, clinicians, clients, services["individual"], now, by)


def build_harbor_booking_page(*, practice: Practice, clinicians, services: dict) -> None:
    online_booking_update(
        practice=practice,
        fields={"enabled": True, "accepts_new_clients": True, "request_hold_hours": 24},
        services=[service for service in services.values() if not service.is_group],
        concerns=["Anxiety", "Depression", "Couples"],
        payers=["Self-pay"],
    )
    concerns = list(practice.concerns.all())
    payers = list(practice.payers.all())
    for clinician in clinicians:
        matching_profile_update(
            clinician=clinician,
            fields={"accepting_new_clients": True, "age_groups": ["adult"], "states_licensed": ["WA", "OR"]},
            concerns=concerns,
            payers=payers,
        )


def _documents(practice: Practice) -> None:
    document_template_save(
        practice=practice,
        template=None,
        values={
            "title": "Intake questionnaire",
            "kind": DocumentKind.INTAKE,
            "body": "A few questions before we meet. Your answers go to your therapist only.",
            "fields": parse_fields(INTAKE_QUESTIONS),
            "required": True,
            "is_active": True,
        },
    )
    document_template_save(
        practice=practice,
        template=None,
        values={
            "title": "Telehealth consent",
            "kind": DocumentKind.CONSENT,
            "body": TELEHEALTH_CONSENT,
            "fields": [],
            "required": True,
            "is_active": True,
        },
    )


def _first_open(clinician, service: ServiceType, now: datetime, after: timedelta):
    rules = slot_rules(BookingPolicy.for_practice(clinician.practice), Audience.NEW_CLIENT)
    start = now + after
    slots = open_slots(
        clinician=clinician,
        starts=start,
        ends=start + timedelta(days=14),
        minutes=service.default_minutes,
        now=now,
        rules=rules,
    )
    return slots[0] if slots else None


def _request_waiting(practice: Practice, clinician, service: ServiceType, now: datetime) -> None:
    """A new client's request from the booking page, held and waiting for the front desk."""
    slot = _first_open(clinician, service, now, timedelta(days=3))
    if slot is None:
        return
    booking_request_create(
        practice=practice,
        clinician=clinician,
        service_type=service,
        modality="telehealth",
        starts_at=slot.starts_at,
        person=Person("Nora", "Quinn", "nora.quinn@example.com", "+13155550190", "America/New_York", True),
        needs={
            "concern_ids": [practice.concerns.get(name="Anxiety").pk],
            "state": "NY",
            "age_group": "adult",
        },
        now=now,
    )


def _request_with_proposal(practice: Practice, clinician, service: ServiceType, now: datetime, by) -> None:
    """A request the front desk answered with another time: held at the proposed time, waiting for
    the person to accept or decline from the link e-mailed to them."""
    asked = _first_open(clinician, service, now, timedelta(days=4))
    if asked is None:
        return
    request = booking_request_create(
        practice=practice,
        clinician=clinician,
        service_type=service,
        modality="telehealth",
        starts_at=asked.starts_at,
        person=Person("Omar", "Haddad", "omar.haddad@example.com", "", "America/Chicago", False),
        needs={"concern_ids": [practice.concerns.get(name="ADHD").pk], "state": "NY", "age_group": "adult"},
        now=now,
    )
    other = _first_open(clinician, service, now, timedelta(days=5))
    if other is not None:
        booking_request_propose(request=request, starts_at=other.starts_at, by=by, now=now)


def _waitlist(practice: Practice, clinicians, clients, service: ServiceType, now: datetime, by) -> None:
    """Four clients waiting for any time with anyone; then a session two days out is cancelled,
    so the worker offers that time to the first of them (by band, then longest waiting)."""
    waiting = ((7, Band.URGENT), (11, Band.SOON), (15, Band.ROUTINE), (19, Band.ROUTINE))
    for position, (client_index, band) in enumerate(waiting):
        waitlist_entry_create(
            practice=practice,
            client=clients[client_index],
            service_type=service,
            band=band,
            note="Demo: waiting for any earlier time",
            by=by,
            now=now - timedelta(days=10 - position),
        )
    slot = _first_open(clinicians[0], service, now, timedelta(days=2))
    if slot is None:
        return
    freed = appointment_book(
        practice=practice,
        clinician=clinicians[0],
        clients=[clients[17]],
        starts_at=slot.starts_at,
        service_type=service,
        booked_by=by,
        now=now,
    )
    appointment_cancel(appointment=freed, by_client=True, reason="Demo: the client cancelled", now=now)
    _time_off_given_back(clinicians[1], service, now)


def _time_off_given_back(clinician, service: ServiceType, now: datetime) -> None:
    """A clinician's conference three days out is called off: the time off is removed, and the
    freed time goes to the next client in line (the first two hold the cancelled slot's offers)."""
    slot = _first_open(clinician, service, now, timedelta(days=3))
    if slot is None:
        return
    row = time_off_add(
        clinician=clinician,
        starts_at=slot.starts_at,
        ends_at=slot.starts_at + timedelta(hours=2),
        note="Demo: conference (called off)",
    )
    time_off_remove(row=row)
