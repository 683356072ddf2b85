"""One benchmark dispatcher process: ``python -m tests.bench.runner [--start-at <epoch>]``.

It sets Django up, warms up (imports, URL resolver, connection, one sweep that can claim
nothing), prints ``ready`` and reads the due instant from stdin (unless given; a second number
on the line is when to start, if before it). Then, by default, it runs the production loop
(``messaging.tasks.run_dispatcher``'s: a ``messaging.dispatch.Dispatcher`` that prepares rows
DISPATCH_LOOKAHEAD_SECONDS ahead and sleeps until it next has work) from the start until, after
the due instant, a sweep claims nothing and nothing is held. With ``--no-lookahead`` (the code
before issue #19, and the baseline) it waits for the due instant and runs
``messaging.dispatch.dispatch_due`` back to back until a sweep claims nothing. Prints one JSON
line: counts, start and end times, the process's peak RSS and, with ``--count-queries``, every
SQL statement grouped by verb and table with the time spent waiting for PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime

STATEMENT = re.compile(r"^\s*(\w+)")
TABLE = re.compile(r'(?:FROM|UPDATE|INTO)\s+"(\w+)"', re.IGNORECASE)


class QueryStats:
    """A connection.execute_wrapper: statement count and seconds per (verb, table)."""

    def __init__(self):
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            verb = STATEMENT.match(sql)
            table = TABLE.search(sql)
            key = f"{verb.group(1).upper() if verb else '?'} {table.group(1) if table else ''}".strip()
            self.count[key] += 1
            self.seconds[key] += time.perf_counter() - started


def _peak_rss_kb() -> int:
    """This process's peak resident memory since it started (VmHWM). Not ``ru_maxrss``: Linux keeps
    that across exec, so a runner started from a big benchmark process would report the parent's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_seconds() -> float:
    """CPU time of this process (all threads): less noisy than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--start-at", type=float, default=0, help="The due instant (epoch seconds); else read from stdin."
    )
    parser.add_argument("--max-seconds", type=float, default=240)
    parser.add_argument("--count-queries", action="store_true")
    parser.add_argument(
        "--profile",
        default="",
        help="Write a pyinstrument text profile here: of the whole run without look-ahead, and from "
        "the due instant with it (the hand-over; the preparation ahead is not in it).",
    )
    parser.add_argument(
        "--no-lookahead", action="store_true", help="dispatch_due back to back from the due instant."
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    import django

    django.setup()
    from django.db import connection
    from django.urls import reverse

    import telehealth.services  # noqa: F401  (imported lazily by messaging.compose)
    from messaging.dispatch import Dispatcher, DispatchReport, dispatch_due
    from messaging.tasks import pause_before_next_sweep

    # Warm up as a long-running dispatcher would be: nothing is due yet, so this claims nothing.
    for name, route_args in (("join", ["x" * 32]), ("tech_check", ["x" * 32]), ("twilio_status", [])):
        reverse(name, args=route_args)
    dispatch_due(now=datetime(2000, 1, 1, tzinfo=UTC))  # nothing is due in 2000, nothing expires
    rss_before_kb = _peak_rss_kb()

    stats = QueryStats()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
    due_at = start_at = args.start_at
    if not due_at:
        print("ready", flush=True)
        due_at, start_at = ([*map(float, sys.stdin.readline().split()), 0.0])[:2]
    start_at = start_at or due_at
    time.sleep(max(0.0, (due_at if args.no_lookahead else start_at) - time.time()))

    total = DispatchReport()
    sweeps = 0
    cpu_before = _cpu_seconds()
    started = time.time()
    if profiler and args.no_lookahead:
        profiler.start()
    with connection.execute_wrapper(stats) if args.count_queries else contextlib.nullcontext():
        if args.no_lookahead:
            while True:
                report = dispatch_due()
                sweeps += 1
                total.add(report)
                if report.claimed == 0 or time.time() - started > args.max_seconds:
                    break
        else:
            with Dispatcher() as dispatcher:
                while True:
                    if profiler and not profiler.is_running and time.time() >= due_at - 0.01:
                        profiler.start()  # the hand-over at the due second, not the preparation
                    report = dispatcher.sweep()
                    sweeps += 1
                    total.add(report)
                    done = time.time() >= due_at and report.claimed == 0 and dispatcher.held == 0
                    if done or time.time() - started > args.max_seconds:
                        break
                    time.sleep(pause_before_next_sweep(dispatcher))
    finished = time.time()
    cpu_seconds = _cpu_seconds() - cpu_before
    if profiler and profiler.is_running:
        profiler.stop()
        with open(args.profile, "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "started": started,
                "due_at": due_at,
                "finished": finished,
                "sweeps": sweeps,
                **{name: value for name, value in vars(total).items() if isinstance(value, int)},
                "cpu_seconds": cpu_seconds,
                "maxrss_kb": _peak_rss_kb(),
                "maxrss_before_kb": rss_before_kb,
                "query_count": dict(stats.count),
                "query_seconds": {key: round(value, 4) for key, value in stats.seconds.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
