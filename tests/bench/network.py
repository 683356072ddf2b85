"""A practice network for a month, built with set-based SQL: ``ensure_network(appointments)``.

1,000 practices (slugs ``net-…``, six US zones, one without DST), 10 clinicians each (10,000),
10 clients per clinician (100,000), and ``appointments`` sessions (1,000,000 by default) spread
over the next month: every clinician sees 4 clients a day, an hour apart. Each session has one
participant. No outbox rows: planning them is what B2 measures.

Rows are cloned from one template row per table made through the ORM (so the NOT NULL columns
and their defaults are whatever the models say today) with ``INSERT … SELECT … FROM
generate_series``, a few statements for the whole month, with the foreign keys of the big tables
dropped while inserting and checked once after (~100 s on the busy 2-core machine, most of it
the 1,000,000 sessions' entries in the no-overlap exclusion index). Calling it again with the
same size reuses the data.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from messaging.models import OutboxMessage
from messaging.services import sequence_for
from practice.models import Client, ClinicianProfile, Modality, Practice, TelehealthProvider
from scheduling.models import Appointment, AppointmentParticipant, ServiceType

SLUG_PREFIX = "net-"
PRACTICES = 1000
CLINICIANS_PER_PRACTICE = 10
CLIENTS_PER_CLINICIAN = 10
SESSIONS_PER_DAY = 4
CLIENTS_PER_PRACTICE = CLINICIANS_PER_PRACTICE * CLIENTS_PER_CLINICIAN
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)


@dataclass(frozen=True)
class Network:
    practice_ids: tuple[int, ...]
    appointments: int
    first_appointment_id: int
    build_seconds: float = 0.0


def network_practice_ids() -> list[int]:
    return list(
        Practice.objects.filter(slug__startswith=SLUG_PREFIX).order_by("pk").values_list("pk", flat=True)
    )


def ensure_network(appointments: int, *, log=print) -> Network:
    ids = network_practice_ids()
    if ids:
        count = Appointment.objects.filter(practice_id__in=ids).count()
        if count == appointments:
            first = (
                Appointment.objects.filter(practice_id__in=ids).order_by("pk").values_list("pk", flat=True)[0]
            )
            return Network(tuple(ids), appointments, first)
        log(f"  the network holds {count} sessions, not {appointments}: rebuilding")
        drop(ids)
    return build(appointments, log=log)


def drop(ids: list[int]) -> None:
    """Delete the network with set-based statements (the ORM's cascade would load every row)."""
    tables = {
        "outbox": OutboxMessage._meta.db_table,
        "participant": AppointmentParticipant._meta.db_table,
        "appointment": Appointment._meta.db_table,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{tables["outbox"]}" WHERE practice_id = ANY(%s)', [ids])
        cursor.execute(
            f'DELETE FROM "{tables["participant"]}" p USING "{tables["appointment"]}" a '
            "WHERE p.appointment_id = a.id AND a.practice_id = ANY(%s)",
            [ids],
        )
        cursor.execute(f'DELETE FROM "{tables["appointment"]}" WHERE practice_id = ANY(%s)', [ids])
    from auditlog.context import disable_auditlog

    with disable_auditlog():
        Practice.objects.filter(pk__in=ids).delete()


@contextmanager
def _foreign_keys_checked_after(cursor, models: tuple, *, log=print):
    """Drop the foreign keys of ``models``' tables for a bulk insert and add them back after it.

    Adding a foreign key checks every row in one set-based pass (~2 s for 1,000,000 rows here);
    kept, each inserted row queues a deferred check (Django's foreign keys are DEFERRABLE
    INITIALLY DEFERRED) run one at a time at the commit (~35 s for 1,000,000). The constraints
    are read from the catalog, so they are exactly what the migrations made, and the whole build
    is one transaction: a failure restores them."""
    tables = [model._meta.db_table for model in models]
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY conrelid, conname",
        [tables],
    )
    foreign_keys = cursor.fetchall()
    # A table with checks still queued cannot be altered: run them now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    yield
    started = time.monotonic()
    for table, name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    log(f"  {len(foreign_keys)} foreign keys checked: {time.monotonic() - started:.1f} s")


def _clone(cursor, model, template_pk: int, count: int, overrides: dict[str, str], params: dict) -> list[int]:
    """Insert ``count`` copies of one row, with some columns computed from ``g`` (0 … count-1);
    returns the new ids in ``g`` order."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    select = ", ".join(overrides.get(column, f't."{column}"') for column in columns)
    names = ", ".join(f'"{column}"' for column in columns)
    cursor.execute(
        f'INSERT INTO "{table}" ({names}) '
        f'SELECT {select} FROM "{table}" t, generate_series(0, %(count)s - 1) AS g '
        f"WHERE t.id = %(template)s ORDER BY g RETURNING id",
        {**params, "count": count, "template": template_pk},
    )
    return [row[0] for row in cursor.fetchall()]


def build(appointments: int, *, log=print) -> Network:
    from auditlog.context import disable_auditlog

    started = time.monotonic()
    now = timezone.now()
    practices_n = max(1, min(PRACTICES, appointments // 1000))  # 1,000 for a month of 1,000,000
    clinicians_n = practices_n * CLINICIANS_PER_PRACTICE
    per_clinician = -(-appointments // clinicians_n)
    first_day = (now + timedelta(days=1)).astimezone(UTC).replace(hour=14, minute=0, second=0, microsecond=0)
    with disable_auditlog(), transaction.atomic():
        practices = Practice.objects.bulk_create(
            Practice(
                name=f"Network practice {p:04d}",
                slug=f"{SLUG_PREFIX}{p:04d}",
                timezone=ZONES[p % len(ZONES)],
                phone="+13155550100",
                sms_from_number="+13155550199",
                telehealth_provider=TelehealthProvider.FAKE,
            )
            for p in range(practices_n)
        )
        for practice in practices:
            sequence_for(practice)
        services = ServiceType.objects.bulk_create(
            ServiceType(practice=p, name="Individual psychotherapy", code="90834", default_minutes=50)
            for p in practices
        )
        clinicians = ClinicianProfile.objects.bulk_create(
            (
                ClinicianProfile(
                    practice=practices[i // CLINICIANS_PER_PRACTICE],
                    display_name=f"Dr. Network {i:05d}",
                    email=f"clinician{i}@network.example.com",
                    modalities="telehealth,in_person",
                )
                for i in range(clinicians_n)
            ),
            batch_size=2000,
        )
        practice_ids = [p.pk for p in practices]
        clinician_ids = [c.pk for c in clinicians]
        service_ids = [s.pk for s in services]
        template_client = Client.objects.create(
            practice=practices[0],
            first_name="Client",
            last_name="Network",
            email="client@network.example.com",
        )
        template = Appointment.objects.create(
            practice=practices[0],
            clinician=clinicians[0],
            service_type=services[0],
            starts_at=first_day - timedelta(days=400),
            ends_at=first_day - timedelta(days=400) + timedelta(minutes=50),
            fee=Decimal("150.00"),
        )
        template_participant = AppointmentParticipant.objects.create(
            appointment=template, client=template_client
        )
        bulk_tables = (Client, Appointment, AppointmentParticipant)
        with connection.cursor() as cursor, _foreign_keys_checked_after(cursor, bulk_tables, log=log):
            clients = _clone(
                cursor,
                Client,
                template_client.pk,
                clinicians_n * CLIENTS_PER_CLINICIAN,
                {
                    "practice_id": f"(%(practices)s::bigint[])[g / {CLIENTS_PER_PRACTICE} + 1]",
                    "first_name": "'Client' || g",
                    "email": "'client' || g || '@network.example.com'",
                },
                {"practices": practice_ids},
            )
            log(
                f"  {len(practices)} practices, {len(clinicians)} clinicians, {len(clients)} clients: "
                f"{time.monotonic() - started:.1f} s"
            )
            # Session k of clinician c: day k // 4, hour k % 4, with client k % 10 of that clinician;
            # every seventh is in person (so the in-person steps are planned too).
            session_at = (
                f"%(day)s::timestamptz + (g %% {per_clinician} / {SESSIONS_PER_DAY}) * interval '1 day' "
                f"+ (g %% {SESSIONS_PER_DAY}) * interval '1 hour'"
            )
            per_practice = per_clinician * CLINICIANS_PER_PRACTICE
            in_person_every_seventh = (
                f"CASE WHEN g %% 7 = 6 THEN '{Modality.IN_PERSON}' ELSE '{Modality.TELEHEALTH}' END"
            )
            new = _clone(
                cursor,
                Appointment,
                template.pk,
                appointments,
                {
                    "practice_id": f"(%(practices)s::bigint[])[g / {per_practice} + 1]",
                    "clinician_id": f"(%(clinicians)s::bigint[])[g / {per_clinician} + 1]",
                    "service_type_id": f"(%(services)s::bigint[])[g / {per_practice} + 1]",
                    "starts_at": session_at,
                    "ends_at": f"{session_at} + interval '50 minutes'",
                    "modality": in_person_every_seventh,
                },
                {
                    "practices": practice_ids,
                    "clinicians": clinician_ids,
                    "services": service_ids,
                    "day": first_day,
                },
            )
            log(f"  {len(new)} sessions: {time.monotonic() - started:.1f} s")
            table = AppointmentParticipant._meta.db_table
            columns = [f.column for f in AppointmentParticipant._meta.concrete_fields if not f.primary_key]
            values = {"appointment_id": "a.id", "client_id": "c.id"}
            names = ", ".join(f'"{column}"' for column in columns)
            select = ", ".join(values.get(column, f't."{column}"') for column in columns)
            cursor.execute(
                f'INSERT INTO "{table}" ({names}) SELECT {select} '
                f'FROM unnest(%s::bigint[]) WITH ORDINALITY AS a(id, n), "{table}" t, '
                f"LATERAL (SELECT (%s::bigint[])[((a.n - 1) / {per_clinician}) * {CLIENTS_PER_CLINICIAN} "
                f"+ (a.n - 1) %% {CLIENTS_PER_CLINICIAN} + 1] AS id) c WHERE t.id = %s",
                [new, clients, template_participant.pk],
            )
            log(f"  {cursor.rowcount} participants: {time.monotonic() - started:.1f} s")
        AppointmentParticipant.objects.filter(pk=template_participant.pk).delete()
        Appointment.objects.filter(pk=template.pk).delete()
        Client.objects.filter(pk=template_client.pk).delete()
    log(f"  committed: {time.monotonic() - started:.1f} s")
    with connection.cursor() as cursor:
        for model in (Appointment, AppointmentParticipant, Client):
            cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    seconds = time.monotonic() - started
    log(f"  built the network in {seconds:.1f} s")
    return Network(tuple(practice_ids), appointments, new[0], build_seconds=seconds)
