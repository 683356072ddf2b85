"""B5 — staff page latency over the network (issue #8).

The pages staff keep open all day — the today board (``/board/``), the clinician's My day
(``/me/day/``), the needs-attention queue (``/queue/``) and the metrics page (``/metrics/`` over
the network's month) — served by the real WSGI app in its own process, as deployed: gunicorn,
gthread workers (``WORKERS`` x ``THREADS``), DEBUG off, behind a (pretend) TLS proxy. ``USERS``
client threads, each a ``requests`` session of a signed-in, 2FA-verified member of staff, ask for
the pages in turn; every request's wall time is kept. Measured twice:

- **idle**: warm-up, then ``--b5-rounds`` requests per page per user; p50/p95 per page;
- **during a burst**: the B1 burst dispatcher (``tests.bench.runner``) drains ``--b5-burst``
  T-15 texts of the B1 data while the same users keep asking; p50/p95 per page against idle.

Data: the B2 network (``tests.bench.network``: 1,000 practices x 10 clinicians, 1,000,000 sessions
in the next month). ``MEASURED`` practices of it get what a working day leaves behind: their month's
reminders planned with ``message_plan_bulk``, those due by now sent (a few
failed), sessions over marked attended (some no-shows), the live one half joined, and the queue
items those raise. The network's month starts tomorrow, so the measured practices' sessions are
first moved (all by the same amount, so every clinician's calendar keeps its shape) to start
80 minutes ago: one session over, one live, two to come today, and the rest of the month ahead.

Also: SQL statements per page (in this process, through Django's test client) and the web
workers' peak RSS (VmHWM). At the end the measured practices' outbox rows are
deleted, so no other benchmark finds pending rows of ours.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from messaging.models import OutboxMessage, OutboxState
from messaging.services import message_plan_bulk
from practice.models import ClinicianProfile, Membership, Practice, Role, User
from scheduling import day_facts
from scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    DayFacts,
    FollowUp,
    FollowUpKind,
)
from tests.bench import data, network
from tests.bench.b1 import ROOT, child_env, machine, percentile, say

TARGET_P95_MS = 100
TARGET_BURST_RATIO = 2
USERS = 8
MEASURED = 8  # practices of the network with a working day on them, one user each
WORKERS, THREADS = 2, 4  # 2 processes (2 cores, one GIL each) x 4 threads = 8 requests at once
# Seconds each web thread keeps its database connection, as .env.example advises in production.
WEB_CONN_MAX_AGE = "60"
CLOCK_AFTER_FIRST_SESSION = timedelta(minutes=80)  # one session over, one live, two to come
SETTLED_AHEAD = timedelta(minutes=10)  # reminders due this soon count as sent already
WARM_UP_ROUNDS = 2
# What the TLS-terminating proxy in front tells the app (DJANGO_BEHIND_TLS_PROXY): without it,
# DEBUG off redirects every request to https.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
PAGES = ("board", "my_day", "queue", "metrics")
PAGE_ROLE = {"board": "manager", "my_day": "clinician", "queue": "manager", "metrics": "manager"}
PAGE_PATH = {"board": "/board/", "my_day": "/me/day/", "queue": "/queue/", "metrics": "/metrics/"}


@dataclass(frozen=True)
class Staff:
    """One client thread's practice and its two signed-in sessions (session keys)."""

    practice_id: int
    manager: str
    clinician: str


# --- Data: a working day on the measured practices -----------------------------------------------


def move_month_to_now(practice_ids: list[int], now: datetime) -> None:
    """Move every session of the practices so that the first one started
    ``CLOCK_AFTER_FIRST_SESSION`` ago. Two steps, far away and back, because the no-overlap
    constraint is checked row by row and a one-step move could collide with a row not moved yet."""
    first = (
        Appointment.objects.filter(practice_id__in=practice_ids)
        .order_by("starts_at")
        .values_list("starts_at", flat=True)[0]
    )
    delta = now - CLOCK_AFTER_FIRST_SESSION - first
    away = timedelta(days=3650)
    table = Appointment._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        for by in (away, delta - away):
            cursor.execute(
                f'UPDATE "{table}" SET starts_at = starts_at + %s, ends_at = ends_at + %s '
                "WHERE practice_id = ANY(%s)",
                [by, by, practice_ids],
            )


