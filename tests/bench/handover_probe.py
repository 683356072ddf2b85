"""Where the hand-over at the due second goes (issue #19): ``python -m tests.bench.handover_probe``.

On the B1 data (``tests.bench.data``; DATABASE_URL must name a benchmark database), one
``Dispatcher`` in this process prepares the burst ahead, then at the due instant hands it over
with the in-memory timestamping backend, and the time of each part of the hand-over is added up:
the statement (mark ``sending`` + record the previous chunk, one round trip and commit), the
main thread's own Python, and the wait for the chunk's calls. Also: CPU per row of the
preparation and of the hand-over, and the process's resident memory holding the prepared rows.
``--profile FILE`` writes a pyinstrument profile of the main thread from the due instant.
Not part of ``make bench``: a tool for the profile in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import defaultdict
from datetime import UTC, datetime


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=30_000)
    parser.add_argument("--rows", type=int, default=0, help="Arm only this many rows of the burst.")
    parser.add_argument("--lead", type=float, default=25.0, help="Seconds between arming and due.")
    parser.add_argument("--profile", default="")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.SMS_BACKEND = "tests.bench.backends.TimestampingSMSBackend"
    settings.DEBUG = False
    from messaging import dispatch
    from tests.bench import backends, data

    burst = data.ensure_burst(args.n, log=print)
    rows = args.rows or burst.n
    dispatch.dispatch_due(now=datetime(2000, 1, 1, tzinfo=UTC))  # warm up
    times: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    def timed(name, func):
        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return func(*a, **k)
            finally:
                times[name] += time.perf_counter() - started
                counts[name] += 1

        return wrapper

    dispatch._hand_over = timed("hand-over statement (+ record of the previous chunk)", dispatch._hand_over)
    dispatch._record_accepted = timed("record alone (last chunk)", dispatch._record_accepted)
    dispatch._Sender._collect = timed("wait for the chunk's calls (_collect)", dispatch._Sender._collect)

    due = time.time() + args.lead
    data.arm_burst(burst, datetime.fromtimestamp(due, UTC), rows=rows)
    rss_idle = _rss_mb()
    with dispatch.Dispatcher(lookahead_seconds=args.lead + 5) as dispatcher:
        cpu0, wall0 = _cpu(), time.perf_counter()
        dispatcher.sweep()
        prepare_cpu, prepare_wall = _cpu() - cpu0, time.perf_counter() - wall0
        held, rss_held = dispatcher.held, _rss_mb()
        if time.time() > due:
            print("WARNING: preparation ran past the due instant")
        time.sleep(max(0.0, due - time.time()))
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        cpu0, wall0 = _cpu(), time.perf_counter()
        report = dispatcher.sweep()
        handover_cpu, handover_wall = _cpu() - cpu0, time.perf_counter() - wall0
        if profiler:
            profiler.stop()
            with open(args.profile, "w") as out:
                out.write(profiler.output_text(unicode=False, color=False, show_all=False))
    lateness = sorted(stamp - due for _, stamp in backends.sends)
    print(
        f"rows {rows}, held {held}; prepare: {prepare_wall:.2f} s wall, {1000 * prepare_cpu / rows:.3f} ms "
        f"CPU/row; RSS idle {rss_idle:.0f} MB, holding {rss_held:.0f} MB"
    )
    print(
        f"hand-over: sent {report.sent}, rechecked {report.rechecked}, fenced {report.fenced}; "
        f"{handover_wall:.2f} s wall, {1000 * handover_cpu / max(1, report.sent):.3f} ms CPU/row; "
        f"p50 {lateness[len(lateness) // 2]:.2f} s, p99 {lateness[int(len(lateness) * 0.99) - 1]:.2f} s, "
        f"last {lateness[-1]:.2f} s; load {os.getloadavg()}"
    )
    for name, seconds in times.items():
        print(
            f"  {name:<56}{counts[name]:>6} calls {seconds:>7.2f} s "
            f"{1000 * seconds / counts[name]:>7.2f} ms each"
        )


if __name__ == "__main__":
    main()
