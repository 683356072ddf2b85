"""Two EHR pushes of the same client or appointment at the same moment make one row (PostgreSQL:
real concurrent transactions; SQLite serialises writers, so there is nothing to race)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from practice.services import client_upsert
from scheduling.models import Appointment
from scheduling.sync import appointment_upsert

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
THREADS = 8


def run_together(push: Callable[[], tuple[object, str]]) -> list[str]:
    """Call ``push`` in THREADS threads released at once; their results (or errors), sorted."""
    start_together = threading.Barrier(THREADS)
    results: list[str] = []
    lock = threading.Lock()

    def worker():
        try:
            start_together.wait()
            _, result = push()
        except Exception as error:  # recorded, and asserted on by the caller
            result = f"error: {type(error).__name__}: {error}"
        finally:
            connection.close()  # this thread's own connection: none may outlive the test
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_identical_appointment_pushes_create_one_appointment(
    practice, clinician, service_type, tomorrow_10am
):
    client, _ = client_upsert(
        practice=practice, source="ehr", external_id="C-1", fields={"first_name": "Ann", "last_name": "Avery"}
    )

    results = run_together(
        lambda: appointment_upsert(
            practice=practice,
            source="ehr",
            external_id="A-1",
            clinician=clinician,
            clients=[client],
            service_type=service_type,
            starts_at=tomorrow_10am,
        )
    )

    assert results == ["created"] + ["unchanged"] * (THREADS - 1)
    assert Appointment.objects.filter(external_id="A-1").count() == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_identical_client_pushes_create_one_client(practice):
    results = run_together(
        lambda: client_upsert(
            practice=practice,
            source="ehr",
            external_id="C-1",
            fields={"first_name": "Ann", "last_name": "Avery"},
        )
    )

    assert results == ["created"] + ["unchanged"] * (THREADS - 1)