def prepare_day(practice_ids: list[int], clock: datetime) -> dict:
    """The practices' month moved to start now, its reminders planned, and the day as it stands
    at ``clock`` (now). Idempotent: what a previous run left is reset first."""
    from auditlog.context import disable_auditlog

    started = time.monotonic()
    appointments = Appointment.objects.filter(practice_id__in=practice_ids)
    participants = AppointmentParticipant.objects.filter(appointment__practice_id__in=practice_ids)
    with disable_auditlog(), transaction.atomic():
        FollowUp.objects.filter(practice_id__in=practice_ids).delete()
        OutboxMessage.objects.filter(practice_id__in=practice_ids).delete()
        appointments.exclude(status=AppointmentStatus.SCHEDULED).update(status=AppointmentStatus.SCHEDULED)
        participants.update(attendance=Attendance.EXPECTED, joined_at=None)
    move_month_to_now(practice_ids, clock)
    planned = message_plan_bulk(appointment_ids=list(appointments.values_list("pk", flat=True)))
    with disable_auditlog(), transaction.atomic():
        sent = _send_what_was_due(practice_ids, clock)
        over = appointments.filter(ends_at__lte=clock)
        over.update(status=AppointmentStatus.COMPLETED)
        live = appointments.filter(starts_at__lte=clock, ends_at__gt=clock)
        live.update(status=AppointmentStatus.IN_PROGRESS)
        _attend(practice_ids, clock)
        no_shows = participants.filter(attendance=Attendance.NO_SHOW)
        late = participants.filter(appointment__in=live, joined_at=None)
        items = _queue_items(no_shows, late, practice_ids)
    # The day was written with set-based SQL, past the services that keep the metrics page's day
    # facts current: count them again, as a bulk load must (scheduling.day_facts, #14).
    for practice in Practice.objects.filter(pk__in=practice_ids):
        day_facts.rebuild(practice)
    with connection.cursor() as cursor:
        for model in (OutboxMessage, Appointment, AppointmentParticipant, FollowUp, DayFacts):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    return {
        "outbox_rows_planned": planned,
        "outbox_rows_sent_before_clock": sent,
        "sessions_over": over.count(),
        "sessions_live": live.count(),
        "queue_items": items,
        "seconds": time.monotonic() - started,
    }


def _attend(practice_ids: list[int], clock: datetime) -> None:
    """Clients of sessions over attended (one in six did not come); in the live session one in
    two has joined, two minutes in, the others are late."""
    participant = AppointmentParticipant._meta.db_table
    appointment = Appointment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{participant}" p SET attendance = CASE WHEN p.id %% 6 = 0 THEN %s ELSE %s END, '
            "joined_at = CASE WHEN p.id %% 6 = 0 THEN NULL ELSE a.starts_at END "
            f'FROM "{appointment}" a WHERE p.appointment_id = a.id AND a.practice_id = ANY(%s) '
            "AND a.ends_at <= %s",
            [Attendance.NO_SHOW, Attendance.ATTENDED, practice_ids, clock],
        )
        cursor.execute(
            f"UPDATE \"{participant}\" p SET joined_at = a.starts_at + interval '2 minutes' "
            f'FROM "{appointment}" a WHERE p.appointment_id = a.id AND a.practice_id = ANY(%s) '
            "AND a.starts_at <= %s AND a.ends_at > %s AND p.id %% 2 = 0",
            [practice_ids, clock, clock],
        )


def _send_what_was_due(practice_ids: list[int], clock: datetime) -> int:
    """Rows due before the clock (and in the next minutes, so the burst's dispatcher does not find
    them while the benchmark runs) are settled as the dispatcher and the provider would have left
    them: most delivered, some only accepted, one in 25 failed."""
    table = OutboxMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" SET state = CASE WHEN id %% 25 = 0 THEN %s WHEN id %% 10 = 0 THEN %s '
            "ELSE %s END, sent_at = due_at, settled_at = due_at, attempts = 1 "
            "WHERE practice_id = ANY(%s) AND state = %s AND due_at <= %s",
            [
                OutboxState.FAILED,
                OutboxState.ACCEPTED,
                OutboxState.DELIVERED,
                practice_ids,
                OutboxState.PLANNED,
                clock + SETTLED_AHEAD,
            ],
        )
        return cursor.rowcount


