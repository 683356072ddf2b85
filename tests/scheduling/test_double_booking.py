"""No double booking of a clinician, enforced by the database, not only by the service."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction

from practice.models import Client
from scheduling.models import Appointment, AppointmentStatus
from scheduling.services import appointment_book

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def _raw_appointment(practice, clinician, service_type, starts_at, **extra):
    """An insert that bypasses scheduling.services, as a buggy caller or a raw import would."""
    fields = dict(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
    )
    return Appointment.objects.create(**(fields | extra))


@pytest.mark.django_db
def test_the_database_refuses_an_overlap_that_skips_the_service(
    practice, clinician, service_type, tomorrow_10am
):
    _raw_appointment(practice, clinician, service_type, tomorrow_10am)

    with pytest.raises(IntegrityError, match="appointment_no_overlap"), transaction.atomic():
        _raw_appointment(practice, clinician, service_type, tomorrow_10am + timedelta(minutes=15))


@pytest.mark.django_db
def test_the_database_refuses_an_update_into_an_overlap(practice, clinician, service_type, tomorrow_10am):
    _raw_appointment(practice, clinician, service_type, tomorrow_10am)
    later = _raw_appointment(practice, clinician, service_type, tomorrow_10am + timedelta(hours=2))

    later.starts_at = tomorrow_10am + timedelta(minutes=30)
    later.ends_at = later.starts_at + timedelta(minutes=45)
    with pytest.raises(IntegrityError, match="appointment_no_overlap"), transaction.atomic():
        later.save()


@pytest.mark.django_db
def test_cancelled_and_rescheduled_rows_do_not_hold_the_slot(
    practice, clinician, service_type, tomorrow_10am
):
    _raw_appointment(practice, clinician, service_type, tomorrow_10am, status=AppointmentStatus.CANCELLED)
    _raw_appointment(practice, clinician, service_type, tomorrow_10am, status=AppointmentStatus.RESCHEDULED)
    _raw_appointment(practice, clinician, service_type, tomorrow_10am)

    assert Appointment.objects.holding_slot().count() == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_many_threads_booking_one_slot_get_exactly_one_booking(
    practice, clinician, service_type, tomorrow_10am
):
    threads_count = 16
    clients = [
        Client.objects.create(practice=practice, first_name=f"Client{i}", last_name="Race")
        for i in range(threads_count)
    ]
    start_together = threading.Barrier(threads_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(client):
        try:
            start_together.wait(timeout=10)
            appointment_book(
                practice=practice,
                clinician=clinician,
                clients=[client],
                starts_at=tomorrow_10am,
                service_type=service_type,
            )
            outcome = "booked"
        except ValidationError as error:
            outcome = "double_booking" if "already has a session" in str(error) else repr(error)
        except Exception as error:  # every other outcome fails the assertion below
            outcome = repr(error)
        finally:
            close_old_connections()
            connection.close()
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=book, args=(client,)) for client in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert sorted(outcomes) == ["booked"] + ["double_booking"] * (threads_count - 1)
    assert Appointment.objects.filter(clinician=clinician).count() == 1
