"""B2 — planning a network's month of sessions (issue #8).

The network (tests.bench.network: 10,000 clinicians, 1,000,000 sessions in the next month,
built with set-based SQL) has no outbox rows; this plans them four ways on disjoint slices:

(a) ``message_plan_for``, the service a booking calls, one session at a time: rows/s and the
    latency of planning one booking (p50/p99);
(b) baseline: the same rows written one ORM ``create()`` each;
(c) floor: one ``INSERT … SELECT`` computing every step's due time in SQL (wall-clock days with
    ``AT TIME ZONE``), no Python at all;
(d) ``message_plan_bulk``, the set-based path for imports and back-fills;
(e) issue #19: (c) and (d) again on fresh slices with fewer indexes on the outbox — without the
    ``step_id`` index (read only by the PROTECT check when a step is deleted), then also without
    the ``practice_id`` and ``participant_id`` ones (read by the metrics, the API and inbound
    replies, not by the dispatcher) — each index dropped for the measurement and made again from
    its own definition right after, so the database ends as the migrations left it.
The rows are deleted afterwards (the network is kept for the next run).
"""

from __future__ import annotations

import contextlib
import time

from django.db import connection
from django.utils import timezone

from messaging.models import OutboxMessage, Sequence, Step
from messaging.services import _BULK_COLUMNS, _bulk_rows, message_plan_bulk, message_plan_for
from scheduling.models import Appointment
from tests.bench import network
from tests.bench.b1 import machine, percentile, say

TARGET_ROWS_PER_SECOND = 50_000


def outbox_rows(ids: list[int]) -> int:
    return OutboxMessage.objects.filter(appointment_id__in=ids).count()


def per_booking(ids: list[int]) -> dict:
    latencies = []
    started = time.perf_counter()
    for pk in ids:
        one = time.perf_counter()
        message_plan_for(appointment=Appointment(pk=pk))
        latencies.append(time.perf_counter() - one)
    seconds = time.perf_counter() - started
    latencies.sort()
    rows = outbox_rows(ids)
    return {
        "sessions": len(ids),
        "rows": rows,
        "seconds": seconds,
        "rows_per_second": rows / seconds,
        "booking_p50_ms": 1000 * percentile(latencies, 50),
        "booking_p99_ms": 1000 * percentile(latencies, 99),
    }


def one_row_orm(ids: list[int]) -> dict:
    now = timezone.now()
    rows = _bulk_rows(ids, now, {})  # the same rows, decided the same way; only the writing differs
    started = time.perf_counter()
    for row in rows:
        OutboxMessage.objects.create(**dict(zip(_BULK_COLUMNS, row, strict=True)))
    seconds = time.perf_counter() - started
    return {
        "sessions": len(ids),
        "rows": len(rows),
        "seconds": seconds,
        "rows_per_second": len(rows) / seconds,
    }


FLOOR_SQL = """
INSERT INTO "{outbox}" (practice_id, appointment_id, participant_id, recipient_key, step_id, kind, channel,
    due_at, state, reason, attempts, claim_token, provider_message_id, created_at, updated_at)
SELECT a.practice_id, a.id, CASE WHEN s.audience = 'client' THEN p.id END,
    CASE WHEN s.audience = 'client' THEN 'client:' || p.id ELSE 'clinician' END, s.id, s.key, s.channel,
    ((CASE s.anchor WHEN 'booking' THEN a.created_at WHEN 'end' THEN a.ends_at ELSE a.starts_at END
        AT TIME ZONE z.tz) + (sign(s.offset_minutes) * (abs(s.offset_minutes) / 1440)) * interval '1 day')
        AT TIME ZONE z.tz + (sign(s.offset_minutes) * (abs(s.offset_minutes) %% 1440)) * interval '1 minute',
    'planned', '', 0, '', '', now(), now()
FROM unnest(%s::bigint[]) AS ids(id)
JOIN "{appointment}" a ON a.id = ids.id
JOIN "{practice}" pr ON pr.id = a.practice_id
JOIN "{participant}" p ON p.appointment_id = a.id
JOIN "{client}" c ON c.id = p.client_id
JOIN "{sequence}" q ON q.practice_id = a.practice_id
JOIN "{step}" s ON s.sequence_id = q.id AND s.is_active
    AND NOT (s.conditions @> '["telehealth_only"]' AND a.modality <> 'telehealth')
    AND NOT (s.conditions @> '["in_person_only"]' AND a.modality <> 'in_person')
CROSS JOIN LATERAL (SELECT COALESCE(NULLIF(c.timezone, ''), pr.timezone) AS tz) z
ON CONFLICT DO NOTHING
"""


