"""Holds (issue 15 item 5): a held time is under the same no-double-booking rule as sessions,
enforced by the database itself; expired holds keep no one out and are swept, idempotently."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from scheduling.models import Appointment, Hold, HoldKind
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    hold_place,
    hold_release,
    holds_sweep_expired,
    series_book,
)
from scheduling.tasks import sweep_lifecycle

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def _place(practice, clinician, starts_at, *, minutes=45, expires_in=timedelta(hours=24), now=None, **extra):
    now = now or starts_at - timedelta(hours=20)
    return hold_place(
        practice=practice,
        clinician=clinician,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        expires_at=now + expires_in,
        kind=extra.pop("kind", HoldKind.BOOKING_REQUEST),
        now=now,
        **extra,
    )


def _raw_hold(practice, clinician, starts_at, *, expires_at=None, minutes=45):
    """An insert that bypasses scheduling.services."""
    return Hold.objects.create(
        practice=practice,
        clinician=clinician,
        kind=HoldKind.WAITLIST_OFFER,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        expires_at=expires_at or starts_at,
    )


def _raw_appointment(practice, clinician, service_type, starts_at):
    return Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
    )


# --- The database's own rule -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_two_overlapping_holds(practice, clinician, tomorrow_10am):
    _raw_hold(practice, clinician, tomorrow_10am)

    with pytest.raises(IntegrityError, match="hold_no_overlap"), transaction.atomic():
        _raw_hold(practice, clinician, tomorrow_10am + timedelta(minutes=30))


@pytest.mark.django_db
def test_the_database_refuses_a_hold_over_a_session(practice, clinician, service_type, tomorrow_10am):
    _raw_appointment(practice, clinician, service_type, tomorrow_10am)

    with pytest.raises(IntegrityError, match="calendar_no_overlap"), transaction.atomic():
        _raw_hold(practice, clinician, tomorrow_10am + timedelta(minutes=30))


@pytest.mark.django_db
def test_the_database_refuses_a_session_over_a_hold(practice, clinician, service_type, tomorrow_10am):
    _raw_hold(practice, clinician, tomorrow_10am)

    with pytest.raises(IntegrityError, match="calendar_no_overlap"), transaction.atomic():
        _raw_appointment(practice, clinician, service_type, tomorrow_10am - timedelta(minutes=30))


@pytest.mark.django_db
def test_the_database_refuses_moving_a_hold_into_a_session(practice, clinician, service_type, tomorrow_10am):
    _raw_appointment(practice, clinician, service_type, tomorrow_10am)
    hold = _raw_hold(practice, clinician, tomorrow_10am + timedelta(hours=3))

    hold.starts_at = tomorrow_10am + timedelta(minutes=40)
    hold.ends_at = hold.starts_at + timedelta(minutes=45)
    with pytest.raises(IntegrityError, match="calendar_no_overlap"), transaction.atomic():
        hold.save()


@pytest.mark.django_db
def test_touching_holds_and_other_clinicians_are_fine(
    practice, clinician, other_clinician, service_type, tomorrow_10am
):
    _raw_hold(practice, clinician, tomorrow_10am)
    _raw_hold(practice, clinician, tomorrow_10am + timedelta(minutes=45))
    _raw_hold(practice, other_clinician, tomorrow_10am)
    _raw_appointment(practice, clinician, service_type, tomorrow_10am + timedelta(minutes=90))

    assert Hold.objects.count() == 3


@pytest.mark.django_db
def test_a_cancelled_session_does_not_keep_a_hold_out(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    booked = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    appointment_cancel(appointment=booked)

    assert _place(practice, clinician, tomorrow_10am).pk


# --- The services -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_booking_over_an_unexpired_hold_is_refused(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    _place(practice, clinician, tomorrow_10am)

    with pytest.raises(ValidationError) as error:
        appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            service_type=service_type,
            starts_at=tomorrow_10am + timedelta(minutes=15),
            now=tomorrow_10am - timedelta(hours=19),
        )
    assert error.value.error_dict["starts_at"][0].code == "held"
    assert "is held" in error.value.messages[0]


@pytest.mark.django_db
def test_a_hold_is_refused_over_a_session_and_over_another_hold(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    _place(practice, clinician, tomorrow_10am + timedelta(hours=2))

    with pytest.raises(ValidationError) as over_session:
        _place(practice, clinician, tomorrow_10am + timedelta(minutes=30))
    with pytest.raises(ValidationError) as over_hold:
        _place(practice, clinician, tomorrow_10am + timedelta(hours=2, minutes=30))

    assert over_session.value.error_dict["starts_at"][0].code == "double_booking"
    assert over_hold.value.error_dict["starts_at"][0].code == "held"


@pytest.mark.django_db
def test_moving_and_series_are_refused_over_a_hold(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    booked = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    in_a_week = tomorrow_10am + timedelta(days=7, hours=3)
    _place(practice, clinician, in_a_week, now=tomorrow_10am - timedelta(hours=1))

    with pytest.raises(ValidationError, match="is held"):
        appointment_reschedule(appointment=booked, starts_at=in_a_week)
    with pytest.raises(ValidationError, match="is held"):
        series_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            service_type=service_type,
            first_starts_at=in_a_week - timedelta(days=7),
            duration=timedelta(minutes=45),
            frequency="weekly",
            occurrences=3,
        )


@pytest.mark.django_db
def test_booking_the_held_time_releases_that_hold_in_the_same_transaction(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    hold = _place(practice, clinician, tomorrow_10am, client=client_ann)

    booked = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
        hold=hold,
    )

    assert booked.pk and not Hold.objects.exists()


@pytest.mark.django_db
def test_a_released_hold_frees_the_time_and_releasing_twice_is_harmless(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    hold = _place(practice, clinician, tomorrow_10am)

    assert hold_release(hold=hold) is True
    assert hold_release(hold=hold) is False
    assert appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    ).pk


@pytest.mark.django_db
def test_an_expired_hold_keeps_no_one_out(practice, clinician, client_ann, service_type, tomorrow_10am):
    placed_at = tomorrow_10am - timedelta(hours=20)
    _place(practice, clinician, tomorrow_10am, now=placed_at, expires_in=timedelta(hours=1))

    booked = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
        now=placed_at + timedelta(hours=1),
    )
    assert booked.pk and not Hold.objects.exists()


@pytest.mark.django_db
def test_the_sweep_removes_expired_holds_only_and_is_safe_to_run_twice(practice, clinician, tomorrow_10am):
    placed_at = tomorrow_10am - timedelta(hours=20)
    with time_machine.travel(placed_at, tick=False):
        _place(practice, clinician, tomorrow_10am, now=placed_at, expires_in=timedelta(hours=1))
        keeps = _place(practice, clinician, tomorrow_10am + timedelta(hours=2), now=placed_at)

    with time_machine.travel(placed_at + timedelta(minutes=59), tick=False):
        assert holds_sweep_expired() == 0
    with time_machine.travel(placed_at + timedelta(hours=1), tick=False):
        assert holds_sweep_expired() == 1
        assert holds_sweep_expired() == 0
    assert list(Hold.objects.all()) == [keeps]


@pytest.mark.django_db
def test_the_minute_sweep_also_sweeps_holds(practice, clinician, tomorrow_10am):
    placed_at = tomorrow_10am - timedelta(hours=20)
    _place(practice, clinician, tomorrow_10am, now=placed_at, expires_in=timedelta(hours=1))

    with time_machine.travel(placed_at + timedelta(hours=2), tick=False):
        sweep_lifecycle()

    assert not Hold.objects.exists()


@pytest.mark.django_db
def test_a_hold_must_expire_in_the_future_and_be_in_the_practice(
    practice, other_practice, clinician, tomorrow_10am
):
    now = tomorrow_10am - timedelta(hours=20)
    with pytest.raises(ValidationError, match="expire in the future"):
        _place(practice, clinician, tomorrow_10am, now=now, expires_in=timedelta(0))
    with pytest.raises(ValidationError, match="not part of this practice"):
        _place(other_practice, clinician, tomorrow_10am, now=now)


# --- Races (PostgreSQL) -----------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_hold_and_a_staff_booking_racing_for_one_slot_one_wins(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    start_together = threading.Barrier(2)
    results: list[str] = []

    def run(action):
        try:
            start_together.wait()
            action()
            results.append("won")
        except ValidationError as error:
            results.append(error.error_dict["starts_at"][0].code)
        finally:
            connection.close()

    book = lambda: appointment_book(  # noqa: E731
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )
    hold = lambda: _place(practice, clinician, tomorrow_10am + timedelta(minutes=15), now=None)  # noqa: E731
    threads = [threading.Thread(target=run, args=(action,)) for action in (book, hold)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) in (["double_booking", "won"], ["held", "won"])
    assert Appointment.objects.count() + Hold.objects.count() == 1
