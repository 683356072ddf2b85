"""How messaging hears about appointments, and the dispatcher's clock.

Planning only writes our own rows, so it runs right after the booking commits, in the same
process. Sending runs in the django-q2 worker, every few seconds (``dispatch_for_a_minute``).
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from scheduling.events import AppointmentEvent
from scheduling.models import AppointmentParticipant

logger = logging.getLogger(__name__)


def on_appointment_event(event: AppointmentEvent) -> None:
    """Subscriber (see MessagingConfig.ready): the outbox follows the appointment. Each branch
    reads only what it needs (by id), and a change's withdrawal and planning commit together."""
    from messaging import services

    if event.kind == "booked":
        services.message_plan_for_id(appointment_id=event.appointment_id)
    elif event.kind == "rescheduled" and event.previous_id is not None:
        services.messages_follow_reschedule(
            previous_id=event.previous_id, appointment_id=event.appointment_id
        )
    elif event.kind == "cancelled":
        services.messages_follow_cancellation(appointment_id=event.appointment_id)
    elif event.kind == "no_show" and event.participant_id is not None:
        participant = (
            AppointmentParticipant.objects.filter(
                pk=event.participant_id, appointment_id=event.appointment_id
            )
            .select_related("appointment", "client")
            .first()
        )
        if participant is not None:
            services.message_plan_no_show_notice(participant=participant)


LOOP_SECONDS = 50  # below django-q2's task timeout (60 s)


def dispatch_for_a_minute() -> int:
    """Scheduled every minute (migration messaging 0002): sweeps for just under a minute, waking
    when the next row needs it, and plans any upcoming session a missed event left unplanned.
    It prepares rows ahead (DISPATCH_LOOKAHEAD_SECONDS) but only those due before its minute
    ends: what is held when it returns is given back. Only one loop runs at a time; a run that
    finds the loop taken returns at once (the claim on each outbox row is what makes sending
    safe, this only saves a worker)."""
    from messaging import services
    from messaging.dispatch import Dispatcher

    if not _take_loop_lease(seconds=LOOP_SECONDS + 5):
        return 0
    started = time.monotonic()
    ends_at = timezone.now() + timedelta(seconds=LOOP_SECONDS)
    sent = 0
    services.message_plan_missing(now=timezone.now())
    services.follow_ups_raise_for_message_problems(now=timezone.now())
    with Dispatcher() as dispatcher:
        while True:
            # A burst can take longer than one loop: each sweep stops claiming when the loop's
            # time is up (django-q2 kills the task at its timeout, which must not land
            # mid-hand-over).
            budget = max(LOOP_SECONDS - (time.monotonic() - started), 1)
            sent += dispatcher.sweep(budget_seconds=budget, until=ends_at).sent
            pause = pause_before_next_sweep(dispatcher)
            if time.monotonic() - started + pause >= LOOP_SECONDS:
                return sent
            time.sleep(pause)


# Never sweep back to back more often than this, even with rows due: a row that stays due and
# planned (locked by another dispatcher's claim for a moment) must not make the loop spin.
SHORTEST_PAUSE = 0.05


def pause_before_next_sweep(dispatcher=None, *, now=None) -> float:
    """Seconds until the dispatcher next has work — its first held row falls due, or the next
    planned row comes within its look-ahead — at most DISPATCH_INTERVAL_SECONDS. A loop sleeping
    a fixed interval would start a top-of-the-hour burst up to that interval late; waking when
    the first row is due (one indexed query) starts it on time."""
    from messaging.dispatch import next_due_at

    longest = settings.DISPATCH_INTERVAL_SECONDS
    wake = dispatcher.next_wake() if dispatcher is not None else next_due_at()
    if wake is None:
        return longest
    until_due = (wake - (now or timezone.now())).total_seconds()
    return min(longest, max(SHORTEST_PAUSE, until_due + SHORTEST_PAUSE))


def run_dispatcher(stop: threading.Event, *, report=None) -> int:
    """The dispatcher as a process of its own (``manage.py run_dispatcher``): sweep, wait until
    it next has work (or the interval passes), sweep again, until ``stop`` is set. It prepares
    rows DISPATCH_LOOKAHEAD_SECONDS ahead and hands them over at their second. Several may run
    at once; the claim on each row makes sending safe. A failed sweep (the database went away)
    is logged and tried again after the interval. Returns how many messages it sent; with
    ``report`` (a DispatchReport), adds every sweep's counts to it."""
    from django.db import close_old_connections

    from messaging.dispatch import Dispatcher

    sent = 0
    with Dispatcher() as dispatcher:
        while not stop.is_set():
            close_old_connections()  # a long-running process must drop a connection the server closed
            try:
                swept = dispatcher.sweep()
                sent += swept.sent
                if report is not None:
                    report.add(swept)
                pause = pause_before_next_sweep(dispatcher)
            except Exception:
                logger.exception("dispatcher sweep failed; trying again")
                pause = settings.DISPATCH_INTERVAL_SECONDS
            stop.wait(pause)
    return sent


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