def insert_select(ids: list[int]) -> dict:
    from practice.models import Client, Practice
    from scheduling.models import AppointmentParticipant

    sql = FLOOR_SQL.format(
        outbox=OutboxMessage._meta.db_table,
        appointment=Appointment._meta.db_table,
        practice=Practice._meta.db_table,
        participant=AppointmentParticipant._meta.db_table,
        client=Client._meta.db_table,
        sequence=Sequence._meta.db_table,
        step=Step._meta.db_table,
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        rows = cursor.rowcount
    seconds = time.perf_counter() - started
    return {"sessions": len(ids), "rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def bulk(ids: list[int]) -> dict:
    started = time.perf_counter()
    rows = message_plan_bulk(appointment_ids=ids)
    seconds = time.perf_counter() - started
    return {"sessions": len(ids), "rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


# The single-column indexes of the outbox's foreign keys that the dispatcher never reads.
FEWER_INDEXES = {
    "without step_id": ("step_id",),
    "without step, practice, participant": (
        "step_id",
        "practice_id",
        "participant_id",
    ),
}


@contextlib.contextmanager
def without_indexes(columns: tuple[str, ...]):
    """Drop the outbox's single-column btree indexes on ``columns`` for the block, then make
    them again from their own definitions (pg_indexes)."""
    table = OutboxMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        found = [
            (name, definition)
            for name, definition in cursor.fetchall()
            if any(definition.endswith(f"USING btree ({column})") for column in columns)
        ]
        if len(found) != len(columns):
            raise RuntimeError(f"Expected {len(columns)} indexes on {columns}, found {found}")
        for name, _ in found:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield [name for name, _ in found]
    finally:
        with connection.cursor() as cursor:
            for _, definition in found:
                cursor.execute(definition)


def clean(net: network.Network) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{OutboxMessage._meta.db_table}" WHERE practice_id = ANY(%s)',
            [list(net.practice_ids)],
        )


def run(args) -> dict:
    begun = time.monotonic()
    info = machine()
    say(f"B2 planning — {info['date']}, load {info['load_average_at_start']}")
    say(f"data: a network of {args.network} sessions in the next month")
    net = network.ensure_network(args.network, log=say)
    clean(net)
    sample, slice_size = args.plan_sample, args.plan_slice
    results: dict = {"machine": info, "network": args.network, "build_seconds": net.build_seconds}
    order = (
        Appointment.objects.filter(practice_id__in=net.practice_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    every = list(order)
    set_based = 2 + 2 * len(FEWER_INDEXES)  # floor and bulk, then both per variant of (e)
    stride = max(1, len(every) // (set_based * slice_size + 2 * sample))
    spread = every[::stride]
    slices = {
        "floor": spread[:slice_size],
        "bulk": spread[slice_size : 2 * slice_size],
        "per_booking": spread[2 * slice_size : 2 * slice_size + sample],
        "orm": spread[2 * slice_size + sample : 2 * slice_size + 2 * sample],
    }
    rest = spread[2 * slice_size + 2 * sample :]
    for i, variant in enumerate(FEWER_INDEXES):
        slices[f"floor {variant}"] = rest[2 * i * slice_size : (2 * i + 1) * slice_size]
        slices[f"bulk {variant}"] = rest[(2 * i + 1) * slice_size : (2 * i + 2) * slice_size]
    say(f"(a) message_plan_for, one booking at a time, {sample} sessions")
    results["per_booking"] = r = per_booking(slices["per_booking"])
    say(
        f"    {r['rows']} rows, {r['rows_per_second']:.0f} rows/s, booking p50 {r['booking_p50_ms']:.1f} ms, "
        f"p99 {r['booking_p99_ms']:.1f} ms"
    )
    say(f"(b) baseline: one ORM create() a row, {sample} sessions")
    results["orm"] = r = one_row_orm(slices["orm"])
    say(f"    {r['rows']} rows, {r['rows_per_second']:.0f} rows/s")
    say(f"(c) floor: one INSERT … SELECT, {slice_size} sessions")
    results["floor"] = r = insert_select(slices["floor"])
    say(f"    {r['rows']} rows in {r['seconds']:.2f} s, {r['rows_per_second']:.0f} rows/s")
    say(f"(d) message_plan_bulk, {slice_size} sessions")
    results["bulk"] = r = bulk(slices["bulk"])
    say(f"    {r['rows']} rows in {r['seconds']:.2f} s, {r['rows_per_second']:.0f} rows/s")
    for variant, columns in FEWER_INDEXES.items():
        with without_indexes(columns) as dropped:
            say(f"(e) {variant} ({', '.join(dropped)} dropped): floor, then message_plan_bulk")
            results[f"floor {variant}"] = f = insert_select(slices[f"floor {variant}"])
            results[f"bulk {variant}"] = b = bulk(slices[f"bulk {variant}"])
        say(f"    floor {f['rows_per_second']:.0f} rows/s, bulk {b['rows_per_second']:.0f} rows/s")
    clean(net)
    results["total_seconds"] = time.monotonic() - begun
    say()
    say(summary(results))
    return results


def summary(r: dict) -> str:
    month_rows = r["bulk"]["rows"] / max(1, r["bulk"]["sessions"]) * r["network"]
    lines = [
        f"B2 planning, network of {r['network']} sessions — {r['machine']['date']}",
        f"{'path':<44}{'rows/s':>10}  {'vs target 50k/s':<18}{'projected month':>16}",
    ]
    for key, label in (
        ("per_booking", "message_plan_for, one booking at a time"),
        ("orm", "baseline: one ORM create() a row"),
        ("floor", "floor: one INSERT … SELECT"),
        ("bulk", "message_plan_bulk (imports, back-fills)"),
        *(
            (f"{path} {variant}", f"{label} {variant}")
            for variant in FEWER_INDEXES
            for path, label in (("floor", "(e) floor"), ("bulk", "(e) bulk"))
            if f"{path} {variant}" in r
        ),
    ):
        rate = r[key]["rows_per_second"]
        versus = f"{rate / TARGET_ROWS_PER_SECOND:.2f}x"
        month = f"{month_rows / rate:>14.0f} s" if rate else f"{'-':>16}"
        lines.append(f"{label:<44}{rate:>10.0f}  {versus:<18}{month}")
    p = r["per_booking"]
    lines.append(
        f"planning one booking: p50 {p['booking_p50_ms']:.1f} ms, p99 {p['booking_p99_ms']:.1f} ms "
        f"({p['rows'] / p['sessions']:.1f} rows a session)"
    )
    lines.append(
        f"network build {r['build_seconds']:.0f} s (0 when reused); whole run {r['total_seconds']:.0f} s"
    )
    return "\n".join(lines)
