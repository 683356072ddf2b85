"""B1 — burst: 30,000 T-15 texts due at the same instant (issue #8).

Measured with the real dispatcher: ``tests.bench.runner`` processes run
``messaging.dispatch.dispatch_due`` in a loop from the due instant, with settings.SMS_BACKEND =
``tests.bench.backends.TimestampingSMSBackend`` (in memory; it stamps each hand-over with
time.time() into a send log). Lateness is hand-over time minus due time, per row.

Baselines in the same run:
(a) the SQL floor: one set-based claim of the same rows (UPDATE … WHERE state='planned' AND
    due_at <= now RETURNING id), timed;
(b) one django-q2 task per reminder (async_task on the ORM broker; each task is one trivial
    send), a real ``qcluster`` run for a time box: tasks/s, projected drain of the burst
    (a lower bound: the enqueueing itself is not counted).
And the crash case: ``manage.py dispatch_due`` is killed with SIGKILL mid-burst and run again;
every number the backend was handed is counted: duplicates and losses must be 0.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from messaging.models import OutboxMessage, OutboxState
from tests.bench import data
from tests.bench.backends import read_send_log

ROOT = Path(__file__).resolve().parents[2]
TARGET_P99 = 2.0  # s
TARGET_DRAIN = 5.0  # s for 30,000
TARGET_VS_Q2 = 100  # times the one-task-per-reminder throughput
TARGET_VS_FLOOR = 5  # drain within 5x the SQL floor
DISPATCHER_BOX = 300  # s: a dispatcher still running after this is stopped and reported
CRASH_ROWS = 2_000
Q2_TASKS = 4_000
PROFILE_ROWS = 3_000
ARM_MARGIN = 20.0  # s before the due instant: arming 30,000 rows takes seconds on a busy machine
# The dispatcher starts its loop this long before the burst falls due (rows planned at least a
# minute ahead, as real T-15 rows are, days ahead); SHORT_LEAD is the worst case of issue #19.
LEAD = 60.0
SHORT_LEAD = 5.0


def say(text: str = "") -> None:
    print(text, flush=True)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return float("nan")
    rank = max(1, -(-len(values) * q // 100))
    return values[int(rank) - 1]


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        sync = cursor.fetchone()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "ram_gb": round(int(meminfo[1]) / 1024 / 1024, 1),
        "postgresql": pg,
        "synchronous_commit": sync,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "code": code_state(),
    }


def code_state() -> str:
    """The commit measured, and whether the engine's files had uncommitted edits."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
        except OSError:
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "?"
    # Not stripped: `status --short` starts a line with a space for an unstaged change.
    dirty = git("status", "--short", "--", "messaging", "telehealth", "scheduling", "practice").rstrip()
    if not dirty:
        return head
    return f"{head} + uncommitted edits: {', '.join(line[3:] for line in dirty.splitlines())}"


# --- (a) SQL floor -------------------------------------------------------------------------------


