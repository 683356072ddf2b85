"""``python -m tests.bench.profile_pages``: where the staff pages of B5 spend their time (#14).

On the B5 data (the 1M-session network, a working day on 8 practices), each page is requested
through Django's test client in this process, ``--rounds`` times, to split its time into SQL
(measured around every statement with ``connection.execute_wrapper``) and the rest (Python:
middleware, building rows, template rendering); then ``--profile-rounds`` times more under
pyinstrument, whose samples are split into the parts every request pays (session read and
write, user, 2FA device, membership, the navigation's count and heartbeat, other middleware and
context processors) and the page's own (its view, the page template, the Jinja2 fragments) —
the "split" table, wall time with its SQL part. "per request" is wall-clock time; "CPU" is this
process's CPU time (``time.process_time``: Python, templates and the driver's side of SQL, not
PostgreSQL's), which is the fairer guide while other work shares the machine.

Pages: B5's four and ``settings`` (the settings hub: a staff page with nothing of its own but
the base template, so its cost is the fixed cost of every staff page). ``--tree`` also prints
pyinstrument's call tree per page.

Production-shaped settings (DEBUG off), like B5; the figures are CPU time of one request in one
process, not latency under load (that is B5's job).

Needs DATABASE_URL pointing at the benchmark database (``make bench BENCH=b5`` builds the data).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

# (category, file path fragment, function names): a sample belongs to the innermost frame that
# matches one of these (so "view" is what the view does outside the other categories).
CATEGORIES = (
    ("session read", "sessions/backends/", ("load",)),
    ("session write", "sessions/backends/", ("save",)),
    ("user", "django/contrib/auth/__init__.py", ("get_user",)),
    ("2FA device", "django_otp/middleware.py", ("_verify_user_sync",)),
    ("membership", "practice/middleware.py", ("membership_of", "__call__@CurrentPracticeMiddleware")),
    ("nav count", "staff/context_processors.py", ("needs_attention",)),
    ("nav heartbeat", "messaging/context_processors.py", ("dispatcher_status",)),
    ("view", "django/core/handlers/base.py", ("_get_response",)),
    ("page template", "django/template/response.py", ("rendered_content",)),
    ("page template", "django/shortcuts.py", ("render",)),
    ("jinja2 fragments", "staff/cards.py", ("render_fragment", "_render")),
    ("other context processors", "context_processors.py", ()),
    ("other middleware", "middleware", ("__call__", "process_request", "process_response", "process_view")),
)
SQL_MARK = ("django/db/backends/utils.py", "_execute")
ORDER = (
    "session read",
    "session write",
    "user",
    "2FA device",
    "membership",
    "other middleware",
    "nav count",
    "nav heartbeat",
    "other context processors",
    "view",
    "page template",
    "jinja2 fragments",
    "rest (handler, test client)",
)


def _category(frame) -> str | None:
    path = frame.file_path or ""
    name = frame.function
    qualified = f"{name}@{frame.class_name}" if frame.class_name else name
    for category, fragment, functions in CATEGORIES:
        if fragment in path and (not functions or name in functions or qualified in functions):
            return category
    return None


def split(root) -> dict[str, list[float]]:
    """Seconds per category: [total, of which SQL], from a pyinstrument frame tree."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def walk(frame, category: str, in_sql: bool) -> None:
        category = _category(frame) or category
        in_sql = in_sql or (SQL_MARK[0] in (frame.file_path or "") and frame.function == SQL_MARK[1])
        own = frame.total_self_time
        totals[category][0] += own
        if in_sql:
            totals[category][1] += own
        for child in frame.children:
            walk(child, category, in_sql)

    walk(root, "rest (handler, test client)", False)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.profile_pages")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile-rounds", type=int, default=20)
    parser.add_argument("--network", type=int, default=1_000_000)
    parser.add_argument("--tree", action="store_true", help="Also print pyinstrument's call tree per page.")
    parser.add_argument("--no-prepare", action="store_true", help="Keep the day a previous run prepared.")
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
    if not args.no_prepare:
        b5.prepare_day(measured, clock)
    staff = b5.signed_in_staff(measured)[0]
    pages = ("settings", *b5.PAGES)
    role = {**b5.PAGE_ROLE, "settings": "manager"}

    def url(page: str) -> str:
        return "/settings/" if page == "settings" else b5.page_url(page, clock)

    sql_seconds = [0.0]

    def timed(execute, sql, params, many, context):
        begun = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds[0] += time.perf_counter() - begun

    print(
        f"{'page':<9} {'per request':>12} {'CPU':>9} {'SQL':>8} {'statements':>11} "
        f"{'rest (Python, templates)':>26}"
    )
    for page in pages:
        http = Client()
        http.cookies[settings.SESSION_COOKIE_NAME] = getattr(staff, role[page])
        assert http.get(url(page), secure=True).status_code == 200  # warm
        sql_seconds[0] = 0.0
        statements = [0]

        def counting(execute, sql, params, many, context, statements=statements):
            statements[0] += 1
            return timed(execute, sql, params, many, context)

        begun, cpu_begun = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(counting):
            for _ in range(args.rounds):
                http.get(url(page), secure=True)
        total = (time.perf_counter() - begun) / args.rounds
        cpu = (time.process_time() - cpu_begun) / args.rounds
        sql = sql_seconds[0] / args.rounds
        print(
            f"{page:<9} {total * 1000:>9.1f} ms {cpu * 1000:>6.1f} ms {sql * 1000:>5.1f} ms "
            f"{statements[0] // args.rounds:>11} "
            f"{(total - sql) * 1000:>23.1f} ms"
        )
    splits = {}
    trees = {}
    for page in pages:
        http = Client()
        http.cookies[settings.SESSION_COOKIE_NAME] = getattr(staff, role[page])
        profiler = Profiler(interval=0.0002)
        with profiler:
            for _ in range(args.profile_rounds):
                http.get(url(page), secure=True)
        splits[page] = split(profiler.last_session.root_frame())
        if args.tree:
            trees[page] = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=True)
    rounds = args.profile_rounds
    print(f"\nSplit, ms per request (wall, pyinstrument, {rounds} requests; SQL part in brackets)")
    print(f"{'':<28}" + "".join(f"{page:>16}" for page in pages))
    for category in ORDER:
        cells = []
        for page in pages:
            total, sql = splits[page].get(category, (0.0, 0.0))
            cells.append(f"{total * 1000 / rounds:>7.2f} ({sql * 1000 / rounds:>5.2f})")
        print(f"{category:<28}" + "".join(f"{cell:>16}" for cell in cells))
    sums = [sum(t for t, _ in splits[page].values()) * 1000 / args.profile_rounds for page in pages]
    print(f"{'all':<28}" + "".join(f"{s:>16.2f}" for s in sums))
    for page, tree in trees.items():
        print(f"\n=== {page} ({args.profile_rounds} requests) ===")
        print(tree[:8000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
