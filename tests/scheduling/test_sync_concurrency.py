"""Two EHR pushes of the same appointment at the same moment make one appointment (PostgreSQL:
real concurrent transactions; SQLite serialises writers, so there is nothing to race)."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from practice.services import client_upsert
from scheduling.models import Appointment
from scheduling.sync import appointment_upsert

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_identical_pushes_create_one_appointment(
    practice, clinician, service_type, tomorrow_10am
):
    client, _ = client_upsert(
        practice=practice, source="ehr", external_id="C-1", fields={"first_name": "Ann", "last_name": "Avery"}
    )
    threads_count = 8
    start_together = threading.Barrier(threads_count)
    results: list[str] = []
    lock = threading.Lock()

    def push():
        try:
            start_together.wait()
            _, result = appointment_upsert(
                practice=practice,
                source="ehr",
                external_id="A-1",
                clinician=clinician,
                clients=[client],
                service_type=service_type,
                starts_at=tomorrow_10am,
            )
        except Exception as error:  # recorded, and asserted on below
            result = f"error: {type(error).__name__}: {error}"
        finally:
            close_old_connections()
        with lock:
            results.append(result)

    workers = [threading.Thread(target=push) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(results) == ["created"] + ["unchanged"] * (threads_count - 1)
    assert Appointment.objects.filter(external_id="A-1").count() == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_identical_client_pushes_create_one_client(practice):
    threads_count = 8
    start_together = threading.Barrier(threads_count)
    results: list[str] = []
    lock = threading.Lock()

    def push():
        try:
            start_together.wait()
            _, result = client_upsert(
                practice=practice,
                source="ehr",
                external_id="C-1",
                fields={"first_name": "Ann", "last_name": "Avery"},
            )
        except Exception as error:  # recorded, and asserted on below
            result = f"error: {type(error).__name__}: {error}"
        finally:
            close_old_connections()
        with lock:
            results.append(result)

    workers = [threading.Thread(target=push) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(results) == ["created"] + ["unchanged"] * (threads_count - 1)
