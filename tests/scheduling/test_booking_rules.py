"""Booking, rescheduling, cancelling and attendance rules of scheduling.services."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from scheduling.models import Appointment, AppointmentStatus, Attendance
from scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_mark_attendance,
    appointment_reschedule,
)

pytestmark = pytest.mark.django_db


def book(practice, clinician, clients, starts_at, service_type, **extra):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=clients,
        starts_at=starts_at,
        service_type=service_type,
        **extra,
    )


def field_errors(excinfo) -> dict:
    return excinfo.value.message_dict


def test_it_books_with_the_service_defaults(
    practice, clinician, client_ann, service_type, tomorrow_10am, manager
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type, booked_by=manager)

    assert appt.ends_at - appt.starts_at == timedelta(minutes=45)
    assert appt.fee == Decimal("150.00")
    assert appt.status == AppointmentStatus.SCHEDULED
    assert list(appt.participants.values_list("client", "attendance")) == [(client_ann.pk, "expected")]


def test_it_refuses_a_double_booking_with_a_field_error(
    practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    book(practice, clinician, [client_ann], tomorrow_10am, service_type)

    with pytest.raises(ValidationError) as excinfo:
        book(practice, clinician, [client_bob], tomorrow_10am + timedelta(minutes=30), service_type)

    assert "already has a session" in field_errors(excinfo)["starts_at"][0]
    assert Appointment.objects.count() == 1


def test_back_to_back_sessions_are_not_a_double_booking(
    practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    first = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    second = book(practice, clinician, [client_bob], first.ends_at, service_type)
    assert second.starts_at == first.ends_at


def test_another_clinician_may_take_the_same_slot(
    practice, clinician, other_clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    book(practice, other_clinician, [client_bob], tomorrow_10am, service_type)
    assert Appointment.objects.count() == 2


def test_a_cancelled_session_frees_its_slot(
    practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    appointment_cancel(appointment=appt, reason="client asked")
    book(practice, clinician, [client_bob], tomorrow_10am, service_type)


def test_it_rejects_end_before_start(practice, clinician, client_ann, service_type, tomorrow_10am):
    with pytest.raises(ValidationError) as excinfo:
        book(
            practice,
            clinician,
            [client_ann],
            tomorrow_10am,
            service_type,
            ends_at=tomorrow_10am - timedelta(minutes=5),
        )
    assert "end after it starts" in field_errors(excinfo)["ends_at"][0]
    assert not Appointment.objects.exists()


def test_it_rejects_a_time_in_the_past(practice, clinician, client_ann, service_type, tomorrow_10am):
    with pytest.raises(ValidationError) as excinfo:
        book(practice, clinician, [client_ann], tomorrow_10am - timedelta(days=3), service_type)
    assert "past" in field_errors(excinfo)["starts_at"][0]


def test_it_rejects_a_client_of_another_practice(
    practice, clinician, other_client, service_type, tomorrow_10am
):
    with pytest.raises(ValidationError) as excinfo:
        book(practice, clinician, [other_client], tomorrow_10am, service_type)
    assert "not a client of this practice" in field_errors(excinfo)["clients"][0]
    assert not Appointment.objects.exists()


def test_it_rejects_a_clinician_of_another_practice(
    other_practice, clinician, service_type, tomorrow_10am, other_client
):
    with pytest.raises(ValidationError) as excinfo:
        appointment_book(
            practice=other_practice,
            clinician=clinician,
            clients=[other_client],
            starts_at=tomorrow_10am,
            service_type=service_type,
        )
    errors = field_errors(excinfo)
    assert "clinician" in errors and "service_type" in errors


def test_several_clients_need_a_group_service(
    practice, clinician, client_ann, client_bob, service_type, group_service, tomorrow_10am
):
    with pytest.raises(ValidationError) as excinfo:
        book(practice, clinician, [client_ann, client_bob], tomorrow_10am, service_type)
    assert "group service" in field_errors(excinfo)["clients"][0]

    group = book(practice, clinician, [client_ann, client_bob], tomorrow_10am, group_service)
    assert group.participants.count() == 2


def test_reschedule_links_the_old_session_to_the_new_one(
    practice, clinician, client_ann, service_type, tomorrow_10am, manager
):
    old = book(
        practice, clinician, [client_ann], tomorrow_10am, service_type, external_id="EHR-1", source="api"
    )

    # Moving by less than the session length must not clash with the session itself.
    new = appointment_reschedule(appointment=old, starts_at=tomorrow_10am + timedelta(minutes=30), by=manager)

    old.refresh_from_db()
    assert old.status == AppointmentStatus.RESCHEDULED
    assert old.rescheduled_to == new
    assert new.rescheduled_from == old
    assert new.external_id == "EHR-1"
    assert new.duration == old.duration
    assert list(new.clients.all()) == [client_ann]


def test_reschedule_into_a_taken_slot_changes_nothing(
    practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    mine = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    book(practice, clinician, [client_bob], tomorrow_10am + timedelta(hours=2), service_type)

    with pytest.raises(ValidationError):
        appointment_reschedule(appointment=mine, starts_at=tomorrow_10am + timedelta(hours=2))

    mine.refresh_from_db()
    assert mine.status == AppointmentStatus.SCHEDULED
    assert Appointment.objects.count() == 2


def test_a_cancelled_session_cannot_be_rescheduled(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    appointment_cancel(appointment=appt)
    with pytest.raises(ValidationError, match="cancelled"):
        appointment_reschedule(appointment=appt, starts_at=tomorrow_10am + timedelta(hours=3))


def test_cancel_inside_the_window_is_a_late_cancel(
    practice, clinician, client_ann, service_type, tomorrow_10am, manager
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)

    cancelled = appointment_cancel(
        appointment=appt, by=manager, reason="sick", now=tomorrow_10am - timedelta(hours=3)
    )

    assert cancelled.status == AppointmentStatus.CANCELLED
    assert cancelled.is_late_cancel is True
    assert cancelled.cancelled_by == manager
    assert cancelled.participants.get().attendance == Attendance.CANCELLED


def test_cancel_well_ahead_is_not_late(practice, clinician, client_ann, service_type, tomorrow_10am):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    cancelled = appointment_cancel(appointment=appt, now=tomorrow_10am - timedelta(hours=30))
    assert cancelled.is_late_cancel is False


def test_confirm_is_idempotent(practice, clinician, client_ann, service_type, tomorrow_10am):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    appointment_confirm(appointment=appt)
    assert appointment_confirm(appointment=appt).status == AppointmentStatus.CONFIRMED


def test_attendance_cannot_be_marked_before_the_start(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    with pytest.raises(ValidationError, match="once the session has started"):
        appointment_mark_attendance(appointment=appt, client=client_ann, attendance=Attendance.ATTENDED)


def test_all_participants_no_show_makes_the_session_a_no_show(
    practice, clinician, client_ann, client_bob, group_service, tomorrow_10am
):
    appt = book(practice, clinician, [client_ann, client_bob], tomorrow_10am, group_service)
    later = tomorrow_10am + timedelta(minutes=20)

    appointment_mark_attendance(appointment=appt, client=client_ann, attendance=Attendance.NO_SHOW, now=later)
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.SCHEDULED  # Bob may still come

    appointment_mark_attendance(appointment=appt, client=client_bob, attendance=Attendance.NO_SHOW, now=later)
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.NO_SHOW


def test_reversing_a_no_show_needs_a_reason(
    practice, clinician, client_ann, service_type, tomorrow_10am, manager
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    after_end = appt.ends_at + timedelta(minutes=5)
    appointment_mark_attendance(
        appointment=appt, client=client_ann, attendance=Attendance.NO_SHOW, now=after_end
    )

    with pytest.raises(ValidationError) as excinfo:
        appointment_mark_attendance(
            appointment=appt, client=client_ann, attendance=Attendance.ATTENDED, now=after_end
        )
    assert "note" in field_errors(excinfo)

    appointment_mark_attendance(
        appointment=appt,
        client=client_ann,
        attendance=Attendance.ATTENDED,
        by=manager,
        note="Joined by phone",
        now=after_end,
    )
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.COMPLETED


def test_attended_during_the_session_means_in_progress(
    practice, clinician, client_ann, service_type, tomorrow_10am
):
    appt = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    with time_machine.travel(tomorrow_10am + timedelta(minutes=2)):
        appointment_mark_attendance(appointment=appt, client=client_ann, attendance=Attendance.ATTENDED)
    appt.refresh_from_db()
    assert appt.status == AppointmentStatus.IN_PROGRESS
