"""How messaging hears about appointments, and the dispatcher's clock.

Planning only writes our own rows, so it runs right after the booking commits, in the same
process. Sending runs in the django-q2 worker, every few seconds (``dispatch_for_a_minute``).
"""

import logging
import time

from django.conf import settings
from django.utils import timezone

from scheduling.events import AppointmentEvent
from scheduling.models import Appointment

logger = logging.getLogger(__name__)


def on_appointment_event(event: AppointmentEvent) -> None:
    """Subscriber (see MessagingConfig.ready): the outbox follows the appointment."""
    from messaging import services

    appointment = Appointment.objects.filter(pk=event.appointment_id).first()
    if appointment is None:
        return
    if event.kind == "booked":
        services.message_plan_for(appointment=appointment)
    elif event.kind == "rescheduled" and event.previous_id is not None:
        previous = Appointment.objects.get(pk=event.previous_id)
        services.message_withdraw_for(appointment=previous, reason="The session was moved to a new time.")
        services.message_plan_for(appointment=appointment)
    elif event.kind == "cancelled":
        services.message_withdraw_for(appointment=appointment, reason="The session was cancelled.")
        services.message_plan_cancellation_notice(appointment=appointment)


def dispatch_for_a_minute() -> int:
    """Scheduled every minute (migration messaging 0002): sweeps every DISPATCH_INTERVAL_SECONDS
    for just under a minute, and plans any upcoming session a missed event left unplanned."""
    from messaging import services

    started = time.monotonic()
    sent = 0
    services.message_plan_missing(now=timezone.now())
    while time.monotonic() - started < 50:
        sent += services.messages_dispatch_due().sent
        time.sleep(settings.DISPATCH_INTERVAL_SECONDS)
    return sent