def sql_floor(burst: data.Burst, repeats: int = 3) -> dict:
    table = OutboxMessage._meta.db_table
    seconds = []
    for _ in range(repeats):
        data.arm_burst(burst, timezone.now() - timedelta(seconds=1))
        now = timezone.now()
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{table}" SET state = %s, claim_token = %s, lease_until = %s, updated_at = %s '
                "WHERE state = %s AND due_at <= %s RETURNING id",
                [OutboxState.CLAIMED, "floor", now + timedelta(seconds=60), now, OutboxState.PLANNED, now],
            )
            claimed = len(cursor.fetchall())
        seconds.append(time.perf_counter() - started)
        if claimed != burst.n:
            raise RuntimeError(f"The floor claimed {claimed} rows, not {burst.n}.")
    seconds.sort()
    return {"rows": burst.n, "seconds_median": seconds[len(seconds) // 2], "seconds_all": seconds}


# --- The dispatcher ------------------------------------------------------------------------------


def dispatcher_run(
    burst: data.Burst,
    *,
    processes: int = 1,
    rows: int | None = None,
    count_queries: bool = False,
    profile: str = "",
    box: float = DISPATCHER_BOX,
    lead: float | None = LEAD,
) -> dict:
    """Start ``processes`` runners, let them warm up, plan the burst for a moment ahead, tell
    them the instant, and measure what the backend was handed and when. With ``lead`` (seconds),
    the runners run the production loop (look-ahead preparation) from ``lead`` seconds before
    the due instant: the rows were planned at least that long before it, as a dispatcher that
    has been running all along finds them. ``lead=None``: the code before issue #19 (and the
    baseline), ``dispatch_due`` back to back from the due instant."""
    workdir = tempfile.mkdtemp(prefix="attend-bench-")
    log = os.path.join(workdir, "sends.log")
    command = [sys.executable, "-m", "tests.bench.runner", "--max-seconds", str(box)]
    if lead is None:
        command.append("--no-lookahead")
    if count_queries:
        command.append("--count-queries")
    if profile:
        command += ["--profile", profile]
    runners = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=child_env(BENCH_SEND_LOG=log),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for runner in runners:
        if runner.stdout.readline().strip() != "ready":
            raise RuntimeError("A dispatcher runner did not start.")
    due = time.time() + ARM_MARGIN + (lead or 0)
    start = due - (lead or 0)
    data.arm_burst(burst, datetime.fromtimestamp(due, UTC), rows=rows)
    if time.time() > start - 0.2:
        raise RuntimeError("Planning the burst took longer than the margin before its due time.")
    for runner in runners:
        runner.stdin.write(f"{due} {start}\n")
        runner.stdin.flush()
    reports = []
    for runner in runners:
        try:
            out, _ = runner.communicate(timeout=box + 120)
        except subprocess.TimeoutExpired:
            runner.kill()
            out, _ = runner.communicate()
        reports.append(json.loads(out.strip().splitlines()[-1]))
    sends = read_send_log(log)
    lateness = sorted(handed - due for _, handed in sends)
    per_number = Counter(number for number, _ in sends)
    expected = rows or burst.n
    states = data.burst_states(burst)
    result = {
        "processes": processes,
        "lead": lead,
        "rows": expected,
        "handed_over": len(sends),
        "duplicates": sum(count - 1 for count in per_number.values() if count > 1),
        "states": states,
        "lateness_p50": percentile(lateness, 50),
        "lateness_p99": percentile(lateness, 99),
        "lateness_max": lateness[-1] if lateness else float("nan"),
        "first_handed_over": lateness[0] if lateness else float("nan"),
        "drain_handed_over": lateness[-1] if lateness else float("nan"),
        "drain_recorded": max(r["finished"] for r in reports) - due,
        "rows_per_second": len(sends) / lateness[-1] if lateness else 0.0,
        "cpu_seconds": sum(r["cpu_seconds"] for r in reports),
        "cpu_ms_per_row": 1000 * sum(r["cpu_seconds"] for r in reports) / max(1, len(sends)),
        "peak_rss_mb": max(r["maxrss_kb"] for r in reports) / 1024,
        "peak_rss_idle_mb": max(r["maxrss_before_kb"] for r in reports) / 1024,
        "runners": reports,
        "finished": len(sends) == expected and states.get(OutboxState.ACCEPTED, 0) == expected,
    }
    if count_queries:
        counts: Counter = Counter()
        waits: Counter = Counter()
        for report in reports:
            counts.update(report["query_count"])
            waits.update(report["query_seconds"])
        result["queries"] = {key: (counts[key], round(waits[key], 2)) for key in counts}
        result["queries_per_row"] = sum(counts.values()) / max(1, len(sends))
        result["db_wait_seconds"] = sum(waits.values())
    return result


# --- Crash ------------------------------------------------------------------------------------


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def crash_case(burst: data.Burst, rows: int = CRASH_ROWS) -> dict:
    """SIGKILL a ``manage.py dispatch_due`` mid-burst, restart it, then run it once more after
    the dead one's leases ran out; count what the backend was handed."""
    workdir = tempfile.mkdtemp(prefix="attend-bench-crash-")
    log = os.path.join(workdir, "sends.log")
    # Short leases so the killed process's claim and in-flight chunks expire within the run (the
    # defaults, 60 s and 600 s, are sized for a busy machine and a real provider); a claim lease
    # must still exceed the time to prepare one batch.
    env = child_env(BENCH_SEND_LOG=log, DISPATCH_CLAIM_LEASE_SECONDS="10", DISPATCH_SENDING_LEASE_SECONDS="5")
    data.arm_burst(burst, timezone.now(), rows=rows)
    first = subprocess.Popen(
        [sys.executable, "manage.py", "dispatch_due"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while len(read_send_log(log)) < rows // 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if first.poll() is not None:
        raise RuntimeError("The dispatcher finished before it could be killed: use more rows.")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    handed_before_kill = len(read_send_log(log))
    states_after_kill = data.burst_states(burst)

    restart = manage("dispatch_due", env=env)
    states_after_restart = data.burst_states(burst)
    held = OutboxMessage.objects.filter(
        practice_id__in=burst.practice_ids, state__in=(OutboxState.CLAIMED, OutboxState.SENDING)
    ).aggregate(until=Max("lease_until"))["until"]
    waited = 0.0
    if held is not None:
        waited = max(0.0, (held - timezone.now()).total_seconds() + 1)
        time.sleep(waited)
    after_leases = manage("dispatch_due", env=env)

    sends = read_send_log(log)
    per_number = Counter(number for number, _ in sends)
    final = data.burst_numbers(burst)
    armed = {number: state for number, state in final.items() if state != OutboxState.CANCELLED}
    settled_ok = (OutboxState.ACCEPTED, OutboxState.UNKNOWN)
    unknown = [n for n, state in armed.items() if state == OutboxState.UNKNOWN]
    return {
        "rows": rows,
        "killed_after_handed_over": handed_before_kill,
        "states_after_kill": states_after_kill,
        "states_after_restart": states_after_restart,
        "restart_output": restart.stdout.strip(),
        "waited_for_leases_seconds": round(waited, 1),
        "after_leases_output": after_leases.stdout.strip(),
        "final_states": data.burst_states(burst),
        "duplicates": sum(count - 1 for count in per_number.values() if count > 1),
        "losses": sum(1 for state in armed.values() if state not in settled_ok),
        "unknown": len(unknown),
        "unknown_but_handed_over": sum(1 for n in unknown if per_number[n]),
        "accepted_never_handed_over": sum(
            1 for n, state in armed.items() if state == OutboxState.ACCEPTED and not per_number[n]
        ),
        "handed_over_total": len(sends),
    }


# --- (b) django-q2, one task per reminder -------------------------------------------------------


def q2_baseline(seconds: float, tasks: int = Q2_TASKS) -> dict:
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule, Task
    from django_q.tasks import async_task

    func = "tests.bench.q2tasks.trivial_send"
    workdir = tempfile.mkdtemp(prefix="attend-bench-q2-")
    log = os.path.join(workdir, "sends.log")
    parked = list(Schedule.objects.values_list("pk", "next_run"))
    OrmQ.objects.all().delete()
    try:
        # The project's own schedules (dispatcher loop, meeting sweep) would take a worker.
        Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
        # Enqueued in one transaction (one commit), so setting up the baseline stays quick; the
        # tasks run with the project's Q_CLUSTER settings.
        broker = get_broker()
        started = time.perf_counter()
        with transaction.atomic():
            for number in data.fictional_numbers(tasks):
                async_task(func, number, broker=broker)
        enqueue_seconds = time.perf_counter() - started
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=child_env(BENCH_SEND_LOG=log),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        cluster_started = time.time()
        time.sleep(seconds)
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=5)
            stopped = "SIGTERM"
        except subprocess.TimeoutExpired:  # qcluster can hang on SIGTERM (ARCHITECTURE.md)
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
            stopped = "SIGKILL after 5 s"
        stamps = sorted(handed for _, handed in read_send_log(log))
        steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        return {
            "tasks_enqueued": tasks,
            "enqueue_per_second": tasks / enqueue_seconds,
            "time_box_seconds": seconds,
            "done": len(stamps),
            "first_done_after": (stamps[0] - cluster_started) if stamps else None,
            "tasks_per_second": steady,
            "tasks_per_second_whole_box": len(stamps) / seconds,
            "stopped_by": stopped,
            "workers": settings.Q_CLUSTER.get("workers"),
        }
    finally:
        OrmQ.objects.all().delete()
        Task.objects.filter(func=func).delete()
        for pk, next_run in parked:
            Schedule.objects.filter(pk=pk).update(next_run=next_run)


# --- Through the project's own clock (optional) -------------------------------------------------


def production_path(burst: data.Burst, box: float = 240) -> dict:
    """The burst as deployed: ``qcluster`` runs the project's ``messaging.dispatch`` schedule
    (``messaging.tasks.dispatch_for_a_minute``, every minute, Q_CLUSTER timeout 60 s). Time-boxed;
    rows still held when the box ends are reported as they are."""
    from django_q.models import OrmQ, Schedule, Task

    from messaging.models import DispatcherHeartbeat

    workdir = tempfile.mkdtemp(prefix="attend-bench-prod-")
    log = os.path.join(workdir, "sends.log")
    parked = list(Schedule.objects.values_list("pk", "next_run"))
    OrmQ.objects.all().delete()
    Task.objects.filter(func="messaging.tasks.dispatch_for_a_minute").delete()
    DispatcherHeartbeat.objects.update(loop_lease_until=None)
    pending = (OutboxState.PLANNED, OutboxState.CLAIMED, OutboxState.SENDING)
    try:
        due = time.time() + 5
        data.arm_burst(burst, datetime.fromtimestamp(due, UTC))
        Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
        Schedule.objects.filter(func="messaging.tasks.dispatch_for_a_minute").update(
            next_run=datetime.fromtimestamp(due, UTC)
        )
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=child_env(BENCH_SEND_LOG=log),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        rows = OutboxMessage.objects.filter(practice_id__in=burst.practice_ids, state__in=pending)
        while time.time() < due + box and (time.time() < due + 5 or rows.exists()):
            time.sleep(2)
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
        sends = read_send_log(log)
        lateness = sorted(handed - due for _, handed in sends)
        per_number = Counter(number for number, _ in sends)
        runs = Task.objects.filter(func="messaging.tasks.dispatch_for_a_minute")
        return {
            "box_seconds": box,
            "handed_over": len(sends),
            "duplicates": sum(count - 1 for count in per_number.values() if count > 1),
            "lateness_p50": percentile(lateness, 50),
            "lateness_p99": percentile(lateness, 99),
            "lateness_max": lateness[-1] if lateness else float("nan"),
            "states": data.burst_states(burst),
            "dispatcher_task_runs": runs.count(),
            "dispatcher_task_failures": [
                (run.stopped.isoformat(), str(run.result)[:120]) for run in runs.filter(success=False)
            ],
        }
    finally:
        OrmQ.objects.all().delete()
        for pk, next_run in parked:
            Schedule.objects.filter(pk=pk).update(next_run=next_run)


# --- The whole benchmark ------------------------------------------------------------------------


def run(args) -> dict:
    begun = time.monotonic()
    skip = set(args.skip)
    info = machine()
    say(
        f"B1 burst — {info['date']}, {info['cores']} cores, {info['ram_gb']} GB RAM, PostgreSQL "
        f"{info['postgresql']} (synchronous_commit={info['synchronous_commit']}), "
        f"load {info['load_average_at_start']}"
    )
    say(f"data: {args.n} sessions at one instant, one T-15 text each")
    burst = data.ensure_burst(args.n, log=say)
    results: dict = {"machine": info, "n": args.n, "build_seconds": burst.build_seconds}

    say("(a) SQL floor: set-based claim of the whole burst, 3 runs")
    results["floor"] = floor = sql_floor(burst)
    runs = ", ".join(f"{s:.3f}" for s in floor["seconds_all"])
    say(f"    median {floor['seconds_median']:.3f} s  (runs {runs})")

    say(
        "baseline: 1 process, no look-ahead (the dispatcher before #19: dispatch_due back to back "
        "from the due instant)"
    )
    results["no_lookahead"] = base = dispatcher_run(burst, count_queries=True, lead=None)
    say(
        f"    handed over {base['handed_over']} in {base['drain_handed_over']:.1f} s, states {base['states']}"
    )

    say(f"dispatcher: 1 process, the production loop started {LEAD:.0f} s before the burst (look-ahead)")
    results["dispatcher"] = main = dispatcher_run(burst, count_queries=True, lead=LEAD)
    say(
        f"    handed over {main['handed_over']} in {main['drain_handed_over']:.1f} s, all recorded after "
        f"{main['drain_recorded']:.1f} s, states {main['states']}"
    )

    say(f"dispatcher: 1 process, the burst planned only {SHORT_LEAD:.0f} s ahead")
    results["short_lead"] = short = dispatcher_run(burst, lead=SHORT_LEAD)
    say(f"    handed over {short['handed_over']} in {short['drain_handed_over']:.1f} s")

    if args.parallel or "parallel" not in skip:  # issue #19 item 3: two dispatchers, every run
        say(f"dispatcher: 2 processes in parallel, started {LEAD:.0f} s before the burst")
        results["dispatcher_x2"] = two = dispatcher_run(burst, processes=2, lead=LEAD)
        say(f"    handed over {two['handed_over']} in {two['drain_handed_over']:.1f} s")
        say(f"dispatcher: 2 processes in parallel, the burst planned only {SHORT_LEAD:.0f} s ahead")
        results["short_lead_x2"] = two_short = dispatcher_run(burst, processes=2, lead=SHORT_LEAD)
        say(f"    handed over {two_short['handed_over']} in {two_short['drain_handed_over']:.1f} s")

    if "crash" not in skip:
        say(f"crash: SIGKILL manage.py dispatch_due mid-burst ({CRASH_ROWS} rows), restart, lease expiry")
        results["crash"] = crash = crash_case(burst)
        say(
            f"    killed after {crash['killed_after_handed_over']} handed over; waited "
            f"{crash['waited_for_leases_seconds']} s for leases; final {crash['final_states']}"
        )

    if "q2" not in skip:
        say(f"(b) django-q2: one task per reminder, qcluster for {args.q2_seconds:.0f} s")
        results["q2"] = q2 = q2_baseline(args.q2_seconds)
        say(f"    {q2['done']} done, {q2['tasks_per_second']:.1f} tasks/s")

    if args.production:
        say("production path: qcluster running the project's own dispatcher schedule (time box 240 s)")
        results["production"] = prod = production_path(burst)
        say(f"    handed over {prod['handed_over']}, states {prod['states']}")
        say(
            f"    dispatcher task runs {prod['dispatcher_task_runs']}, "
            f"failed {prod['dispatcher_task_failures']}"
        )

    if args.profile:
        path = os.path.join(tempfile.mkdtemp(prefix="attend-bench-profile-"), "dispatcher.txt")
        say(f"profile: one dispatcher on {PROFILE_ROWS} rows under pyinstrument -> {path}")
        results["profile"] = dispatcher_run(burst, rows=PROFILE_ROWS, profile=path)
        results["profile"]["path"] = path

    results["total_seconds"] = time.monotonic() - begun
    say()
    say(summary(results))
    return results


RUNS = (
    ("no_lookahead", "no look-ahead (before #19): baseline"),
    ("dispatcher", f"look-ahead, loop started {LEAD:.0f} s ahead"),
    ("short_lead", f"look-ahead, burst planned {SHORT_LEAD:.0f} s ahead"),
    ("dispatcher_x2", f"2 dispatchers, {LEAD:.0f} s ahead"),
    ("short_lead_x2", f"2 dispatchers, {SHORT_LEAD:.0f} s ahead"),
)


def side_by_side(r: dict) -> list[str]:
    """Every dispatcher run of this benchmark on one line each: the same data, the same machine,
    minutes apart. CPU per row is the dispatchers' CPU time (all processes, preparation ahead
    included) over the rows: fairer than wall time on a busy machine."""
    lines = [
        "",
        f"{'same run, side by side':<44}{'p50':>8}{'p99':>8}{'drain':>8}{'CPU/row':>10}"
        f"{'rows/s':>8}{'dup':>5}  vs targets (p99 <= 2 s, drain <= 5 s)",
    ]
    for key, label in RUNS:
        run = r.get(key)
        if not run:
            continue
        met = run["lateness_p99"] <= TARGET_P99 and run["drain_handed_over"] <= TARGET_DRAIN
        lines.append(
            f"{label:<44}{run['lateness_p50']:>7.2f}s{run['lateness_p99']:>7.2f}s"
            f"{run['drain_handed_over']:>7.2f}s{run['cpu_ms_per_row']:>8.3f}ms{run['rows_per_second']:>8.0f}"
            f"{run['duplicates']:>5}  {'met' if met else 'missed'}"
            f"{'' if run['finished'] else ' (NOT FINISHED)'}"
        )
    return lines


def summary(r: dict) -> str:
    d, floor = r["dispatcher"], r["floor"]["seconds_median"]
    q2 = r.get("q2")
    n = r["n"]
    rate = d["rows_per_second"]
    lines = [
        f"B1 burst, {n} reminders due at one instant — {r['machine']['date']}, load at the start "
        f"{r['machine']['load_average_at_start']} "
        f"({'finished' if d['finished'] else 'NOT FINISHED in the time box'})",
        f"the dispatcher below: the production loop (look-ahead) started {d['lead']:.0f} s before the burst",
        f"{'figure':<34}{'measured':>14}  {'baseline':<36}{'target':<14}{'vs target'}",
        f"{'lateness p50':<34}{d['lateness_p50']:>12.2f} s  {'':<36}{'':<14}",
        f"{'lateness p99':<34}{d['lateness_p99']:>12.2f} s  {'':<36}{'<= 2 s':<14}"
        f"{d['lateness_p99'] / TARGET_P99:.1f}x the target",
        f"{'lateness max':<34}{d['lateness_max']:>12.2f} s",
        f"{'drain (last hand-over)':<34}{d['drain_handed_over']:>12.2f} s  "
        f"{f'SQL floor claim {floor:.3f} s':<36}{'<= 5 s':<14}"
        f"{d['drain_handed_over'] / TARGET_DRAIN:.1f}x the target; "
        f"{d['drain_handed_over'] / floor:.0f}x the floor (target <= {TARGET_VS_FLOOR}x)",
        f"{'drain (all rows recorded)':<34}{d['drain_recorded']:>12.2f} s",
        f"{'throughput':<34}{rate:>10.0f} /s",
    ]
    cpu_line = (
        f"{'dispatcher CPU per row':<34}{d['cpu_ms_per_row']:>11.3f} ms  "
        f"({d['cpu_seconds']:.1f} s of CPU in {d['drain_recorded']:.1f} s: the rest is waiting for "
        f"PostgreSQL or for a core)"
    )
    if q2 and q2["tasks_per_second"]:
        q2_rate = q2["tasks_per_second"]
        lines[-1] += (
            f"  {f'django-q2 {q2_rate:.1f} tasks/s':<36}{'>= 100x':<14}"
            f"{rate / q2_rate:.1f}x q2 ({rate / q2_rate / TARGET_VS_Q2:.2f} of the target)"
        )
    if q2 and q2["tasks_per_second"]:
        lines.append(
            f"{'django-q2 projected drain of ' + str(n):<34}{n / q2['tasks_per_second']:>12.0f} s  "
            f"(lower bound: {q2['done']} tasks in a {q2['time_box_seconds']:.0f} s box, "
            f"{q2['workers']} workers, stopped by {q2['stopped_by']})"
        )
    lines += [
        cpu_line,
        f"{'dispatcher peak RSS':<34}{d['peak_rss_mb']:>11.0f} MB  "
        f"(idle after warm-up {d['peak_rss_idle_mb']:.0f} MB)",
        f"{'SQL statements per row':<34}{d.get('queries_per_row', 0):>14.2f}  "
        f"(waiting for PostgreSQL {d.get('db_wait_seconds', 0):.1f} s of {d['drain_recorded']:.1f} s)",
    ]
    for key, (count, seconds) in sorted(d.get("queries", {}).items(), key=lambda kv: -kv[1][1]):
        lines.append(f"    {key:<40}{count:>8} statements {seconds:>8.1f} s")
    lines += side_by_side(r)
    if "crash" in r:
        c = r["crash"]
        lines.append(
            f"{'crash (SIGKILL, ' + str(c['rows']) + ' rows)':<34}duplicates {c['duplicates']} "
            f"(must be 0), losses {c['losses']} (must be 0), left unknown {c['unknown']} "
            f"({c['unknown_but_handed_over']} of them handed over), "
            f"accepted but never handed over {c['accepted_never_handed_over']}"
        )
    lines.append(f"whole run {r['total_seconds']:.0f} s")
    return "\n".join(lines)
