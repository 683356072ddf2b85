"""The scheduled dispatcher loop: one at a time, and it sweeps."""

import pytest

from messaging import tasks
from messaging.models import DispatcherHeartbeat

pytestmark = pytest.mark.django_db


def test_the_scheduled_loop_sweeps_and_a_second_run_meanwhile_returns_at_once(monkeypatch, settings):
    sweeps, clock = [], [0.0]

    def fake_sleep(seconds):
        sweeps.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(tasks.time, "sleep", fake_sleep)
    monkeypatch.setattr(tasks.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(tasks, "LOOP_SECONDS", 12)
    settings.DISPATCH_INTERVAL_SECONDS = 5

    tasks.dispatch_for_a_minute()

    assert sweeps == [5, 5]  # three sweeps 5 s apart, then it stops before its 12 s are up
    assert DispatcherHeartbeat.objects.get().loop_lease_until is not None
    sweeps.clear()
    assert tasks.dispatch_for_a_minute() == 0
    assert sweeps == []  # the lease was still held: no second loop
