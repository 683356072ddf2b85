"""The B2 network build (tests/bench/network.py) drops foreign keys while it inserts and adds them
back: afterwards the schema must be exactly what the migrations made. PostgreSQL only."""

import pytest
from django.db import IntegrityError, connection, transaction

from practice.models import Client
from scheduling.models import Appointment, AppointmentParticipant
from tests.bench import network

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmarks need PostgreSQL"),
]

TABLES = [model._meta.db_table for model in (Client, Appointment, AppointmentParticipant)]


def constraints() -> set[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(%s::regclass[])",
            [TABLES],
        )
        return set(cursor.fetchall())


def test_the_build_leaves_every_constraint_as_the_migrations_made_it():
    before = constraints()
    assert any(definition.startswith("FOREIGN KEY") for _, _, definition in before)

    net = network.build(300, log=lambda *_: None)

    assert constraints() == before
    assert Appointment.objects.filter(practice_id__in=net.practice_ids).count() == 300
    assert AppointmentParticipant.objects.filter(appointment__practice_id__in=net.practice_ids).count() == 300
    participant = AppointmentParticipant.objects.filter(appointment_id=net.first_appointment_id).get()
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentParticipant.objects.filter(pk=participant.pk).update(client_id=-1)
