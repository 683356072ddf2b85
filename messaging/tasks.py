"""How messaging hears about appointments, and the dispatcher's clock.

Planning only writes our own rows, so it runs right after the booking commits, in the same
process. Sending runs in the django-q2 worker, every few seconds (``dispatch_for_a_minute``).
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from scheduling.events import AppointmentEvent
from scheduling.models import Appointment, AppointmentParticipant

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
    elif event.kind == "no_show" and event.participant_id is not None:
        participant = (
            AppointmentParticipant.objects.filter(pk=event.participant_id, appointment=appointment)
            .select_related("appointment", "client")
            .first()
        )
        if participant is not None:
            services.message_plan_no_show_notice(participant=participant)


LOOP_SECONDS = 50  # below django-q2's task timeout (60 s)


def dispatch_for_a_minute() -> int:
    """Scheduled every minute (migration messaging 0002): sweeps every DISPATCH_INTERVAL_SECONDS
    for just under a minute, and plans any upcoming session a missed event left unplanned.
    Only one loop runs at a time; a run that finds the loop taken returns at once (the claim on
    each outbox row is what makes sending safe, this only saves a worker)."""
    from messaging import services

    if not _take_loop_lease(seconds=LOOP_SECONDS + 5):
        return 0
    started = time.monotonic()
    sent = 0
    services.message_plan_missing(now=timezone.now())
    services.follow_ups_raise_for_message_problems(now=timezone.now())
    while True:
        # A burst can take longer than one loop: each sweep stops claiming when the loop's time
        # is up (django-q2 kills the task at its timeout, which must not land mid-hand-over).
        budget = max(LOOP_SECONDS - (time.monotonic() - started), 1)
        sent += services.messages_dispatch_due(budget_seconds=budget).sent
        if time.monotonic() - started + settings.DISPATCH_INTERVAL_SECONDS >= LOOP_SECONDS:
            return sent
        time.sleep(settings.DISPATCH_INTERVAL_SECONDS)


def _take_loop_lease(*, seconds: int) -> bool:
    from messaging.dispatch import HEARTBEAT_NAME
    from messaging.models import DispatcherHeartbeat

    now = timezone.now()
    DispatcherHeartbeat.objects.get_or_create(name=HEARTBEAT_NAME, defaults={"last_sweep_at": now})
    free = Q(loop_lease_until__isnull=True) | Q(loop_lease_until__lt=now)
    taken = DispatcherHeartbeat.objects.filter(free, name=HEARTBEAT_NAME).update(
        loop_lease_until=now + timedelta(seconds=seconds)
    )
    return taken == 1


def prune_expired_links() -> int:
    """Scheduled daily (migration messaging 0008): expired preference and after-session links
    open nothing, so their rows are deleted."""
    from messaging.after_session import after_session_links_prune
    from messaging.preferences import preference_links_prune

    now = timezone.now()
    return preference_links_prune(now=now) + after_session_links_prune(now=now)
