"""``manage.py rundemo [--port 8000] [--host 127.0.0.1]``: the web server and the task worker
for the demo, supervised as one command (SPEC F26).

It starts ``runserver HOST:PORT --noreload`` and ``qcluster`` as children, each in its own
process group so that Ctrl-C in the terminal reaches only this supervisor, which then stops
both children and everything they started (qcluster's worker processes share its group).
``qcluster`` can ignore SIGTERM for a minute, so after STOP_GRACE_SECONDS what is left is
killed. If either child exits by itself the other is stopped too and the command fails, so a
demo never runs half-working (for example a server without a worker sending reminders).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from messaging import services
from practice.models import User
from staff import demo, demo_clock

STOP_GRACE_SECONDS = 10
POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    @property
    def pgid(self) -> int:
        # Started with process_group=0: the group id is the child's own pid.
        return self.process.pid


def start_child(name: str, *args: str, env: dict[str, str] | None = None) -> Child:
    manage_py = Path(settings.BASE_DIR) / "manage.py"
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(manage_py), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        process_group=0,
    )
    return Child(name=name, process=process)


def signal_group(pgid: int, signum: int) -> None:
    # Already gone, or the id was reused by a group that is not ours to signal.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def group_has_live_members(pgid: int) -> bool:
    """Is any process of the group still running? Zombies do not count: when this process is
    not their parent, only init can reap them, and signalling them again achieves nothing."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            return True
    return False


def stop_children(children: list[Child], *, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every child's group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for child in children:
        signal_group(child.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for child in children:
            child.process.poll()  # reap the children that have exited
        if not any(group_has_live_members(child.pgid) for child in children):
            break
        time.sleep(0.1)
    for child in children:
        signal_group(child.pgid, signal.SIGKILL)
    for child in children:
        child.process.wait()


def shown_host(host: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"[{shown}]" if ":" in shown else shown


def format_offset(offset: timedelta) -> str:
    hours, rest = divmod(round(offset.total_seconds() / 60), 60)
    return f"{hours} h {rest:02d} min"


class Command(BaseCommand):
    help = "Run the demo: the web server and the task worker, stopped together (Ctrl-C)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Port of the web server (8000).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (127.0.0.1).")

    def handle(self, *args, port: int, host: str, **options):
        if not 1 <= port <= 65535:
            raise CommandError(f"--port must be between 1 and 65535, not {port}.")
        offset = demo.demo_clock_offset()
        self._print_welcome(host=host, port=port, offset=offset)
        child_env = {demo_clock.CLOCK_ENV: str(offset.total_seconds())}
        if "SITE_URL" not in os.environ:
            # Links in messages and previews point at this server, not the default port.
            child_env["SITE_URL"] = f"http://{shown_host(host)}:{port}"
        # One reminder sweep before the worker starts: due messages go out now, and the staff
        # pages do not warn "reminders may be stalled" while the worker is still starting.
        with demo_clock.moved(offset):
            services.messages_dispatch_due()
        # The supervisor keeps no database connection open while it waits.
        connections.close_all()

        stop_requested: list[int] = []
        previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda signum, frame: stop_requested.append(signum))
        children: list[Child] = []
        try:
            children.append(
                start_child("runserver", "runserver", f"{host}:{port}", "--noreload", env=child_env)
            )
            children.append(start_child("qcluster", "qcluster", env=child_env))
            self.stdout.write(
                ", ".join(f"{child.name} started (pid {child.process.pid})" for child in children)
            )
            self.stdout.flush()
            failed = self._supervise(children, stop_requested)
        finally:
            stop_children(children)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if failed is not None:
            raise CommandError(
                f"{failed.name} exited with code {failed.process.returncode}; stopped the demo."
            )
        self.stdout.write("Demo stopped.")

    def _supervise(self, children: list[Child], stop_requested: list[int]) -> Child | None:
        """Wait for a stop signal (returns None) or a child exiting by itself (returns it)."""
        while not stop_requested:
            for child in children:
                if child.process.poll() is not None:
                    return child
            time.sleep(POLL_SECONDS)
        self.stdout.write("Stopping the demo…")
        return None

    def _print_welcome(self, *, host: str, port: int, offset: timedelta) -> None:
        self.stdout.write(f"Attend demo: http://{shown_host(host)}:{port}{demo.LOGIN_PATH}")
        if offset > timedelta(0):
            with demo_clock.moved(offset):
                local = timezone.localtime(timezone.now(), demo_clock.DEMO_ZONE)
            self.stdout.write(
                f"The demo's clock runs {format_offset(offset)} ahead, in Lakeside's working day: "
                f"it is {local:%A %H:%M} there now (staff/demo_clock.py)."
            )
        if not demo.demo_exists():
            self.stdout.write(
                self.style.WARNING("There is no demo data yet: run `python manage.py seed_demo` first.")
            )
        else:
            self.stdout.write(demo.format_logins(demo.demo_logins(), password=self._password_label()))
        self.stdout.write("Press Ctrl-C to stop.\n")
        self.stdout.flush()

    def _password_label(self) -> str:
        """The demo password, if it is still the one the accounts were seeded with."""
        password = demo.demo_password()
        owner = User.objects.filter(email=demo.LAKESIDE_STAFF[0].email).first()
        if owner is not None and not owner.check_password(password):
            return "(set at seed time)"
        return password
