"""``python -m tests.bench <name>``: run a benchmark of the reminder engine (issue #8).

Names: ``b1`` (a burst of 30,000 reminders due at the same instant), ``b2`` (planning a network's
month), ``b3`` (a reschedule and cancel storm during a burst), ``b4`` (provider hand-off: Twilio
and SMTP servers on loopback), ``b5`` (staff page latency over the network, idle and during a
burst), ``b6`` (the waitlist refilling a day of cancellations), ``all`` (every one).
Needs PostgreSQL in DATABASE_URL — use a database of its own, the benchmark builds and resets
its own practices there (e.g. postgres://postgres@127.0.0.1:5432/attend_bench, migrated).
Runs with production-shaped settings (DJANGO_DEBUG=false, so no SQL is kept in memory) and
the timestamping SMS backend of tests.bench.backends.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys

BENCHMARKS = ("b1", "b2", "b3", "b4")
# B5: staff page latency over the network (tests/bench/b5.py).
BENCHMARKS += ("b5",)
# B6: the waitlist refilling a day of cancellations on the network (tests/bench/b6.py).
BENCHMARKS += ("b6",)
POSTGRES_SCHEMES = ("postgres://", "postgresql://", "pgsql://", "psql://", "postgis://")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=(*BENCHMARKS, "all"))
    parser.add_argument("-n", type=int, default=30_000, help="Reminders in the burst (30,000).")
    parser.add_argument("--q2-seconds", type=float, default=30, help="Time box of the django-q2 baseline.")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="Skip: crash, q2, parallel (B1), latency, simulation (B6).",
    )
    parser.add_argument(
        "--parallel", action="store_true", help="B1: 2 dispatcher processes at once (now run by default)."
    )
    parser.add_argument(
        "--production", action="store_true", help="Also run the burst through qcluster and the real schedule."
    )
    parser.add_argument("--profile", action="store_true", help="Also profile one dispatcher (pyinstrument).")
    parser.add_argument(
        "--network", type=int, default=1_000_000, help="B2: sessions in the month (1,000,000)."
    )
    parser.add_argument(
        "--plan-slice", type=int, default=20_000, help="B2: sessions a set-based slice (20,000)."
    )
    parser.add_argument("--plan-sample", type=int, default=500, help="B2: sessions planned one at a time.")
    parser.add_argument("--storm", type=int, default=10_000, help="B3: reschedules and cancels (10,000).")
    parser.add_argument("--storm-seconds", type=float, default=120, help="B3: time box of the storm (120).")
    parser.add_argument("--storm-threads", type=int, default=4, help="B3: threads of the storm (4).")
    parser.add_argument("--b3-runs", type=int, default=3, help="B3: storms one after another (3).")
    parser.add_argument("--b3-seed", type=int, default=8, help="B3: seed of the first storm (8; then +1 …).")
    parser.add_argument("--messages", type=int, default=2_000, help="B4: messages through each provider.")
    # B5
    parser.add_argument("--b5-rounds", type=int, default=10, help="B5: requests per page per user (10).")
    parser.add_argument(
        "--b5-burst", type=int, default=4_000, help="B5: burst texts drained while measuring (4,000)."
    )
    # B6
    parser.add_argument("--b6-slots", type=int, default=2_000, help="B6: cancellations (2,000).")
    parser.add_argument("--b6-entries", type=int, default=20_000, help="B6: clients waiting (20,000).")
    parser.add_argument("--b6-rate", type=float, default=10, help="B6: steady cancellations a second (10).")
    parser.add_argument("--b6-seed", type=int, default=16, help="B6: seed of the simulation (16).")
    parser.add_argument("--b6-profile", default="", help="B6: profile the simulation here.")
    parser.add_argument("--json", default="", help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(POSTGRES_SCHEMES):
        print(
            "The benchmarks need PostgreSQL: set DATABASE_URL=postgres://… to a database of their own "
            "(they build and reset their own practices there).",
            file=sys.stderr,
        )
        return 2
    os.environ["DJANGO_SETTINGS_MODULE"] = "practice.settings"
    # Production-shaped: DEBUG off (no per-query bookkeeping); the timestamping SMS backend.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    os.environ["SMS_BACKEND"] = "tests.bench.backends.TimestampingSMSBackend"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("DATABASE_URL does not lead to PostgreSQL.", file=sys.stderr)
        return 2

    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        print(
            "The benchmark database has unapplied migrations: run manage.py migrate first.", file=sys.stderr
        )
        return 2

    from tests.bench import b1, b2, b3, b4

    runs = {"b1": b1.run, "b2": b2.run, "b3": b3.run, "b4": b4.run}
    from tests.bench import b5

    runs["b5"] = b5.run
    from tests.bench import b6

    runs["b6"] = b6.run
    results = {}
    for name in BENCHMARKS if args.name == "all" else (args.name,):
        results[name] = runs[name](args)
    if args.json:
        import json

        with open(args.json, "w") as out:
            json.dump(results, out, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
