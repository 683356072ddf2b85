"""Background work of the telehealth app (run by django-q2; ids in, state re-read).

This module is imported at start-up (the event subscription), so it imports the services,
and with them the provider adapters, only when a task runs.
"""

from practice.queue import enqueue
from scheduling.events import AppointmentEvent
from scheduling.models import Appointment


def on_appointment_event(event: AppointmentEvent) -> None:
    """Subscriber (see TelehealthConfig.ready): the meeting follows the appointment."""
    if event.kind in ("booked", "rescheduled", "cancelled"):
        enqueue("telehealth.tasks.sync_meeting", event.kind, event.appointment_id, event.previous_id)


def _appointment(pk: int | None) -> Appointment | None:
    if pk is None:
        return None
    return Appointment.objects.select_related("practice", "clinician").filter(pk=pk).first()


def sync_meeting(kind: str, appointment_id: int, previous_id: int | None = None) -> None:
    """Runs after the change committed (enqueue is called from an on-commit subscriber), so
    the provider is never called inside the booking's transaction. The appointment may
    have changed again since: the services re-check its state."""
    from telehealth import services

    appointment = _appointment(appointment_id)
    if appointment is None:
        return
    if kind in ("booked", "rescheduled"):
        # Before the provider call, which may fail: the links do not depend on the meeting, and an
        # EHR reading the appointment from the API wants them at once.
        services.join_links_ensure_for(appointment=appointment)
    if kind == "booked":
        services.meeting_create_for(appointment=appointment)
    elif kind == "rescheduled":
        previous = _appointment(previous_id)
        if previous is None:
            services.meeting_create_for(appointment=appointment)
        else:
            services.meeting_move_to(previous=previous, replacement=appointment)
    elif kind == "cancelled":
        services.meeting_cancel_for(appointment=appointment)


def meetings_sweep() -> int:
    """Scheduled every minute (migration telehealth 0002): retries and missed creations."""
    from telehealth import services

    return services.meetings_retry_due()
