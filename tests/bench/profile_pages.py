"""``python -m tests.bench.profile_pages``: where the staff pages of B5 spend their time (#14).

On the B5 data (the 1M-session network, a working day on 8 practices), each page is requested
through Django's test client in this process, ``--rounds`` times, to split its time into SQL
(measured around every statement with ``connection.execute_wrapper``) and the rest (Python:
middleware, building rows, template rendering); then 5 times more under pyinstrument, whose call
tree shows where the rest goes. "per request" is wall-clock time; "CPU" is this process's CPU time
(``time.process_time``: Python, templates and the driver's side of SQL, not PostgreSQL's), which
is the fairer guide while other work shares the machine.
Production-shaped settings (DEBUG off), like B5; the figures are CPU time of one request in one
process, not latency under load (that is B5's job).

Needs DATABASE_URL pointing at the benchmark database (``make bench BENCH=b5`` builds the data).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.profile_pages")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--network", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 60)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from pyinstrument import Profiler

    from tests.bench import b5, network

    net = network.ensure_network(args.network, log=print)
    measured = list(net.practice_ids[: b5.MEASURED])
    clock = timezone.now()
    b5.prepare_day(measured, clock)
    staff = b5.signed_in_staff(measured)[0]
    sql_seconds = [0.0]

    def timed(execute, sql, params, many, context):
        begun = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds[0] += time.perf_counter() - begun

    print(
        f"{'page':<8} {'per request':>12} {'CPU':>9} {'SQL':>8} {'statements':>11} "
        f"{'rest (Python, templates)':>26}"
    )
    for page in b5.PAGES:
        http = Client()
        http.cookies[settings.SESSION_COOKIE_NAME] = getattr(staff, b5.PAGE_ROLE[page])
        url = b5.page_url(page, clock)
        assert http.get(url, secure=True).status_code == 200  # warm
        sql_seconds[0] = 0.0
        statements = [0]

        def counting(execute, sql, params, many, context, statements=statements):
            statements[0] += 1
            return timed(execute, sql, params, many, context)

        begun, cpu_begun = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(counting):
            for _ in range(args.rounds):
                http.get(url, secure=True)
        total = (time.perf_counter() - begun) / args.rounds
        cpu = (time.process_time() - cpu_begun) / args.rounds
        sql = sql_seconds[0] / args.rounds
        print(
            f"{page:<8} {total * 1000:>9.1f} ms {cpu * 1000:>6.1f} ms {sql * 1000:>5.1f} ms "
            f"{statements[0] // args.rounds:>11} "
            f"{(total - sql) * 1000:>23.1f} ms"
        )
    for page in b5.PAGES:
        http = Client()
        http.cookies[settings.SESSION_COOKIE_NAME] = getattr(staff, b5.PAGE_ROLE[page])
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(5):
                http.get(b5.page_url(page, clock), secure=True)
        print(f"\n=== {page} (5 requests) ===")
        print(profiler.output_text(unicode=False, color=False, show_all=False, short_mode=True)[:6000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
