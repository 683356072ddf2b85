"""Drill: PostgreSQL goes away for a few seconds in the middle of a burst of texts.

A real ``manage.py run_dispatcher`` process talks to the test database through a FaultProxy;
when a third of the burst has been handed to the provider, the proxy closes every connection
and refuses new ones for OUTAGE_SECONDS, then lets them through again. The dispatcher must carry
on by itself, and afterwards: no text handed over twice, none lost, and ``unknown`` only for
rows that were really with the provider when the database went away.

Scaled from the issue's 5,000 rows and 10 s to ROWS and OUTAGE_SECONDS (CI time on 2 cores;
FAULT_DRILL_ROWS and FAULT_DRILL_OUTAGE override them): what is drilled is the same, a cut in
the middle of claim / hand-over / record, with every connection broken at once.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from django.db.models import Count
from django.utils import timezone

from messaging.models import OutboxMessage, OutboxState
from tests.bench import data
from tests.bench.backends import read_send_log
from tests.faults.conftest import child_env, database_url, manage, postgres_port, stop_process, wait_until
from tests.faults.proxy import FaultProxy

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROWS = int(os.environ.get("FAULT_DRILL_ROWS", "3000"))
OUTAGE_SECONDS = float(os.environ.get("FAULT_DRILL_OUTAGE", "5"))
# The dispatcher's settings for the drill: a short pause after a failed sweep, and leases short
# enough that the rows the outage stranded are settled within the drill, not ten minutes later.
# (With one dispatcher, leases only expire at the start of its next sweep.)
DISPATCHER_SETTINGS = {
    "DISPATCH_INTERVAL_SECONDS": "1",
    "DISPATCH_CLAIM_LEASE_SECONDS": "2",
    "DISPATCH_SENDING_LEASE_SECONDS": "3",
    "DISPATCH_HANDOVER_CHUNK": "64",
    "DISPATCH_CONCURRENCY": "16",
    # A provider round trip, so the burst takes long enough for the cut to land inside it.
    "BENCH_SEND_LATENCY_MS": "20",
}
PENDING = (OutboxState.PLANNED, OutboxState.CLAIMED, OutboxState.SENDING)


def states() -> dict[str, int]:
    rows = OutboxMessage.objects.values("state").annotate(n=Count("pk")).order_by("state")
    return {row["state"]: row["n"] for row in rows}


def test_the_dispatcher_rides_out_a_database_outage_mid_burst_without_duplicates_or_losses(tmp_path):
    burst = data.build(ROWS, log=lambda *_: None)
    numbers = data.burst_numbers(burst)
    send_log = str(tmp_path / "sends.log")
    sent = lambda: read_send_log(send_log)  # noqa: E731 — every text the provider was handed

    with FaultProxy(postgres_port(), name="postgres") as proxy:
        env = child_env(
            DATABASE_URL=database_url(port=proxy.port),
            SMS_BACKEND="tests.bench.backends.TimestampingSMSBackend",
            BENCH_SEND_LOG=send_log,
            **DISPATCHER_SETTINGS,
        )
        data.arm_burst(burst, timezone.now())
        dispatcher = manage("run_dispatcher", env=env, log=tmp_path / "dispatcher.log")
        try:
            started = time.monotonic()
            wait_until(lambda: len(sent()) >= ROWS // 3, timeout=60, what="a third of the burst")
            proxy.cut()
            cut_at = time.monotonic()
            handed_at_cut = len(sent())
            time.sleep(OUTAGE_SECONDS)
            handed_during_outage = len(sent()) - handed_at_cut
            proxy.pass_through()
            wait_until(
                lambda: not OutboxMessage.objects.filter(state__in=PENDING).exists(),
                timeout=60,
                interval=0.2,
                what="the dispatcher to settle every row after the outage",
            )
            drained = time.monotonic()
            assert dispatcher.poll() is None, "the dispatcher process died instead of recovering"
        finally:
            stop_process(dispatcher)

    log = (tmp_path / "dispatcher.log").read_text()
    per_number = Counter(number for number, _ in sent())
    final = states()
    unknown_numbers = {
        phone.as_e164
        for phone in OutboxMessage.objects.filter(state=OutboxState.UNKNOWN).values_list(
            "participant__client__phone", flat=True
        )
    }
    print(
        f"\n[drill postgres] rows={ROWS} outage={OUTAGE_SECONDS:.0f}s cut after {cut_at - started:.1f}s "
        f"at {handed_at_cut} handed over; {handed_during_outage} handed over during the outage; "
        f"drained {drained - started:.1f}s after the start; states={final}; "
        f"failed sweeps logged={log.count('dispatcher sweep failed')}; proxy connections={proxy.connections}"
    )

    assert "dispatcher sweep failed" in log, "the cut must have hit the dispatcher"
    assert handed_at_cut < ROWS, "the cut must land mid-burst"
    # 0 duplicates: no number was handed to the provider twice.
    assert [n for n, count in per_number.items() if count > 1] == []
    # 0 lost: every row was handed over once and recorded, or is unknown; nothing else.
    assert set(final) <= {OutboxState.ACCEPTED, OutboxState.UNKNOWN}
    assert sum(final.values()) == ROWS
    assert set(per_number) == set(numbers), "every text reached the provider"
    # Unknown only where a hand-over was in flight: the provider had each of them, and no more
    # than the two chunks the dispatcher keeps in flight (plus the one being recorded).
    assert unknown_numbers <= set(per_number)
    assert final.get(OutboxState.UNKNOWN, 0) <= 3 * int(DISPATCHER_SETTINGS["DISPATCH_HANDOVER_CHUNK"])
