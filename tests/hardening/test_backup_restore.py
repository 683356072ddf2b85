"""Backup and restore as docs/security.md describes them: ``pg_dump`` of a live database and a
``pg_restore`` into a fresh one give back every row (PostgreSQL only)."""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pytest
from django.db import connection

from messaging.models import OutboxMessage
from practice.models import Client
from scheduling.models import Appointment
from scheduling.services import appointment_book

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.skipif(not shutil.which("pg_dump"), reason="needs pg_dump and pg_restore"),
    pytest.mark.django_db(transaction=True),
]


def _pg_env(settings_dict: dict) -> dict[str, str]:
    env = {
        **os.environ,
        "PGHOST": settings_dict["HOST"] or "localhost",
        "PGUSER": settings_dict["USER"] or "",
    }
    env["PGPORT"] = str(settings_dict["PORT"] or 5432)
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return env


def _admin(settings_dict: dict):
    return psycopg.connect(
        host=settings_dict["HOST"] or "localhost",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        password=settings_dict.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def test_pg_dump_and_pg_restore_into_a_scratch_database_give_back_every_row(
    tmp_path, practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    source = connection.settings_dict
    env = _pg_env(source)
    dump = tmp_path / "attend.dump"
    scratch = f"{source['NAME']}_restore_{os.getpid()}"[:63]
    expected = {
        "practice_client": sorted(Client.objects.values_list("pk", "last_name")),
        "scheduling_appointment": Appointment.objects.count(),
        "messaging_outboxmessage": OutboxMessage.objects.count(),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        migrations = cursor.fetchone()[0]

    # The documented commands: a custom-format dump, restored without the original owner.
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source["NAME"]],
        env=env,
        check=True,
        timeout=120,
    )
    with _admin(source) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={scratch}", str(dump)],
            env=env,
            check=True,
            timeout=120,
        )
        with psycopg.connect(
            host=source["HOST"] or "localhost",
            port=source["PORT"] or 5432,
            user=source["USER"],
            password=source.get("PASSWORD") or None,
            dbname=scratch,
        ) as restored:
            clients = sorted(restored.execute("SELECT id, last_name FROM practice_client").fetchall())
            appointments = restored.execute("SELECT count(*) FROM scheduling_appointment").fetchone()[0]
            messages = restored.execute("SELECT count(*) FROM messaging_outboxmessage").fetchone()[0]
            restored_migrations = restored.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
            # The exclusion constraint that refuses double bookings comes back too.
            constraints = restored.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'x'"
            ).fetchone()[0]
    finally:
        with _admin(source) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')

    assert clients == expected["practice_client"] and len(clients) == 2
    assert appointments == expected["scheduling_appointment"] == 1
    assert messages == expected["messaging_outboxmessage"]
    assert restored_migrations == migrations
    assert constraints >= 1