def _queue_items(no_shows, late, practice_ids: list[int]) -> int:
    """The needs-attention items the day raised: no-shows, late clients, failed reminders."""
    items = [
        FollowUp(
            practice_id=p.appointment.practice_id, appointment_id=p.appointment_id, participant=p, kind=kind
        )
        for kind, rows in ((FollowUpKind.NO_SHOW, no_shows), (FollowUpKind.LATE_ARRIVAL, late))
        for p in rows.select_related("appointment")
    ]
    failed = OutboxMessage.objects.filter(
        practice_id__in=practice_ids, state=OutboxState.FAILED, participant__isnull=False
    )
    items += [
        FollowUp(
            practice_id=row.practice_id,
            appointment_id=row.appointment_id,
            participant_id=row.participant_id,
            kind=FollowUpKind.MESSAGE_PROBLEM,
            detail="A reminder failed.",
            source=f"outbox:{row.pk}",
        )
        for row in failed.only("pk", "practice_id", "appointment_id", "participant_id")
    ]
    FollowUp.objects.bulk_create(items, batch_size=2000)
    return len(items)


# --- Signed-in staff ------------------------------------------------------------------------------


def signed_in_staff(practice_ids: list[int]) -> list[Staff]:
    """A manager and a clinician (owning the practice's first clinician profile) per practice,
    each with a Django session that has passed 2FA, made directly rather than through the forms."""
    staff = []
    for practice_id in practice_ids:
        manager = _member(practice_id, Role.MANAGER, f"b5-manager-{practice_id}@bench.example.com")
        clinician = _member(practice_id, Role.CLINICIAN, f"b5-clinician-{practice_id}@bench.example.com")
        profile = ClinicianProfile.objects.filter(practice_id=practice_id).order_by("pk").first()
        ClinicianProfile.objects.filter(user=clinician).exclude(pk=profile.pk).update(user=None)
        if profile.user_id != clinician.pk:
            profile.user = clinician
            profile.save(update_fields=["user"])
        staff.append(Staff(practice_id, _verified_session(manager), _verified_session(clinician)))
    return staff


def _member(practice_id: int, role: str, email: str) -> User:
    user = User.objects.filter(email=email).first() or User.objects.create_user(
        email=email, password=None, full_name="B5 bench"
    )
    Membership.objects.update_or_create(practice_id=practice_id, user=user, defaults={"role": role})
    return user


def _verified_session(user: User) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=True
    )
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[DEVICE_ID_SESSION_KEY] = device.persistent_id
    store.save()
    return store.session_key


def page_url(page: str, clock: datetime) -> str:
    if page == "metrics":  # the network's month (the default, the last 12 weeks, holds none of it)
        start = clock.date() - timedelta(days=1)  # the practices' zones are behind UTC
        return f"/metrics/?start={start}&end={start + timedelta(days=32)}"
    return PAGE_PATH[page]


# --- The web server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def collect_static() -> None:
    """What a deployment does before starting the web process: with DEBUG off the pages name
    their CSS and scripts through WhiteNoise's manifest (incremental after the first run)."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=child_env(DJANGO_DEBUG="false"),
        check=True,
    )


def start_server() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = child_env(
        DJANGO_DEBUG="false",
        DJANGO_BEHIND_TLS_PROXY="true",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,  # it signs the sessions made here
        # As .env.example advises for PostgreSQL in production: each thread keeps its connection
        # (a new backend per request costs its set-up and cold catalog caches; 0 to measure that).
        DATABASE_CONN_MAX_AGE=os.environ.get("DATABASE_CONN_MAX_AGE", WEB_CONN_MAX_AGE),
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--bind",
            f"127.0.0.1:{port}",
            "practice.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("The web server exited while starting.")
            try:
                if requests.get(f"{base}/healthz", headers=PROXY_HEADERS, timeout=2).status_code == 200:
                    return server, base
            except requests.RequestException:  # not listening yet, or a worker still starting
                pass
            time.sleep(0.2)
        raise RuntimeError("The web server did not answer within 60 s.")
    except BaseException:
        stop_server(server)
        raise


def worker_pids(server: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- Load --------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Wall times (s) per page, and the requests that did not answer 200."""

    times: dict[str, list[float]]
    errors: list[tuple[str, int]]
    seconds: float

    @property
    def requests(self) -> int:
        return sum(len(t) for t in self.times.values()) + len(self.errors)


