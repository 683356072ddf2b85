"""Fault drills (issue #17): a TCP proxy (tests/faults/proxy.py) between Attend and one
dependency at a time, broken on purpose while Attend works. PostgreSQL only: the drills run the
dispatcher or the web server in another process, which must see the test database through the
proxy, and the drills' checks read the database directly.

Every drill is bounded in time; the figures each one prints (``-s``) are in docs/reliability.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _postgres_only(request):
    if request.node.get_closest_marker("postgres_only") and connection.vendor != "postgresql":
        pytest.skip("fault drills need PostgreSQL (DATABASE_URL=postgres://…)")


def postgres_port() -> int:
    return int(connection.settings_dict["PORT"] or 5432)


def database_url(*, port: int | None = None) -> str:
    """The test database's URL; with ``port``, through a proxy listening there on loopback."""
    db = connection.settings_dict
    host = "127.0.0.1" if port else (db["HOST"] or "127.0.0.1")
    return f"postgres://{db['USER']}@{host}:{port or db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process a drill starts: production-shaped settings, quiet logs."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_DEBUG": "false",  # no query log growing in a long-running process
            "DJANGO_SECRET_KEY": "fault-drill-" + "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "EMAIL_URL": "consolemail://",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``manage.py <args>`` in a process of its own, its output in ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def stop_process(process: subprocess.Popen, *, grace: float = 15) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = ""):
    """Poll ``predicate`` until it returns something true; fail the drill after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


def follow_the_clock(
    traveller,
    *,
    until: datetime,
    wake_at: list[datetime],
    on_wake=lambda now: None,
    after_sweep=lambda now: None,
    tz: ZoneInfo = NEW_YORK,
) -> list[str]:
    """Sweep at each moment a row falls due (and at each of ``wake_at``) until ``until``, as a
    dispatcher that never stopped would; returns one line per sweep."""
    from messaging.dispatch import dispatch_due, next_due_at

    sweeps = []
    wake_at = sorted(wake_at)
    while True:
        now = timezone.now()
        on_wake(now)
        report = dispatch_due()
        after_sweep(now)
        sweeps.append(
            f"{now.astimezone(tz):%H:%M:%S} sent={report.sent} retried={report.retried} "
            f"failed={report.failed} unknown={report.unknown}"
        )
        candidates = [moment for moment in wake_at if moment > now]
        due = next_due_at()
        if due is not None:
            candidates.append(max(due, now + timedelta(seconds=1)))
        upcoming = min(candidates, default=None)
        if upcoming is None or upcoming > until:
            return sweeps
        traveller.move_to(upcoming)
