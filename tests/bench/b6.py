"""B6 — refill: the waitlist on the generated network with a day of cancellations (issue 16).

The network is B2's (``tests/bench/network.py``: 1,000 practices, 10,000 clinicians, 100,000
clients, a month of sessions). B6 gives every clinician weekly hours around those sessions
(once), puts ``--b6-entries`` (20,000) of the clients on the waitlist with realistic wishes
(``make_entries``) and reachable by text, then:

1. **Latency and throughput, real time.** A real ``qcluster`` (the project's Q_CLUSTER, ORM
   broker, its schedules parked) is "the dispatcher that runs today": each cancellation's
   after-commit subscriber enqueues ``waitlist.tasks.offer_freed_slot``, which records the slot,
   sends the first wave and hands the texts to the provider (the timestamping backend). Half the
   ``--b6-slots`` sessions (in the real future) are cancelled at a steady ``--b6-rate`` per
   second (time from the cancellation to the first offer handed over: p50/p99/max), the other
   half at once (offers handed over per second). Quiet hours are off for this part only (it runs
   whenever the benchmark runs, often at night in the network's zones).
2. **A simulated day, seeded.** Everything is reset; ``--b6-slots`` sessions are cancelled at
   random moments of one simulated day, with lead times drawn per bucket (``LEAD_MIX``), through
   the real services under a simulated clock (time_machine): the waitlist task for each, the
   minute sweep whenever it has something to do (``waitlist_next_event``), and simulated clients —
   each offer accepted with probability 0.11 after a random delay within its hold, declined
   (``P_DECLINE`` of the rest) or ignored. A moving-up client's later session, freed by the move,
   is offered on as in production. Practices keep their quiet hours (21:00-08:00).
3. **Baseline in the same run:** the same day with one broadcast to everyone who fits each slot,
   the same clients deciding the same way (each (slot, client) pair draws from its own seeded
   generator in both), first acceptance wins (``broadcast``).
4. **Invariants from the database**, not from the simulation's bookkeeping: overlapping live
   sessions of one clinician or one client, clients with two offers live at the same moment,
   offers made or texted inside the client's quiet hours (``invariants``).

Afterwards the network is restored (sessions, clients' numbers, waitlist rows removed).
"""

from __future__ import annotations

import heapq
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from messaging.models import OutboxMessage, Sequence
from practice.models import Client, ClinicianProfile, ConsentSource, Practice
from scheduling.models import (
    SLOT_HOLDING_STATUSES,
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Hold,
    ServiceType,
    WeeklyHours,
)
from tests.bench import network
from tests.bench.b1 import ROOT, child_env, machine, percentile, say
from tests.bench.backends import read_send_log
from tests.bench.data import fictional_numbers

SEED = 16
P_ACCEPT = 0.11
P_DECLINE = 0.45  # of the offers not accepted: said no (the rest are left to expire)
TARGET_P99 = 5.0  # s, cancellation to first offer handed over
TARGET_REFILL_24H = 0.60
# UTC hours the network's sessions fall in (14:00-17:50); every clinician works 13:00-19:00 UTC,
# written as local weekly hours in their practice's zone.
DAY_UTC = (13, 19)
BUCKETS = (("< 2 h", 0, 2), ("2-4 h", 2, 4), ("4-24 h", 4, 24), ("24-72 h", 24, 72), (">= 72 h", 72, 24 * 14))
# How far ahead the day's cancellations are (share per bucket): therapy cancellations bunch in
# the last day, and a good part come days ahead.
LEAD_MIX = (0.10, 0.10, 0.25, 0.25, 0.30)


@dataclass
class World:
    net: network.Network
    practice_ids: list[int]
    clinician_ids: list[int]
    entry_client_ids: list[int]
    last_network_appointment: int
    first_session_day: datetime  # 00:00 UTC of the network's first day of sessions
    days: int  # days of sessions per clinician
    numbers: dict[str, int] = field(default_factory=dict)  # number -> client id


# --- The world ----------------------------------------------------------------------------------


