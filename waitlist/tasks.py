"""How the waitlist hears about freed time, and its clock (django-q2; schedule in migration 0002).

The appointment-event subscriber only hands work on: the rules live in waitlist.services."""

from __future__ import annotations

from django.db.models import Subquery
from django.utils import timezone

from practice.queue import enqueue
from scheduling.events import AppointmentEvent
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
    from waitlist.models import EntryStatus, WaitlistEntry

    practice = Appointment.objects.filter(pk=appointment_id).values("practice_id")[:1]
    return WaitlistEntry.objects.filter(practice_id=Subquery(practice), status=EntryStatus.ACTIVE).exists()


def offer_freed_slot(appointment_id: int) -> int:
    """Record the freed time, send its first wave and hand the offers to the providers."""
    from waitlist import services

    now = timezone.now()
    slot = services.freed_slot_record(appointment_id=appointment_id, now=now)
    offers = services.freed_slot_offer_next_wave(slot=slot, now=now) if slot is not None else []
    if offers:
        services.offer_messages_dispatch(now=now)
    return len(offers)


def sweep_waitlist() -> int:
    """Every minute: expired offers make way for the next wave; due offer messages are sent."""
    from waitlist import services

    now = timezone.now()
    offered = services.waitlist_sweep(now=now)
    services.offer_messages_dispatch(now=now)
    return offered