def load(base: str, staff: list[Staff], clock: datetime, *, rounds: int = 0, until=None) -> Samples:
    """``USERS`` threads each ask for every page in turn (each starting at another page), for
    ``rounds`` rounds, and then until ``until`` (a threading.Event) is set."""
    import requests

    times: dict[str, list[float]] = defaultdict(list)
    errors: list[tuple[str, int]] = []
    lock = threading.Lock()

    def user(index: int) -> None:
        member = staff[index % len(staff)]
        order = PAGES[index % len(PAGES) :] + PAGES[: index % len(PAGES)]
        with requests.Session() as http:
            http.headers.update(PROXY_HEADERS)
            done = 0
            while done < rounds or (until is not None and not until.is_set()):
                for page in order:
                    key = getattr(member, PAGE_ROLE[page])
                    began = time.perf_counter()
                    response = http.get(
                        base + page_url(page, clock),
                        cookies={settings.SESSION_COOKIE_NAME: key},
                        allow_redirects=False,
                        timeout=60,
                    )
                    took = time.perf_counter() - began
                    with lock:
                        if response.status_code == 200:
                            times[page].append(took)
                        else:
                            errors.append((page, response.status_code))
                done += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(USERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Samples(dict(times), errors, time.perf_counter() - started)


def latency(samples: Samples) -> dict:
    result = {}
    for page in PAGES:
        values = sorted(samples.times.get(page, []))
        result[page] = {
            "requests": len(values),
            "p50_ms": 1000 * percentile(values, 50),
            "p95_ms": 1000 * percentile(values, 95),
            "max_ms": 1000 * values[-1] if values else float("nan"),
        }
    every = sorted(t for values in samples.times.values() for t in values)
    result["all"] = {
        "requests": len(every),
        "p50_ms": 1000 * percentile(every, 50),
        "p95_ms": 1000 * percentile(every, 95),
        "max_ms": 1000 * every[-1] if every else float("nan"),
        "per_second": len(every) / samples.seconds if samples.seconds else 0.0,
        "errors": len(samples.errors),
        "error_detail": sorted(set(samples.errors)),
    }
    return result


# --- During a burst ---------------------------------------------------------------------------------


def during_burst(base: str, staff: list[Staff], clock: datetime, burst: data.Burst, rows: int) -> dict:
    """Start the B1 dispatcher runner, arm ``rows`` of the burst due now, and keep the users asking
    until the runner has drained them."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.runner", "--max-seconds", "600"],
        cwd=ROOT,
        env=child_env(BENCH_SEND_LOG=os.devnull),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if runner.stdout.readline().strip() != "ready":
        raise RuntimeError("The dispatcher runner did not start.")
    due = time.time() + 1
    # The measured practices' own reminders stay planned (none falls due during the burst).
    ours = tuple(member.practice_id for member in staff)
    data.arm_burst(burst, datetime.fromtimestamp(due, tz=UTC), rows=rows, also_pending=ours)
    drained = threading.Event()
    report: dict = {}

    def wait_for_runner() -> None:
        try:
            runner.stdin.write(f"{due}\n")
            runner.stdin.flush()
            out, _ = runner.communicate(timeout=900)
            report.update(json.loads(out.strip().splitlines()[-1]))
        finally:  # the users stop asking even if the runner failed (its report is then missing)
            drained.set()

    go = time.time()
    waiter = threading.Thread(target=wait_for_runner)
    waiter.start()
    samples = load(base, staff, clock, rounds=1, until=drained)
    waiter.join()
    close_old_connections()
    return {
        "samples": samples,
        "rows": rows,
        "handed_over": report["sent"],
        "drain_seconds": report["finished"] - go,
        "dispatcher_peak_rss_mb": report["maxrss_kb"] / 1024,
    }


# --- Queries per page -------------------------------------------------------------------------------


def queries_per_page(staff: Staff, clock: datetime) -> dict[str, int]:
    """SQL statements each page sends, counted in this process through Django's test client
    (counted, not timed: timing belongs to the server)."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for page in PAGES:
        http = Client()
        http.cookies[settings.SESSION_COOKIE_NAME] = getattr(staff, PAGE_ROLE[page])
        with CaptureQueriesContext(connection) as queries:
            response = http.get(page_url(page, clock), secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"{page} answered {response.status_code} in process.")
        counts[page] = len(queries)
    return counts


# --- The whole benchmark ------------------------------------------------------------------------------


def run(args) -> dict:
    begun = time.monotonic()
    info = machine()
    say(f"B5 staff pages — {info['date']}, load {info['load_average_at_start']}")
    net = network.ensure_network(args.network, log=say)
    burst = data.ensure_burst(args.n, log=say)
    measured = list(net.practice_ids[:MEASURED])
    clock = timezone.now()
    say(
        f"data: {MEASURED} of the network's {len(net.practice_ids)} practices; "
        "their month moved to start 80 minutes ago"
    )
    results: dict = {"machine": info, "network": net.appointments, "measured_practices": len(measured)}
    results["day"] = day = prepare_day(measured, clock)
    say(
        f"    planned {day['outbox_rows_planned']} reminders, {day['outbox_rows_sent_before_clock']} "
        f"sent before the clock, {day['queue_items']} queue items: {day['seconds']:.1f} s"
    )
    staff = signed_in_staff(measured)
    collect_static()
    results["queries"] = queries_per_page(staff[0], clock)
    say(f"    SQL statements per page: {results['queries']}")

    server, base = start_server()
    try:
        say(
            f"web: gunicorn gthread, {WORKERS} workers x {THREADS} threads; {USERS} users; "
            f"DATABASE_CONN_MAX_AGE={os.environ.get('DATABASE_CONN_MAX_AGE', WEB_CONN_MAX_AGE)}"
        )
        load(base, staff, clock, rounds=WARM_UP_ROUNDS)
        idle = load(base, staff, clock, rounds=args.b5_rounds)
        results["idle"] = latency(idle)
        say(f"    idle: {results['idle']['all']['requests']} requests in {idle.seconds:.1f} s")
        burst_rows = min(args.b5_burst, burst.n)
        say(f"burst: the B1 dispatcher drains {burst_rows} T-15 texts while the users keep asking")
        busy = during_burst(base, staff, clock, burst, burst_rows)
        results["burst"] = latency(busy.pop("samples"))
        results["dispatcher"] = busy
        say(f"    {results['burst']['all']['requests']} requests; drain {busy['drain_seconds']:.1f} s")
        workers = worker_pids(server)
        results["web_peak_rss_mb"] = max(peak_rss_mb(pid) for pid in workers)
        results["web_workers"] = len(workers)
    finally:
        stop_server(server)
        OutboxMessage.objects.filter(practice_id__in=measured).delete()  # nothing pending left of ours
    results["total_seconds"] = time.monotonic() - begun
    say()
    say(summary(results))
    return results


def summary(r: dict) -> str:
    idle, busy = r["idle"], r["burst"]
    lines = [
        f"B5 staff pages, {USERS} users, network of {r['network']} sessions — {r['machine']['date']}",
        f"{'figure':<30}{'measured':>12}  {'baseline (idle)':<18}{'target':<16}{'vs target'}",
    ]
    for page in (*PAGES, "all"):
        i, b = idle[page], busy[page]
        lines.append(f"{page + ' p50 idle':<30}{i['p50_ms']:>9.0f} ms  {'':<18}{'':<16}")
        lines.append(
            f"{page + ' p95 idle':<30}{i['p95_ms']:>9.0f} ms  {'':<18}{'<= 100 ms':<16}"
            f"{i['p95_ms'] / TARGET_P95_MS:.2f}x the target"
        )
        ratio = b["p95_ms"] / i["p95_ms"] if i["p95_ms"] else float("nan")
        lines.append(
            f"{page + ' p95 during burst':<30}{b['p95_ms']:>9.0f} ms  {i['p95_ms']:>6.0f} ms{'':<9}"
            f"{'<= 2x idle':<16}{ratio:.2f}x idle"
        )
    lines += [
        f"{'requests idle / during burst':<30}{idle['all']['requests']:>12}  {busy['all']['requests']} "
        f"(errors {idle['all']['errors']} / {busy['all']['errors']}); "
        f"idle {idle['all']['per_second']:.1f}/s, burst {busy['all']['per_second']:.1f}/s",
        f"{'SQL statements per page':<30}{json.dumps(r['queries'])}",
        f"{'web worker peak RSS':<30}{r['web_peak_rss_mb']:>9.0f} MB  "
        f"(largest of {r['web_workers']} workers)",
        f"{'burst':<30}{r['dispatcher']['handed_over']:>12}  handed over of {r['dispatcher']['rows']} in "
        f"{r['dispatcher']['drain_seconds']:.1f} s; "
        f"dispatcher peak RSS {r['dispatcher']['dispatcher_peak_rss_mb']:.0f} MB",
        f"whole run {r['total_seconds']:.0f} s",
    ]
    return "\n".join(lines)