def prepare(net: network.Network, *, entries: int, seed: int) -> World:
    restore_network(net)
    practice_ids = list(net.practice_ids)
    clinician_ids = list(
        ClinicianProfile.objects.filter(practice_id__in=practice_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    first = Appointment.objects.filter(pk=net.first_appointment_id).values_list("starts_at", flat=True).get()
    per_clinician = -(-net.appointments // len(clinician_ids))
    world = World(
        net=net,
        practice_ids=practice_ids,
        clinician_ids=clinician_ids,
        entry_client_ids=[],
        last_network_appointment=net.first_appointment_id + net.appointments - 1,
        first_session_day=first.astimezone(UTC).replace(hour=0, minute=0),
        days=per_clinician // network.SESSIONS_PER_DAY,
    )
    ensure_hours(world)
    make_entries(world, entries, random.Random(seed))
    return world


def ensure_hours(world: World) -> None:
    """Every network clinician works 13:00-19:00 UTC every day, as local hours of their zone (the
    open-slot selector needs hours; the network has none). Made once, kept."""
    if WeeklyHours.objects.filter(clinician_id=world.clinician_ids[0]).exists():
        return
    zones = dict(
        ClinicianProfile.objects.filter(pk__in=world.clinician_ids).values_list("pk", "practice__timezone")
    )
    day = world.first_session_day
    rows = []
    for clinician_id in world.clinician_ids:
        tz = ZoneInfo(zones[clinician_id])
        start = day.replace(hour=DAY_UTC[0]).astimezone(tz).time()
        end = day.replace(hour=DAY_UTC[1]).astimezone(tz).time()
        rows += [
            WeeklyHours(clinician_id=clinician_id, weekday=weekday, starts_at=start, ends_at=end)
            for weekday in range(7)
        ]
    WeeklyHours.objects.bulk_create(rows, batch_size=5000)


def make_entries(world: World, count: int, rng: random.Random) -> None:
    """``count`` clients of the network on the waitlist, spread evenly over its practices, each
    reachable by text (a fictional number, consent on record). Their wishes, on their own clock:
    half any day, half four days of seven; 40 % any time, 60 % a three-hour stretch of the
    practice's working day; 30 % not before one to three days from now; until 10-40 days from
    now; half any clinician, half their own; a quarter wanting an earlier time than their last
    session of the month; bands 15 % urgent, 25 % soon, the rest routine, waiting 0-40 days."""
    from waitlist.models import WaitlistEntry

    practices = Practice.objects.in_bulk(world.practice_ids)
    services = dict(
        ServiceType.objects.filter(practice_id__in=world.practice_ids).values_list("practice_id", "pk")
    )
    per_practice = -(-count // len(world.practice_ids))
    client_rows = list(
        Client.objects.filter(practice_id__in=world.practice_ids)
        .order_by("practice_id", "pk")
        .values_list("practice_id", "pk")
    )
    clients_of: dict[int, list[int]] = defaultdict(list)
    for practice_id, client_id in client_rows:
        clients_of[practice_id].append(client_id)
    clinicians_of: dict[int, list[int]] = defaultdict(list)
    for practice_id, clinician_id in (
        ClinicianProfile.objects.filter(practice_id__in=world.practice_ids)
        .order_by("pk")
        .values_list("practice_id", "pk")
    ):
        clinicians_of[practice_id].append(clinician_id)
    day0 = world.first_session_day
    chosen: list[tuple[int, int, int]] = []  # practice, client, own clinician
    for practice_id in world.practice_ids:
        clients = clients_of[practice_id]
        for index in sorted(rng.sample(range(len(clients)), min(per_practice, len(clients)))):
            own = clinicians_of[practice_id][index // network.CLIENTS_PER_CLINICIAN]
            chosen.append((practice_id, clients[index], own))
    chosen = chosen[:count]
    last_session = dict(
        Appointment.objects.filter(
            participants__client_id__in=[c for _, c, _ in chosen], pk__lte=world.last_network_appointment
        )
        .order_by("participants__client_id", "-starts_at")
        .distinct("participants__client_id")
        .values_list("participants__client_id", "pk")
    )
    entries, through = [], []
    Through = WaitlistEntry.clinicians.through
    for practice_id, client_id, _ in chosen:
        tz = ZoneInfo(practices[practice_id].timezone)
        local_start = day0.replace(hour=DAY_UTC[0]).astimezone(tz).hour
        windows = []
        if rng.random() < 0.6:
            begin = local_start + rng.randrange(0, DAY_UTC[1] - DAY_UTC[0] - 2)
            windows = [[f"{begin:02d}:00", f"{begin + 3:02d}:00"]]
        entries.append(
            WaitlistEntry(
                practice_id=practice_id,
                client_id=client_id,
                service_type_id=services[practice_id],
                weekdays=sorted(rng.sample(range(7), 4)) if rng.random() < 0.5 else [],
                time_windows=windows,
                earliest_date=(day0 + timedelta(days=rng.randint(1, 3))).date()
                if rng.random() < 0.3
                else None,
                latest_date=(day0 + timedelta(days=rng.randint(10, 40))).date(),
                earlier_than_id=last_session.get(client_id) if rng.random() < 0.25 else None,
                band=rng.choices(["urgent", "soon", "routine"], weights=[15, 25, 60])[0],
                created_at=day0 - timedelta(days=rng.uniform(0, 40)),
                note="B6",
            )
        )
    with transaction.atomic():
        made = WaitlistEntry.objects.bulk_create(entries, batch_size=5000)
        for entry, (_, _, own) in zip(made, chosen, strict=True):
            if rng.random() < 0.5:
                through.append(Through(waitlistentry_id=entry.pk, clinicianprofile_id=own))
        Through.objects.bulk_create(through, batch_size=5000)
        numbers = fictional_numbers(len(chosen))
        ids = [client_id for _, client_id, _ in chosen]
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{Client._meta.db_table}" c SET phone = n.phone, sms_consent_at = %s, '
                "sms_consent_source = %s, preferred_channel = 'sms' "
                "FROM unnest(%s::bigint[], %s::text[]) AS n(id, phone) WHERE c.id = n.id",
                [day0 - timedelta(days=60), ConsentSource.INTAKE_FORM, ids, numbers],
            )
    world.entry_client_ids = ids
    world.numbers = dict(zip(numbers, ids, strict=True))


def restore_network(net: network.Network) -> None:
    """Undo what B6 did to the network: its sessions back as built, the sessions it booked, its
    waitlist rows, holds and outbox rows gone, the clients' numbers cleared."""
    from auditlog.context import disable_auditlog

    from waitlist.models import FreedSlot, Offer, OfferMessage, WaitlistEntry

    ids = list(net.practice_ids)
    last = net.first_appointment_id + net.appointments - 1
    with disable_auditlog(), transaction.atomic():
        OfferMessage.objects.filter(practice_id__in=ids).delete()
        Offer.objects.filter(practice_id__in=ids).delete()
        FreedSlot.objects.filter(practice_id__in=ids).delete()
        WaitlistEntry.objects.filter(practice_id__in=ids).delete()
        Hold.objects.filter(practice_id__in=ids).delete()
        OutboxMessage.objects.filter(practice_id__in=ids).delete()
        Appointment.objects.filter(practice_id__in=ids, pk__gt=last).delete()
        Appointment.objects.filter(practice_id__in=ids).exclude(status=AppointmentStatus.SCHEDULED).update(
            status=AppointmentStatus.SCHEDULED, cancelled_at=None, cancel_reason=""
        )
        Client.objects.filter(practice_id__in=ids).exclude(phone="").update(
            phone="", sms_consent_at=None, sms_consent_source=""
        )


# --- Which sessions are cancelled, and when ----------------------------------------------------


@dataclass(frozen=True)
class Cancellation:
    at: datetime
    appointment_id: int


def session_grid(world: World, start: datetime, end: datetime) -> list[datetime]:
    """The network's session starts (every clinician's) in [start, end)."""
    first = world.first_session_day.replace(hour=14)
    found = []
    for day in range(world.days):
        for hour in range(network.SESSIONS_PER_DAY):
            at = first + timedelta(days=day, hours=hour)
            if start <= at < end:
                found.append(at)
    return found


def pick_cancellations(world: World, count: int, day: datetime, rng: random.Random, *, spread: bool) -> list:
    """``count`` distinct sessions and when they are cancelled: at random moments of the day from
    ``day`` (``spread``) or all at ``day``, each lead time drawn from ``LEAD_MIX``."""
    wanted: list[tuple[datetime, int, datetime]] = []  # at, clinician, starts
    seen = set()
    attempts = 0
    while len(wanted) < count and attempts < count * 50:
        attempts += 1
        at = day + timedelta(seconds=rng.uniform(0, 86_400)) if spread else day
        _, low, high = rng.choices(BUCKETS, weights=LEAD_MIX)[0]
        starts = session_grid(world, at + timedelta(hours=low), at + timedelta(hours=high))
        if not starts:
            continue
        key = (rng.choice(world.clinician_ids), rng.choice(starts))
        if key in seen:
            continue
        seen.add(key)
        wanted.append((at, *key))
    ids = _appointment_ids([(clinician, starts) for _, clinician, starts in wanted])
    found = [Cancellation(at, ids[(c, s)]) for at, c, s in wanted if (c, s) in ids]
    return sorted(found, key=lambda cancellation: (cancellation.at, cancellation.appointment_id))


def _appointment_ids(keys: list[tuple[int, datetime]]) -> dict[tuple[int, datetime], int]:
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT a.clinician_id, a.starts_at, a.id FROM "{Appointment._meta.db_table}" a '
            "JOIN unnest(%s::bigint[], %s::timestamptz[]) AS k(clinician_id, starts_at) "
            "ON a.clinician_id = k.clinician_id AND a.starts_at = k.starts_at WHERE a.status = 'scheduled'",
            [[c for c, _ in keys], [s for _, s in keys]],
        )
        return {(c, s.astimezone(UTC)): pk for c, s, pk in cursor.fetchall()}


def bucket_of(lead: timedelta) -> str:
    hours = lead / timedelta(hours=1)
    for name, low, high in BUCKETS:
        if low <= hours < high:
            return name
    return BUCKETS[-1][0]


# --- 1. Latency and throughput through qcluster ---------------------------------------------------


def latency(world: World, *, slots: int, rate: float, seed: int) -> dict:
    from django_q.models import OrmQ, Schedule, Task

    from scheduling.services import appointment_cancel
    from waitlist.models import FreedSlot, Offer, OfferMessage

    now = timezone.now()
    rng = random.Random(seed + 1)
    steady_n = slots // 2
    # Sessions at least a day ahead in real time (the network is as old as its last build).
    picks = pick_cancellations(world, slots, now + timedelta(hours=22), rng, spread=False)
    if len(picks) < slots:
        say(f"  only {len(picks)} sessions of the network are ahead of now: measuring those")
    steady, burst = picks[:steady_n], picks[steady_n:]
    workdir = tempfile.mkdtemp(prefix="attend-bench-b6-")
    log = os.path.join(workdir, "sends.log")
    parked = list(Schedule.objects.values_list("pk", "next_run"))
    quiet = list(
        Sequence.objects.filter(practice_id__in=world.practice_ids).values_list(
            "pk", "quiet_start", "quiet_end"
        )
    )
    OrmQ.objects.all().delete()
    cluster = None
    # Through the worker, as deployed (the test suite runs tasks inline otherwise).
    eager = override_settings(TASKS_EAGER=False)
    eager.enable()
    try:
        Schedule.objects.update(next_run=now + timedelta(days=1))
        Sequence.objects.filter(practice_id__in=world.practice_ids).update(quiet_start=None, quiet_end=None)
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=child_env(BENCH_SEND_LOG=log),
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(workdir, "qcluster.log"), "w"),  # noqa: SIM115 (closed with the process)
            start_new_session=True,
        )
        time.sleep(6)  # the cluster's workers start
        load_before = os.getloadavg()
        cancelled_at: dict[int, float] = {}
        sessions = Appointment.objects.select_related("practice", "clinician").in_bulk(
            [c.appointment_id for c in picks]
        )
        started = time.time()
        for n, cancellation in enumerate(steady):
            time.sleep(max(0.0, started + n / rate - time.time()))
            cancelled_at[cancellation.appointment_id] = time.time()
            appointment_cancel(appointment=sessions[cancellation.appointment_id], reason="B6")
        _wait_for_queue(OrmQ, box=120)
        burst_started = time.time()
        for cancellation in burst:
            cancelled_at[cancellation.appointment_id] = time.time()
            appointment_cancel(appointment=sessions[cancellation.appointment_id], reason="B6")
        burst_enqueued = time.time()
        _wait_for_queue(OrmQ, box=300)
        load_after = os.getloadavg()
    finally:
        eager.disable()
        if cluster is not None:
            _stop(cluster)
        OrmQ.objects.all().delete()
        for pk, next_run in parked:
            Schedule.objects.filter(pk=pk).update(next_run=next_run)
        for pk, start, end in quiet:
            Sequence.objects.filter(pk=pk).update(quiet_start=start, quiet_end=end)
    handed: dict[int, float] = {}
    per_number = Counter()
    for number, stamp in read_send_log(log):
        per_number[number] += 1
        client = world.numbers.get(number)
        if client is not None:
            handed[client] = min(stamp, handed.get(client, stamp))
    first_offer: dict[int, float] = {}
    for appointment_id, client_id in Offer.objects.filter(
        slot__source_appointment_id__in=list(cancelled_at), wave=1
    ).values_list("slot__source_appointment_id", "client_id"):
        if client_id in handed:
            first_offer[appointment_id] = min(
                handed[client_id], first_offer.get(appointment_id, handed[client_id])
            )
    steady_latency = sorted(
        first_offer[c.appointment_id] - cancelled_at[c.appointment_id]
        for c in steady
        if c.appointment_id in first_offer
    )
    burst_stamps = sorted(first_offer[c.appointment_id] for c in burst if c.appointment_id in first_offer)
    recorded = FreedSlot.objects.filter(source_appointment_id__in=list(cancelled_at)).count()
    failed = Task.objects.filter(func="waitlist.tasks.offer_freed_slot", success=False, started__gte=now)
    for task in failed[:3]:
        say(f"   a task failed: {str(task.result)[-300:]}")
    outcomes = Counter(
        FreedSlot.objects.filter(source_appointment_id__in=list(cancelled_at)).values_list("status", "reason")
    )
    offers_made = Offer.objects.filter(slot__source_appointment_id__in=list(cancelled_at)).count()
    texts = Counter(
        OfferMessage.objects.filter(offer__slot__source_appointment_id__in=list(cancelled_at)).values_list(
            "channel", "state", "reason"
        )
    )
    say(f"   slots: {dict(outcomes)}; {offers_made} offers made; messages {dict(texts)}")
    if not offers_made:
        with open(os.path.join(workdir, "qcluster.log")) as errors:
            say("   qcluster said: " + errors.read()[-1500:])
    return {
        "steady_cancellations": len(steady),
        "steady_rate_per_s": rate,
        "steady_offered": len(steady_latency),
        "latency_p50": percentile(steady_latency, 50),
        "latency_p99": percentile(steady_latency, 99),
        "latency_max": steady_latency[-1] if steady_latency else float("nan"),
        "burst_cancellations": len(burst),
        "burst_enqueue_seconds": burst_enqueued - burst_started,
        "burst_offered": len(burst_stamps),
        "burst_drain_seconds": (burst_stamps[-1] - burst_started) if burst_stamps else float("nan"),
        "offers_per_second": (len(burst_stamps) / (burst_stamps[-1] - burst_started))
        if burst_stamps
        else 0.0,
        "slots_recorded": recorded,
        "texts_handed_over": sum(per_number.values()),
        "duplicate_texts": sum(n - 1 for n in per_number.values() if n > 1),
        "tasks_failed": failed.count(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "workers": settings.Q_CLUSTER.get("workers"),
    }


def _wait_for_queue(OrmQ, *, box: float) -> None:
    """Until the broker's queue is empty (and a moment more for the last task to finish)."""
    deadline = time.time() + box
    while time.time() < deadline and OrmQ.objects.exists():
        time.sleep(0.2)
    time.sleep(1.0)


def _stop(cluster: subprocess.Popen) -> None:
    os.killpg(cluster.pid, signal.SIGTERM)
    try:
        cluster.wait(timeout=5)
    except subprocess.TimeoutExpired:  # qcluster can hang on SIGTERM (ARCHITECTURE.md)
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()


# --- 2. The simulated day -----------------------------------------------------------------------


def decision(seed: int, source_appointment_id: int, client_id: int) -> tuple[bool, bool, float]:
    """How this client answers an offer of this slot: (accepts, declines, fraction of the hold
    before answering). Its own generator, so the waves and the broadcast see the same client."""
    rng = random.Random(f"{seed}:{source_appointment_id}:{client_id}")
    accept, decline, delay = rng.random(), rng.random(), rng.random()
    return accept < P_ACCEPT, decline < P_DECLINE, delay


def simulate(world: World, cancellations: list[Cancellation], *, seed: int, profile: str = "") -> dict:
    """The day through the real services under a simulated clock; returns counts and timings."""
    import time_machine
    from django_q.models import OrmQ

    from scheduling.services import appointment_cancel
    from waitlist import services, tasks
    from waitlist.models import FreedSlot, Offer, WaitlistEntry

    queue_mark = OrmQ.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    events: list[tuple[datetime, int, str, int]] = []
    for n, cancellation in enumerate(cancellations):
        heapq.heappush(events, (cancellation.at, n, "cancel", cancellation.appointment_id))
    counter = len(events)
    last_offer = Offer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    moving = dict(
        WaitlistEntry.objects.filter(
            practice_id__in=world.practice_ids, earlier_than__isnull=False
        ).values_list("pk", "earlier_than_id")
    )
    counts = Counter()
    # The worker's tasks are called here, in simulated time (the test suite would run them inline).
    eager = override_settings(TASKS_EAGER=False)
    eager.enable()
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    started = time.perf_counter()
    cpu_before = time.process_time()
    with time_machine.travel(cancellations[0].at, tick=False) as traveller:
        now = cancellations[0].at
        while True:
            due_sweep = services.waitlist_next_event(now=now)
            if events and (due_sweep is None or events[0][0] <= due_sweep):
                now, _, kind, ident = heapq.heappop(events)
                traveller.move_to(now)
                if kind == "cancel":
                    appointment = Appointment.objects.select_related("practice", "clinician").get(pk=ident)
                    appointment_cancel(appointment=appointment, reason="B6", now=now)
                    tasks.offer_freed_slot(ident)  # what the worker runs for this cancellation
                    counts["cancelled"] += 1
                else:
                    offer = Offer.objects.select_related("slot", "entry").get(pk=ident)
                    if kind == "accept":
                        outcome = services.offer_accept(offer=offer, now=now)
                        counts[f"accept_{outcome}"] += 1
                        if outcome == services.ACCEPTED and offer.entry_id in moving:
                            # The moved session's old time, freed by the move (the worker's task).
                            tasks.offer_freed_slot(moving[offer.entry_id])
                    else:
                        counts[f"decline_{services.offer_decline(offer=offer, now=now)}"] += 1
            elif due_sweep is not None:
                now = max(now, due_sweep)
                traveller.move_to(now)
                tasks.sweep_waitlist()
                counts["sweeps"] += 1
            else:
                break
            services.offer_messages_dispatch(now=now, limit=500)
            for offer_id, slot_source, client_id, sent_at, expires_at in (
                Offer.objects.filter(pk__gt=last_offer)
                .order_by("pk")
                .values_list("pk", "slot__source_appointment_id", "client_id", "sent_at", "expires_at")
            ):
                last_offer = offer_id
                accepts, declines, delay = decision(seed, slot_source or 0, client_id)
                at = sent_at + (expires_at - sent_at) * delay
                if accepts or declines:
                    counter += 1
                    heapq.heappush(events, (at, counter, "accept" if accepts else "decline", offer_id))
    eager.disable()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    if profiler is not None:
        profiler.stop()
        with open(profile, "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))
    OrmQ.objects.filter(pk__gt=queue_mark).delete()  # other apps' tasks for the sessions changed
    slots = FreedSlot.objects.filter(practice_id__in=world.practice_ids)
    return {
        "counts": dict(counts),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "offers": Offer.objects.filter(slot__in=slots).count(),
    }


def refill_by_bucket(world: World, cancellations: list[Cancellation]) -> dict:
    """From the database: the cancelled sessions' slots, by lead time, and which were refilled
    through an accepted offer."""
    from waitlist.models import FreedSlot, Offer, OfferStatus, SlotStatus

    ids = [c.appointment_id for c in cancellations]
    filled = set(
        Offer.objects.filter(slot__source_appointment_id__in=ids, status=OfferStatus.ACCEPTED).values_list(
            "slot__source_appointment_id", flat=True
        )
    )
    recorded = dict(
        FreedSlot.objects.filter(source_appointment_id__in=ids).values_list("source_appointment_id", "status")
    )
    starts = dict(Appointment.objects.filter(pk__in=ids).values_list("pk", "starts_at"))
    table = {name: {"freed": 0, "refilled": 0} for name, _, _ in BUCKETS}
    for cancellation in cancellations:
        row = table[bucket_of(starts[cancellation.appointment_id] - cancellation.at)]
        row["freed"] += 1
        if (
            cancellation.appointment_id in filled
            and recorded.get(cancellation.appointment_id) == SlotStatus.FILLED
        ):
            row["refilled"] += 1
    return table


# --- 3. The broadcast baseline -------------------------------------------------------------------


def broadcast(world: World, cancellations: list[Cancellation], *, seed: int) -> dict:
    """The same day with one broadcast per freed slot to everyone who fits it, at the moment it
    is freed (quiet hours or not), each deciding as in the simulation; the first acceptance
    before the minimum lead wins. A client takes one slot at most."""
    from waitlist.models import WaitlistEntry, WaitlistSettings
    from waitlist.policy import wave_for

    settings = WaitlistSettings()
    sessions = {
        a.pk: a
        for a in Appointment.objects.filter(pk__in=[c.appointment_id for c in cancellations]).only(
            "pk", "clinician_id", "practice_id", "service_type_id", "modality", "starts_at", "ends_at"
        )
    }
    entries_of: dict[int, list] = defaultdict(list)
    for entry in (
        WaitlistEntry.objects.filter(practice_id__in=world.practice_ids, status="active")
        .select_related("client", "practice", "earlier_than")
        .prefetch_related("clinicians")
    ):
        entry.clinician_ids = {c.pk for c in entry.clinicians.all()}
        entries_of[entry.practice_id].append(entry)
    acceptances = []
    messages = 0
    quiet_messages = 0
    for cancellation in cancellations:
        slot = sessions[cancellation.appointment_id]
        wave = wave_for(slot.starts_at - cancellation.at, settings)
        if wave is None:
            continue
        for entry in entries_of[slot.practice_id]:
            tz = entry.client.zoneinfo(entry.practice)
            if entry.service_type_id != slot.service_type_id or (
                entry.clinician_ids and slot.clinician_id not in entry.clinician_ids
            ):
                continue
            if not entry.accepts(starts_at=slot.starts_at, ends_at=slot.ends_at, tz=tz):
                continue
            if entry.earlier_than is not None and entry.earlier_than.starts_at <= slot.starts_at:
                continue
            messages += 1
            if _in_quiet_hours(cancellation.at, tz, clock(21), clock(8)):
                quiet_messages += 1
            accepts, _, delay = decision(seed, slot.pk, entry.client_id)
            at = cancellation.at + wave.hold * delay
            if accepts and at <= slot.starts_at - timedelta(minutes=settings.min_lead_minutes):
                acceptances.append((at, slot.pk, entry.client_id))
    filled, served = set(), set()
    for _, slot_id, client_id in sorted(acceptances):
        if slot_id not in filled and client_id not in served:
            filled.add(slot_id)
            served.add(client_id)
    table = {name: {"freed": 0, "refilled": 0} for name, _, _ in BUCKETS}
    for cancellation in cancellations:
        row = table[bucket_of(sessions[cancellation.appointment_id].starts_at - cancellation.at)]
        row["freed"] += 1
        row["refilled"] += cancellation.appointment_id in filled
    return {"by_bucket": table, "messages": messages, "messages_in_quiet_hours": quiet_messages}


# --- 4. Invariants, from the database -------------------------------------------------------------


def _in_quiet_hours(at: datetime, tz: ZoneInfo, start: clock, end: clock) -> bool:
    local = at.astimezone(tz).time()
    return (start <= local or local < end) if start > end else start <= local < end


def invariants(world: World) -> dict:
    from waitlist.models import Offer, OfferMessage

    appointment = Appointment._meta.db_table
    participant = AppointmentParticipant._meta.db_table
    offer = Offer._meta.db_table
    holding = [str(status) for status in SLOT_HOLDING_STATUSES]
    # The network's own sessions never overlap (it is built so, and the database refuses it);
    # what could is a session B6 booked (ids after the network's) against any other.
    params = [world.practice_ids, world.last_network_appointment, holding, holding]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*) FROM "{appointment}" a JOIN "{appointment}" b '
            "ON b.clinician_id = a.clinician_id "
            "AND b.id <> a.id AND (b.id < a.id OR b.id <= %s) "
            "AND b.starts_at < a.ends_at AND a.starts_at < b.ends_at "
            "WHERE a.practice_id = ANY(%s) AND a.id > %s AND a.status = ANY(%s) AND b.status = ANY(%s)",
            [world.last_network_appointment, *params],
        )
        clinician_double = cursor.fetchone()[0]
        cursor.execute(
            f'SELECT count(*) FROM "{participant}" p JOIN "{appointment}" a ON a.id = p.appointment_id '
            f'JOIN "{participant}" q ON q.client_id = p.client_id AND q.appointment_id <> p.appointment_id '
            "AND (q.appointment_id < p.appointment_id OR q.appointment_id <= %s) "
            f'JOIN "{appointment}" b ON b.id = q.appointment_id '
            "AND b.starts_at < a.ends_at AND a.starts_at < b.ends_at "
            "WHERE a.practice_id = ANY(%s) AND a.id > %s AND a.status = ANY(%s) AND b.status = ANY(%s)",
            [world.last_network_appointment, *params],
        )
        client_double = cursor.fetchone()[0]
        # An offer is live from its sending until it was settled (accepted, declined, taken,
        # skipped, expired) or, never settled, its expiry.
        cursor.execute(
            f'SELECT count(*) FROM "{offer}" x JOIN "{offer}" y ON x.client_id = y.client_id AND x.id < y.id '
            "AND x.sent_at < COALESCE(y.settled_at, y.expires_at) "
            "AND y.sent_at < COALESCE(x.settled_at, x.expires_at) "
            "WHERE x.practice_id = ANY(%s)",
            [world.practice_ids],
        )
        two_live = cursor.fetchone()[0]
    quiet = {
        pk: (s, e)
        for pk, s, e in Sequence.objects.filter(practice_id__in=world.practice_ids).values_list(
            "practice_id", "quiet_start", "quiet_end"
        )
    }
    offers_in_quiet = 0
    for practice_id, zone, client_zone, sent_at in Offer.objects.filter(
        practice_id__in=world.practice_ids
    ).values_list("practice_id", "practice__timezone", "client__timezone", "sent_at"):
        start, end = quiet.get(practice_id, (None, None))
        if start is not None and _in_quiet_hours(sent_at, ZoneInfo(client_zone or zone), start, end):
            offers_in_quiet += 1
    texts_in_quiet = Counter()
    for practice_id, zone, client_zone, sent_at, offer_id in OfferMessage.objects.filter(
        practice_id__in=world.practice_ids, sent_at__isnull=False
    ).values_list("practice_id", "practice__timezone", "entry__client__timezone", "sent_at", "offer_id"):
        start, end = quiet.get(practice_id, (None, None))
        if start is not None and _in_quiet_hours(sent_at, ZoneInfo(client_zone or zone), start, end):
            texts_in_quiet["offer" if offer_id else "still_wanted"] += 1
    return {
        "double_bookings_clinician": clinician_double,
        "double_bookings_client": client_double,
        "clients_with_two_live_offers": two_live,
        "offers_in_quiet_hours": offers_in_quiet,
        "offer_texts_in_quiet_hours": texts_in_quiet["offer"],
        "still_wanted_texts_in_quiet_hours": texts_in_quiet["still_wanted"],
    }


# --- The whole benchmark ----------------------------------------------------------------------------


def run(args) -> dict:
    begun = time.monotonic()
    info = machine()
    seed = getattr(args, "b6_seed", SEED)
    slots, entries = args.b6_slots, args.b6_entries
    say(f"B6 refill — {info['date']}, load {info['load_average_at_start']}")
    net = network.ensure_network(args.network, log=say)
    world = prepare(net, entries=entries, seed=seed)
    say(f"  {len(world.entry_client_ids)} clients waiting in {len(world.practice_ids)} practices")
    results: dict = {"machine": info, "slots": slots, "entries": len(world.entry_client_ids), "seed": seed}
    try:
        if "latency" not in getattr(args, "skip", []):
            say(
                f"1. latency: {slots // 2} cancellations at {args.b6_rate:g}/s, then {slots - slots // 2} "
                "at once, through qcluster"
            )
            results["latency"] = lat = latency(world, slots=slots, rate=args.b6_rate, seed=seed)
            say(
                f"   cancellation -> first offer handed over: p50 {lat['latency_p50']:.2f} s, p99 "
                f"{lat['latency_p99']:.2f} s, max {lat['latency_max']:.2f} s ({lat['steady_offered']} of "
                f"{lat['steady_cancellations']} offered; target p99 <= {TARGET_P99:g} s); "
                f"load {lat['load_before']} -> {lat['load_after']}"
            )
            say(
                f"   burst of {lat['burst_cancellations']}: {lat['burst_offered']} first offers "
                "handed over in "
                f"{lat['burst_drain_seconds']:.1f} s = {lat['offers_per_second']:.1f} offers/s "
                f"({lat['workers']} workers); {lat['duplicate_texts']} duplicate texts"
            )
            restore_network(net)
            make_entries(world, entries, random.Random(seed))
        if "simulation" not in getattr(args, "skip", []):
            rng = random.Random(seed)
            day = world.first_session_day
            cancellations = pick_cancellations(world, slots, day, rng, spread=True)
            say(
                f"2. simulated day: {len(cancellations)} cancellations, "
                f"clients accept {P_ACCEPT:.0%} of offers"
            )
            # The baseline first: it reads the waitlist as it is before the day.
            results["broadcast"] = base = broadcast(world, cancellations, seed=seed)
            sim = simulate(world, cancellations, seed=seed, profile=getattr(args, "b6_profile", ""))
            results["simulation"] = sim
            results["waves"] = waves = refill_by_bucket(world, cancellations)
            results["invariants"] = checks = invariants(world)
            say(
                f"   {sim['offers']} offers, simulated in {sim['seconds']:.0f} s "
                f"({sim['cpu_seconds']:.0f} s CPU); {sim['counts']}"
            )
            say("   lead time    freed   refilled by waves   by one broadcast (baseline)")
            for name, _, _ in BUCKETS:
                w, b = waves[name], base["by_bucket"][name]
                say(f"   {name:<10} {w['freed']:>6}   {_share(w):>17}   {_share(b):>16}")
            ahead = _ahead(waves)
            results["refilled_24h_or_more"] = ahead
            say(
                f"   freed >= 24 h ahead: waves {ahead:.1%} (target >= {TARGET_REFILL_24H:.0%}), broadcast "
                f"{_ahead(base['by_bucket']):.1%}; messages: waves {sim['offers']}, "
                f"broadcast {base['messages']} "
                f"({base['messages_in_quiet_hours']} of them inside quiet hours)"
            )
            say(f"3. invariants from the database: {checks}")
    finally:
        restore_network(net)
    results["seconds"] = time.monotonic() - begun
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    say(f"B6 done in {results['seconds']:.0f} s, load at the end {results['load_average_at_end']}")
    return results


def _share(row: dict) -> str:
    return f"{row['refilled'] / row['freed']:.1%} ({row['refilled']})" if row["freed"] else "-"


def _ahead(table: dict) -> float:
    freed = sum(table[name]["freed"] for name in ("24-72 h", ">= 72 h"))
    refilled = sum(table[name]["refilled"] for name in ("24-72 h", ">= 72 h"))
    return refilled / freed if freed else float("nan")
