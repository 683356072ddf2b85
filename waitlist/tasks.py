"""How the waitlist hears about freed time, and its clock (django-q2; schedule in migration 0002).

The appointment-event subscriber only hands work on: the rules live in waitlist.services."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Subquery
from django.utils import timezone

from practice.models import ClinicianProfile
from practice.queue import enqueue
from scheduling.events import AppointmentEvent
from scheduling.freed_time import FreedTime
from scheduling.models import Appointment


def on_appointment_event(event: AppointmentEvent) -> None:
    """Subscriber (WaitlistConfig.ready): a cancellation or a move away frees time. Handed on only
    when the practice has anyone waiting (one indexed query; the busy reminder path pays no task)."""
    if event.kind == "cancelled":
        freed = event.appointment_id
    elif event.kind == "rescheduled" and event.previous_id is not None:
        freed = event.previous_id
    else:
        return
    if _anyone_waiting(freed):
        enqueue("waitlist.tasks.offer_freed_slot", freed)


def _anyone_waiting(appointment_id: int) -> bool:
    practice = Appointment.objects.filter(pk=appointment_id).values("practice_id")[:1]
    return _anyone_waiting_in(practice)


def _anyone_waiting_in(practice) -> bool:
    from waitlist.models import EntryStatus, WaitlistEntry

    return WaitlistEntry.objects.filter(practice_id=Subquery(practice), status=EntryStatus.ACTIVE).exists()


def on_time_freed(freed: FreedTime) -> None:
    """Subscriber (scheduling.freed_time, WaitlistConfig.ready) and what selfservice calls when a
    booking request is declined or expires: time given back other than by a session. Handed on
    (ids and ISO times: tasks carry no objects) only when the practice has anyone waiting."""
    practice = ClinicianProfile.objects.filter(pk=freed.clinician_id).values("practice_id")[:1]
    if not _anyone_waiting_in(practice):
        return
    enqueue(
        "waitlist.tasks.offer_freed_time",
        freed.clinician_id,
        [[start.isoformat(), end.isoformat()] for start, end in freed.windows],
        freed.source,
        freed.key,
        freed.service_type_id,
        freed.modality,
    )


def offer_freed_slot(appointment_id: int) -> int:
    """Record the freed time and send its first wave (one transaction), then hand the offers it
    made to the providers (only those: other due messages are the minute sweep's)."""
    from waitlist import services

    now = timezone.now()
    offers = services.freed_slot_record_and_offer(appointment_id=appointment_id, now=now)
    ids = [offer.message_id for offer in offers if offer.message_id is not None]
    if ids:
        services.offer_messages_dispatch(now=now, ids=ids)
    return len(offers)


def offer_freed_time(
    clinician_id: int,
    windows: list[list[str]],
    source: str,
    key: str,
    service_type_id: int | None = None,
    modality: str = "",
) -> int:
    """Record the starts the freed time makes bookable, send each its first wave, hand the offers
    to the providers."""
    from waitlist import services

    now = timezone.now()
    slots = services.freed_time_record(
        clinician_id=clinician_id,
        windows=[(datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in windows],
        source=source,
        key=key,
        service_type_id=service_type_id,
        modality=modality,
        now=now,
    )
    offered = sum(len(services.freed_slot_offer_next_wave(slot=slot, now=now)) for slot in slots)
    if offered:
        services.offer_messages_dispatch(now=now)
    return offered


def sweep_waitlist() -> int:
    """Every minute: expired offers make way for the next wave; due offer messages are sent."""
    from waitlist import services

    now = timezone.now()
    offered = services.waitlist_sweep(now=now)
    services.offer_messages_dispatch(now=now)
    return offered
