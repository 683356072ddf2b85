"""No double booking of a clinician, enforced by the database, not only by the service."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction

from practice.models import Client
from scheduling.models import Appointment, AppointmentStatus
from scheduling.services import appointment_book, appointment_reschedule

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


def _wait_until_a_session_waits_for_a_lock(timeout: float = 10.0) -> None:
    """Return once some other connection to the test database is blocked on a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second booking never waited for the first")


@on_postgres
@pytest.mark.parametrize("second_move", ["book", "reschedule"])
@pytest.mark.django_db(transaction=True)
def test_a_booking_waits_for_an_unfinished_one_in_the_same_calendar_and_names_it(
    practice, clinician, service_type, tomorrow_10am, second_move
):
    """Bookings into one calendar take turns (scheduling.services._hold_calendars). Without
    that, the second booking's slot check cannot see the first, unfinished one; both inserts
    reach the no-overlap constraint, which makes one wait for the other (and, when they land in
    the same instant, aborts one with a deadlock error). Taking turns, the second booking's
    check sees the first and its error names the session's time."""
    first_client, second_client = (
        Client.objects.create(practice=practice, first_name=name, last_name="Race") for name in ("Ann", "Bo")
    )
    first_booked, release_first = threading.Event(), threading.Event()
    outcome: list[str] = []
    into_the_slot = tomorrow_10am + timedelta(minutes=15)
    elsewhere = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[second_client],
        starts_at=tomorrow_10am + timedelta(hours=3),
        service_type=service_type,
    )

    def book_first_and_hold_the_transaction():
        try:
            with transaction.atomic():
                appointment_book(
                    practice=practice,
                    clinician=clinician,
                    clients=[first_client],
                    starts_at=tomorrow_10am,
                    service_type=service_type,
                )
                first_booked.set()
                release_first.wait(timeout=20)
        finally:
            connection.close()

    def book_second():
        try:
            if second_move == "book":
                appointment_book(
                    practice=practice,
                    clinician=clinician,
                    clients=[second_client],
                    starts_at=into_the_slot,
                    service_type=service_type,
                )
            else:
                appointment_reschedule(appointment=elsewhere, starts_at=into_the_slot)
            outcome.append("moved in")
        except ValidationError as error:
            outcome.append(" ".join(error.message_dict["starts_at"]))
        finally:
            connection.close()

    first = threading.Thread(target=book_first_and_hold_the_transaction)
    first.start()
    assert first_booked.wait(timeout=10)
    second = threading.Thread(target=book_second)
    second.start()
    try:
        _wait_until_a_session_waits_for_a_lock()
    finally:
        release_first.set()
        first.join(timeout=20)
        second.join(timeout=20)

    when = tomorrow_10am.astimezone(practice.zoneinfo).strftime("%a %b %-d, %-I:%M %p %Z")
    assert outcome == [f"Dr. Smith already has a session at this time ({when})."]
    assert Appointment.objects.holding_slot().filter(clinician=clinician).count() == 2
