"""Drill: Redis, django-q2's broker (``REDIS_URL``), restarts under a running worker.

A real ``manage.py qcluster`` process reaches Redis only through a FaultProxy (the machine's
Redis is never touched; the drill uses its own database number and cleans only django-q2's keys
there). Once the worker has run a first task, the proxy closes every connection and refuses new
ones for OUTAGE_SECONDS, as a Redis restart does, while a task waits in Redis and two schedules
are due (one since before the outage, one falling due during it). Afterwards the worker must
take work again by itself, every schedule must run (once), and SIGTERM must stop the whole
cluster (sentinel, pusher, monitor, workers) without anyone having to SIGKILL it.

django-q2's scheduler runs in the cluster's sentinel only every 30 s, so the cluster drill lets
its first turn come after the outage; what a turn *during* the outage does (does the due run get
lost?) is drilled directly on django-q2's scheduler in the second test, a few seconds long.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import redis
from django.utils import timezone
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from staff.management.commands.rundemo import group_has_live_members, signal_group
from tests.faults.broker_tasks import read_runs
from tests.faults.conftest import ROOT, child_env, database_url, wait_until
from tests.faults.proxy import FaultProxy

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

# The drill's Redis: a database number of its own (only the drill's django-q2 keys are cleaned).
REDIS_URL = os.environ.get("FAULT_DRILL_REDIS_URL", "redis://127.0.0.1:6379/7")
OUTAGE_SECONDS = float(os.environ.get("FAULT_DRILL_REDIS_OUTAGE", "5"))
STOP_GRACE_SECONDS = 15  # SIGTERM to gone; rundemo's supervisor allows 10 before SIGKILL
TASK = "tests.faults.broker_tasks.record_run"


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        message = f"the Redis broker drill needs Redis at {REDIS_URL} (FAULT_DRILL_REDIS_URL)"
        if os.environ.get("ATTEND_REQUIRE_REDIS"):  # CI: a drill that cannot run must not pass
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


@pytest.fixture
def queue_keys(redis_client):
    """Cleans django-q2's keys under one name (its queue ``django_q:<name>:q`` and, for the
    cluster's name, its status) before and after a test; each test uses a name of its own, so the
    two can run at once (pytest-xdist)."""
    names = []

    def clean():
        for name in names:
            keys = list(redis_client.scan_iter(match=f"django_q:{name}:*"))
            if keys:
                redis_client.delete(*keys)

    def use(name: str) -> str:
        names.append(name)
        clean()
        return name

    yield use
    clean()


def redis_url_through(proxy: FaultProxy) -> str:
    """REDIS_URL with the proxy in place of the server (same database number)."""
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(REDIS_URL).path}"


def broker_for(url: str, monkeypatch, *, queue: str) -> RedisBroker:
    """A django-q2 Redis broker in this process, as the worker's ``REDIS_URL=url`` makes it (for
    ``queue``, the cluster's name), whose task packages the worker (it has the drill's secret key)
    can open."""
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "DJANGO_REDIS", None)
    monkeypatch.setattr(Conf, "SECRET_KEY", child_env()["DJANGO_SECRET_KEY"])
    return RedisBroker(list_key=queue)


def once_schedule(name: str, *, runs_log: str, next_run) -> Schedule:
    return Schedule.objects.create(
        name=name,
        func=TASK,
        args=repr((runs_log, name)),
        schedule_type=Schedule.ONCE,
        repeats=1,  # kept (repeats 0) once it has run, so a second run would show
        next_run=next_run,
    )


def test_the_worker_reconnects_after_a_redis_restart_and_its_schedules_keep_running(
    tmp_path, queue_keys, monkeypatch
):
    cluster_queue = queue_keys(Conf.PREFIX)  # the cluster's name in settings (Q_CLUSTER["name"])
    runs_log = str(tmp_path / "runs.log")
    runs = lambda: [label for label, _ in read_runs(runs_log)]  # noqa: E731
    # Only the drill's schedules: the migrations' (dispatcher, sweeps) would keep workers busy.
    Schedule.objects.all().delete()
    once_schedule("due-before-the-outage", runs_log=runs_log, next_run=timezone.now() - timedelta(seconds=1))
    once_schedule("due-during-the-outage", runs_log=runs_log, next_run=timezone.now() + timedelta(days=1))
    # The web side, enqueueing straight into Redis.
    direct = broker_for(REDIS_URL, monkeypatch, queue=cluster_queue)
    log_path = tmp_path / "qcluster.log"

    with FaultProxy(urlsplit(REDIS_URL).port or 6379, name="redis") as proxy:
        env = child_env(DATABASE_URL=database_url(), REDIS_URL=redis_url_through(proxy), LOG_LEVEL="INFO")
        with open(log_path, "ab") as out:
            # A process group of its own (as rundemo starts it), so that whatever is left of the
            # cluster after the drill can be found and killed.
            cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
        try:
            started = time.monotonic()
            async_task(TASK, runs_log, "task-before-the-outage", broker=direct)
            wait_until(lambda: "task-before-the-outage" in runs(), timeout=60, what="the worker's first task")
            up_after = time.monotonic() - started

            proxy.cut()  # Redis "restarts": every connection closed, new ones refused
            Schedule.objects.filter(name="due-during-the-outage").update(
                next_run=timezone.now() + timedelta(seconds=1)
            )
            async_task(TASK, runs_log, "task-queued-during-the-outage", broker=direct)
            time.sleep(OUTAGE_SECONDS)
            taken_during_outage = "task-queued-during-the-outage" in runs()
            proxy.pass_through()
            back_at = time.monotonic()

            wait_until(
                lambda: "task-queued-during-the-outage" in runs(),
                timeout=45,
                what="the worker to take tasks from Redis again",
            )
            reconnected_after = time.monotonic() - back_at
            wait_until(
                lambda: {"due-before-the-outage", "due-during-the-outage"} <= set(runs()),
                timeout=60,
                what="the schedules that fell due before and during the outage to run",
            )
            schedules_after = time.monotonic() - back_at
            alive_before_stop = cluster.poll() is None

            # SIGTERM to the qcluster process alone, as `kill` or a process supervisor sends it.
            stop_at = time.monotonic()
            cluster.send_signal(signal.SIGTERM)
            while time.monotonic() - stop_at < STOP_GRACE_SECONDS:
                cluster.poll()
                if cluster.returncode is not None and not group_has_live_members(cluster.pid):
                    break
                time.sleep(0.1)
            stop_seconds = time.monotonic() - stop_at
            left_running = group_has_live_members(cluster.pid)
        finally:
            signal_group(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)

    log = log_path.read_text(errors="replace")
    counted = Counter(runs())
    pusher_restarts = log.count("reincarnated pusher")
    failed_stat_saves = log.count("ERROR django-q Error ")  # the sentinel's status, every 0.5 s
    print(
        f"\n[drill redis] worker up {up_after:.1f}s after start; outage {OUTAGE_SECONDS:.0f}s; tasks taken "
        f"again {reconnected_after:.1f}s after Redis came back, schedules run {schedules_after:.1f}s after; "
        f"pusher restarts={pusher_restarts}, failed pulls={log.count('Failed to pull task')}, "
        f"failed status saves={failed_stat_saves}; runs={dict(counted)}; "
        f"taken during the outage={taken_during_outage}; "
        f"SIGTERM to gone {stop_seconds:.1f}s (exit {cluster.returncode}); "
        f"wall {time.monotonic() - started:.1f}s; proxy connections={proxy.connections}"
    )

    # The outage hit the worker: its pusher lost Redis and could not take the waiting task.
    assert "Failed to pull task from broker" in log
    assert not taken_during_outage, "the cut must keep the worker from Redis"
    # It reconnected by itself: the task that waited in Redis ran, and so did both schedules,
    # each exactly once (no run lost, none doubled), and the cluster was still up.
    assert alive_before_stop, "qcluster died instead of riding out the outage"
    assert counted == {
        "task-before-the-outage": 1,
        "task-queued-during-the-outage": 1,
        "due-before-the-outage": 1,
        "due-during-the-outage": 1,
    }
    # Redis really was the broker: nothing went through django-q2's ORM queue.
    assert not OrmQ.objects.exists()
    # SIGTERM stopped the whole cluster (every process of its group) within the grace period.
    assert not left_running, f"qcluster processes still running {STOP_GRACE_SECONDS}s after SIGTERM"
    assert cluster.returncode == 0, f"qcluster exited with {cluster.returncode} on SIGTERM"


def test_a_schedule_whose_turn_comes_while_redis_is_down_runs_once_redis_is_back(
    tmp_path, redis_client, queue_keys, monkeypatch, caplog
):
    """django-q2's scheduler (what the sentinel calls every 30 s) with the broker unreachable: the
    due run must stay due, not be marked done without a task, and go out on the next turn."""
    Schedule.objects.all().delete()  # only this one (the migrations' are due too)
    with FaultProxy(urlsplit(REDIS_URL).port or 6379, name="redis") as proxy:
        # A queue of its own: the cluster drill's worker may be running at the same time.
        broker = broker_for(redis_url_through(proxy), monkeypatch, queue=queue_keys("drill-scheduler"))
        due = timezone.now() - timedelta(seconds=1)
        schedule = Schedule.objects.create(  # the shape of Attend's own schedules (EVERY_MINUTE)
            name="due-while-redis-is-down",
            func=TASK,
            args=repr((str(tmp_path / "runs.log"), "due-while-redis-is-down")),
            schedule_type=Schedule.MINUTES,
            minutes=1,
            repeats=-1,
            next_run=due,
        )
        assert broker.ping()

        proxy.cut()
        turn_started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="django-q"):
            scheduler(broker=broker)
        failed_turn = time.monotonic() - turn_started
        schedule.refresh_from_db()
        queued_while_down = redis_client.llen(broker.list_key)
        # Not lost: the run is still due, as if the turn had not happened (and it says why).
        assert (schedule.next_run, schedule.task) == (due, None)
        assert queued_while_down == 0
        assert "Could not create task from schedule" in caplog.text

        proxy.pass_through()
        scheduler(broker=broker)
        schedule.refresh_from_db()
        queued = [SignedPackage.loads(pack) for pack in redis_client.lrange(broker.list_key, 0, -1)]

    print(
        f"\n[drill redis scheduler] a turn with Redis down took {failed_turn:.1f}s (redis-py's "
        f"retries) and left the run due; the next turn queued {len(queued)} task(s)"
    )
    assert [task["func"] for task in queued] == [TASK]
    assert schedule.task == queued[0]["id"]
    assert schedule.next_run == due + timedelta(minutes=1)
