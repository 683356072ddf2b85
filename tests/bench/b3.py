"""B3 — a reschedule and cancel storm while a burst dispatches (issue #8).

The B1 burst (30,000 T-15 texts due at one instant) is dispatched by a ``tests.bench.runner``
process; from the same instant, ``--storm`` sessions of that burst (10,000) are moved by a day
(``appointment_reschedule``) or cancelled (``appointment_cancel``), half each, by 4 threads
calling the real services, events and all, within ``--storm-seconds`` (120; operations not
started by then are reported as not done). Every hand-over is logged with its time and kind
(reminder or cancellation notice).

- **stale**: a reminder handed over *after* the service that moved or cancelled its session had
  returned (the client would get a text for a time that no longer holds). Must be 0.
- **lost**: a session left untouched whose reminder never went out; a cancelled session whose
  cancellation notice never went out; a moved session whose new time has no planned reminder;
  any row left claimed or sending. Must be 0.
Afterwards the moved-to sessions are deleted and the burst is restored for the next run.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from messaging.models import OutboxMessage, OutboxState
from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus, Attendance
from scheduling.services import appointment_cancel, appointment_reschedule
from tests.bench import b1, data
from tests.bench.b1 import ROOT, child_env, machine, percentile, say
from tests.bench.backends import read_send_log

THREADS = 4
# The dispatcher runs the production loop from this long before the burst falls due, so the
# storm (from the due instant) changes sessions whose reminders are already prepared and held:
# the last check before each provider call is what keeps them from going out (issue #19).
LEAD = b1.LEAD


def change(pk: int, op: str) -> None:
    """One operation of the storm, as a staff page or the API does it: read the session, then
    call the service (which locks and re-reads it)."""
    appointment = Appointment.objects.select_related("practice", "clinician").get(pk=pk)
    if op == "reschedule":
        appointment_reschedule(appointment=appointment, starts_at=appointment.starts_at + timedelta(days=1))
    else:
        appointment_cancel(appointment=appointment, reason="Benchmark storm")


def storm(
    ops: list[tuple[int, str]], *, box: float, threads: int = THREADS, statements: dict | None = None
) -> list[tuple[int, str, float, float]]:
    """Run the operations (none is started after ``box`` seconds); returns (appointment id, op,
    started, returned) per operation done. One operation of each kind, once every thread is
    warm, also has its SQL statements counted into ``statements`` (kind → count, after-commit
    work included)."""
    deadline = time.time() + box
    done: list[tuple[int, str, float, float]] = []
    lock = threading.Lock()
    queue = list(reversed(ops))
    statements = {} if statements is None else statements
    seen: Counter = Counter()

    def worker():
        try:
            while True:
                with lock:
                    if not queue or time.time() > deadline:
                        return
                    pk, op = queue.pop()
                    seen[op] += 1
                    # Not the first few: each thread's first operation also opens its connection.
                    count_this = seen[op] == 2 * threads
                started = time.time()
                if count_this:
                    with CaptureQueriesContext(connection) as captured:
                        change(pk, op)
                    statements[op] = len(captured)
                else:
                    change(pk, op)
                returned = time.time()
                with lock:
                    done.append((pk, op, started, returned))
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return done


def restore(burst: data.Burst) -> None:
    """Remove what the storm added (sessions at their new time and their rows), so the burst
    data is whole again for the next run."""
    from auditlog.context import disable_auditlog

    ids = list(burst.practice_ids)
    with disable_auditlog():
        Appointment.objects.filter(practice_id__in=ids, rescheduled_from__isnull=False).delete()
    AppointmentParticipant.objects.filter(appointment__practice_id__in=ids).update(
        attendance=Attendance.EXPECTED
    )
    Appointment.objects.filter(practice_id__in=ids).update(
        status=AppointmentStatus.SCHEDULED, cancelled_at=None, cancel_reason=""
    )


def run(args) -> dict:
    """``--b3-runs`` storms (3) one after another on the same data, each with its own seed
    (``--b3-seed``, then +1, +2 …: which sessions are moved or cancelled, in which order), and a
    table of stale / lost / duplicates per run: "0 stale" has to hold over repeated runs."""
    runs = max(1, getattr(args, "b3_runs", 1))
    seed = getattr(args, "b3_seed", 8)
    results = [one_run(args, seed + i) for i in range(runs)]
    if runs > 1:
        say()
        say(f"B3 over {runs} runs (seed, load at start: stale / lost / duplicates; fenced, found changed)")
        for r in results:
            say(
                f"  seed {r['seed']:>3}, load {r['machine']['load_average_at_start']}: "
                f"{r['stale']} / {r['lost']} / {r['duplicates']}; {r['fenced_before_the_call']} fenced, "
                f"{r['withdrawn_at_hand_over']} found changed; {r['storm']} operations"
            )
        stale, lost, dup = (sum(r[key] for r in results) for key in ("stale", "lost", "duplicates"))
        say(f"  all runs: {stale} stale, {lost} lost, {dup} duplicates")
    return {"runs": results} if runs > 1 else results[0]


def one_run(args, seed: int) -> dict:
    from messaging.dispatch import dispatch_due

    begun = time.monotonic()
    info = machine()
    say(f"B3 reschedule storm — {info['date']}, load {info['load_average_at_start']}, seed {seed}")
    burst = data.ensure_burst(args.n, log=say)
    restore(burst)
    phone_of = {
        pk: phone.as_e164
        for pk, phone in Appointment.objects.filter(practice_id__in=burst.practice_ids).values_list(
            "pk", "participants__client__phone"
        )
    }
    rng = random.Random(seed)
    chosen = rng.sample(sorted(phone_of), min(args.storm, len(phone_of)))
    ops = [(pk, "reschedule" if i % 2 == 0 else "cancel") for i, pk in enumerate(chosen)]

    log = os.path.join(tempfile.mkdtemp(prefix="attend-bench-storm-"), "sends.log")
    os.environ["BENCH_SEND_LOG"] = log  # the final sweep in this process logs there too
    runner = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.runner", "--max-seconds", "600"],
        cwd=ROOT,
        env=child_env(BENCH_SEND_LOG=log),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if runner.stdout.readline().strip() != "ready":
        raise RuntimeError("The dispatcher runner did not start.")
    due = time.time() + b1.ARM_MARGIN + LEAD
    data.arm_burst(burst, datetime.fromtimestamp(due, UTC))
    runner.stdin.write(f"{due} {due - LEAD}\n")
    runner.stdin.flush()
    time.sleep(max(0.0, due - time.time()))
    threads = getattr(args, "storm_threads", THREADS)
    say(f"storm: {len(ops)} reschedules and cancels by {threads} threads, from the burst's due instant")
    storm_started = time.time()
    statements: dict[str, int] = {}
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    done = storm(ops, box=args.storm_seconds, threads=threads, statements=statements)
    storm_seconds = time.time() - storm_started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    storm_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    runner_out, _ = runner.communicate(timeout=900)
    close_old_connections()
    # Cancellation notices planned after the runner's last sweep go out here.
    while dispatch_due().claimed:
        pass

    sends = read_send_log(log, with_kind=True)
    reminders: dict[str, list[float]] = {}
    notices: Counter = Counter()
    for number, stamp, kind in sends:
        if kind == "notice":
            notices[number] += 1
        else:
            reminders.setdefault(number, []).append(stamp)
    changed = {pk: (op, returned) for pk, op, _, returned in done}
    stale = [
        pk
        for pk, (op, returned) in changed.items()
        if any(t > returned for t in reminders.get(phone_of[pk], ()))
    ]
    untouched_lost = [pk for pk in phone_of if pk not in changed and not reminders.get(phone_of[pk])]
    notice_lost = [pk for pk, (op, _) in changed.items() if op == "cancel" and not notices[phone_of[pk]]]
    moved = Appointment.objects.filter(
        rescheduled_from_id__in=[pk for pk, (op, _) in changed.items() if op == "reschedule"]
    )
    moved_planned = OutboxMessage.objects.filter(
        appointment__in=moved, kind=burst.kind, state=OutboxState.PLANNED
    ).count()
    moved_lost = sum(1 for _, (op, _) in changed.items() if op == "reschedule") - moved_planned
    left_in_flight = OutboxMessage.objects.filter(
        practice_id__in=burst.practice_ids, state__in=(OutboxState.CLAIMED, OutboxState.SENDING)
    ).count()
    duplicates = sum(len(times) - 1 for times in reminders.values() if len(times) > 1) + sum(
        count - 1 for count in notices.values() if count > 1
    )
    latencies = sorted(returned - started for _, _, started, returned in done)
    runner_report = json.loads(runner_out.strip().splitlines()[-1])
    # Rows the hand-over found changed since they were prepared, decided again (and withdrawn).
    overtaken = runner_report["rechecked"]
    results = {
        "machine": info,
        "seed": seed,
        "n": args.n,
        "storm": len(done),
        "storm_planned": len(ops),
        "storm_box_seconds": args.storm_seconds,
        "storm_seconds": storm_seconds,
        "storm_threads": threads,
        "lead": LEAD,
        "ops_per_second": len(done) / storm_seconds,
        # CPU of the storm process (all its threads) per operation, and its share of one core:
        # near 1.0, the GIL rather than PostgreSQL bounds the storm.
        "storm_cpu_ms_per_op": 1000 * storm_cpu / len(done) if done else None,
        "storm_cpu_share": storm_cpu / storm_seconds,
        "op_p50_ms": 1000 * percentile(latencies, 50),
        "op_p99_ms": 1000 * percentile(latencies, 99),
        "statements_per_reschedule": statements.get("reschedule"),
        "statements_per_cancel": statements.get("cancel"),
        # At the rate measured, how long all the planned operations would take.
        "projected_seconds_for_all": len(ops) / (len(done) / storm_seconds) if done else None,
        "reminders_sent": sum(len(t) for t in reminders.values()),
        "notices_sent": sum(notices.values()),
        "stale": len(stale),
        "lost": len(untouched_lost) + len(notice_lost) + moved_lost + left_in_flight,
        "lost_detail": {
            "untouched_without_reminder": len(untouched_lost),
            "cancelled_without_notice": len(notice_lost),
            "moved_without_new_reminder": moved_lost,
            "left_claimed_or_sending": left_in_flight,
        },
        "duplicates": duplicates,
        "withdrawn_at_hand_over": overtaken,
        # Rows handed over whose session changed before their call: stopped by the fence.
        "fenced_before_the_call": runner_report.get("fenced", 0),
        "dispatcher_drain_seconds": runner_report["finished"] - due,
        "dispatcher_peak_rss_mb": runner_report["maxrss_kb"] / 1024,
        "bench_process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    restore(burst)
    results["total_seconds"] = time.monotonic() - begun
    say()
    say(summary(results))
    return results


def summary(r: dict) -> str:
    return "\n".join(
        [
            f"B3 storm: {r['storm']} reschedules/cancels during a burst of {r['n']} — {r['machine']['date']}",
            f"(of {r['storm_planned']} planned; none started after {r['storm_box_seconds']:.0f} s)",
            f"{'stale sends (reminder after its change)':<48}{r['stale']:>6}   (target 0)",
            f"{'lost sends':<48}{r['lost']:>6}   (target 0) {r['lost_detail']}",
            f"{'duplicates':<48}{r['duplicates']:>6}",
            f"{'rows found changed at the hand-over (decided again)':<48}{r['withdrawn_at_hand_over']:>6}",
            f"{'rows fenced right before their call (given back)':<48}{r['fenced_before_the_call']:>6}",
            f"storm: {r['ops_per_second']:.0f} operations/s through the services, "
            f"p50 {r['op_p50_ms']:.0f} ms, "
            f"p99 {r['op_p99_ms']:.0f} ms; reminders sent {r['reminders_sent']}, notices {r['notices_sent']}",
            f"storm process CPU: {r['storm_cpu_ms_per_op'] or 0:.1f} ms an operation, "
            f"{r['storm_cpu_share']:.0%} of a core ({r['storm_threads']} threads)",
            f"SQL statements (after-commit work included): reschedule {r['statements_per_reschedule']}, "
            f"cancel {r['statements_per_cancel']}; all {r['storm_planned']} at this rate: "
            f"{r['projected_seconds_for_all'] or 0:.0f} s",
            f"dispatcher (production loop, started {r['lead']:.0f} s before the burst) drained in "
            f"{r['dispatcher_drain_seconds']:.1f} s; peak RSS dispatcher "
            f"{r['dispatcher_peak_rss_mb']:.0f} MB, storm process {r['bench_process_peak_rss_mb']:.0f} MB",
            f"whole run {r['total_seconds']:.0f} s",
        ]
    )
