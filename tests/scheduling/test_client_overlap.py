"""A client is never in two live sessions at once (issue 18): refused like a clinician clash on
every path, by the database itself, with a staff override that carries an audit-logged reason."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule, series_book
from scheduling.sync import appointment_upsert

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


def _book(practice, clinician, clients, service_type, starts_at, **extra):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=clients,
        service_type=service_type,
        starts_at=starts_at,
        **extra,
    )


def _raw_session(practice, clinician, client, service_type, starts_at, **extra):
    """Rows written past scheduling.services, as a buggy caller or a raw import would."""
    appointment = Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
        **extra,
    )
    AppointmentParticipant.objects.create(appointment=appointment, client=client)
    return appointment


# --- The database's own rule -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_a_client_in_two_sessions_at_once(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _raw_session(practice, clinician, client_ann, service_type, tomorrow_10am)

    with pytest.raises(IntegrityError, match="client_no_overlap"), transaction.atomic():
        _raw_session(
            practice, other_clinician, client_ann, service_type, tomorrow_10am + timedelta(minutes=30)
        )


@pytest.mark.django_db
def test_the_database_refuses_moving_a_session_onto_the_clients_other_session(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _raw_session(practice, clinician, client_ann, service_type, tomorrow_10am)
    later = _raw_session(
        practice, other_clinician, client_ann, service_type, tomorrow_10am + timedelta(hours=3)
    )

    later.starts_at = tomorrow_10am + timedelta(minutes=10)
    later.ends_at = later.starts_at + timedelta(minutes=45)
    with pytest.raises(IntegrityError, match="client_no_overlap"), transaction.atomic():
        later.save()


@pytest.mark.django_db
def test_the_database_refuses_reviving_a_cancelled_participant_into_a_clash(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _raw_session(practice, clinician, client_ann, service_type, tomorrow_10am)
    other = Appointment.objects.create(
        practice=practice,
        clinician=other_clinician,
        service_type=service_type,
        starts_at=tomorrow_10am,
        ends_at=tomorrow_10am + timedelta(minutes=45),
    )
    participant = AppointmentParticipant.objects.create(
        appointment=other, client=client_ann, attendance="cancelled"
    )

    participant.attendance = "expected"
    with pytest.raises(IntegrityError, match="client_no_overlap"), transaction.atomic():
        participant.save()


@pytest.mark.django_db
def test_cancelled_moved_and_overridden_rows_do_not_count(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    for status in (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED, AppointmentStatus.COMPLETED):
        _raw_session(practice, clinician, client_ann, service_type, tomorrow_10am, status=status)
    live = _raw_session(practice, other_clinician, client_ann, service_type, tomorrow_10am)
    excepted = Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=tomorrow_10am,
        ends_at=tomorrow_10am + timedelta(minutes=45),
    )
    AppointmentParticipant.objects.create(
        appointment=excepted, client=client_ann, overlap_reason="Family session"
    )

    assert live.pk and excepted.pk


@pytest.mark.django_db
def test_a_cancelled_session_frees_the_client(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    first = _book(practice, clinician, [client_ann], service_type, tomorrow_10am)
    appointment_cancel(appointment=first)

    assert _book(practice, other_clinician, [client_ann], service_type, tomorrow_10am).pk


# --- Every path ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_booking_a_client_into_an_overlapping_session_is_refused(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _book(practice, clinician, [client_ann], service_type, tomorrow_10am)

    with pytest.raises(ValidationError) as error:
        _book(practice, other_clinician, [client_ann], service_type, tomorrow_10am + timedelta(minutes=20))

    assert error.value.error_dict["clients"][0].code == "client_double_booking"
    assert "Ann Avery already has a session at this time" in error.value.messages[0]
    assert "Dr. Smith" in error.value.messages[0]


@pytest.mark.django_db
def test_rescheduling_a_client_onto_their_other_session_is_refused(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _book(practice, clinician, [client_ann], service_type, tomorrow_10am)
    later = _book(practice, other_clinician, [client_ann], service_type, tomorrow_10am + timedelta(hours=3))

    with pytest.raises(ValidationError) as error:
        appointment_reschedule(appointment=later, starts_at=tomorrow_10am + timedelta(minutes=30))

    assert error.value.error_dict["starts_at"][0].code == "client_double_booking"
    later.refresh_from_db()
    assert later.status == AppointmentStatus.SCHEDULED


@pytest.mark.django_db
def test_a_session_may_move_by_less_than_its_length(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    booked = _book(practice, clinician, [client_ann], service_type, tomorrow_10am)

    assert appointment_reschedule(appointment=booked, starts_at=tomorrow_10am + timedelta(minutes=15)).pk


@pytest.mark.django_db
def test_a_series_clashing_with_one_of_the_clients_sessions_books_nothing(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _book(practice, other_clinician, [client_ann], service_type, tomorrow_10am + timedelta(days=14))

    with pytest.raises(ValidationError, match="Ann Avery already has a session"):
        series_book(
            practice=practice,
            clinician=clinician,
            clients=[client_ann],
            service_type=service_type,
            first_starts_at=tomorrow_10am,
            duration=timedelta(minutes=45),
            frequency="weekly",
            occurrences=4,
        )
    assert Appointment.objects.filter(clinician=clinician).count() == 0


@pytest.mark.django_db
def test_an_ehr_push_of_a_clashing_session_is_refused(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _book(practice, clinician, [client_ann], service_type, tomorrow_10am)

    with pytest.raises(ValidationError, match="already has a session"):
        appointment_upsert(
            practice=practice,
            source="ehr",
            external_id="A-9",
            clinician=other_clinician,
            clients=[client_ann],
            service_type=service_type,
            starts_at=tomorrow_10am,
        )


@pytest.mark.django_db
def test_staff_may_book_a_real_exception_with_a_reason_which_is_audit_logged(
    practice, clinician, other_clinician, client_ann, client_bob, group_service, service_type, tomorrow_10am
):
    _book(practice, clinician, [client_ann], service_type, tomorrow_10am)

    family = _book(
        practice,
        other_clinician,
        [client_ann, client_bob],
        group_service,
        tomorrow_10am,
        client_overlap_reason="Joins the family session for the last 20 minutes",
    )

    ann, bob = (family.participants.get(client=c) for c in (client_ann, client_bob))
    assert ann.overlap_reason == "Joins the family session for the last 20 minutes"
    assert bob.overlap_reason == ""  # only the client who clashes is the exception
    entry = LogEntry.objects.get_for_object(ann).get(action=LogEntry.Action.CREATE)
    assert "Joins the family session" in str(entry.changes)
    # The exception stays with the session when it moves.
    moved = appointment_reschedule(appointment=family, starts_at=tomorrow_10am + timedelta(minutes=10))
    assert moved.participants.get(client=client_ann).overlap_reason.startswith("Joins the family")


@pytest.mark.django_db
def test_the_staff_booking_form_offers_the_override(
    signed_in, manager, practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    _book(practice, clinician, [client_ann], service_type, tomorrow_10am)
    browser = signed_in(manager)
    local = tomorrow_10am.astimezone(practice.zoneinfo)
    form = {
        "clinician": other_clinician.pk,
        "clients": [client_ann.pk],
        "service_type": service_type.pk,
        "date": local.date().isoformat(),
        "start_time": "10:15",
        "modality": "telehealth",
    }

    refused = browser.post("/appointments/new/", form)
    assert "Ann Avery already has a session at this time" in refused.content.decode()
    assert Appointment.objects.filter(clinician=other_clinician).count() == 0

    booked = browser.post("/appointments/new/", form | {"client_overlap_reason": "Couples intake overlaps"})
    assert booked.status_code == 302
    assert Appointment.objects.get(clinician=other_clinician).participants.get().overlap_reason


# --- Race (PostgreSQL) --------------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres
@pytest.mark.django_db(transaction=True)
def test_two_connections_booking_one_client_with_two_clinicians_at_once_one_wins(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    start_together = threading.Barrier(2)
    results: list[str] = []

    def book(who):
        try:
            start_together.wait()
            _book(practice, who, [client_ann], service_type, tomorrow_10am)
            results.append("won")
        except ValidationError as error:
            results.append(error.error_dict["clients"][0].code)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(who,)) for who in (clinician, other_clinician)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["client_double_booking", "won"]
    assert AppointmentParticipant.objects.filter(client=client_ann).count() == 1


@pytest.mark.postgres_only
@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_alone_settles_a_race_between_raw_inserts(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    """No service, no lock of ours: the triggers' own client lock lets exactly one in."""
    start_together = threading.Barrier(2)
    results: list[str] = []

    def insert(who):
        try:
            start_together.wait()
            with transaction.atomic():
                _raw_session(practice, who, client_ann, service_type, tomorrow_10am)
            results.append("won")
        except IntegrityError as error:
            results.append("client_no_overlap" if "client_no_overlap" in str(error) else str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=insert, args=(who,)) for who in (clinician, other_clinician)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["client_no_overlap", "won"]
