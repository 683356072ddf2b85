"""The staff scheduling pages: the day view, booking, rescheduling, cancelling, attendance."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus, Attendance
from scheduling.services import appointment_book
from tests.conftest import NEW_YORK

pytestmark = pytest.mark.django_db


def booking_data(clinician, clients, service_type, local_start, **extra):
    data = {
        "clinician": clinician.pk,
        "clients": [c.pk for c in clients],
        "service_type": service_type.pk,
        "date": local_start.strftime("%Y-%m-%d"),
        "start_time": local_start.strftime("%H:%M"),
        "modality": "telehealth",
    }
    return data | extra


def book(practice, clinician, clients, starts_at, service_type, **extra):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=clients,
        starts_at=starts_at,
        service_type=service_type,
        **extra,
    )


def test_front_desk_books_a_session_in_practice_time(
    signed_in, front_desk, clinician, client_ann, service_type, tomorrow_10am
):
    http = signed_in(front_desk)

    response = http.post(
        reverse("appointment_create"), booking_data(clinician, [client_ann], service_type, tomorrow_10am)
    )

    appointment = Appointment.objects.get()
    assert response["Location"] == reverse("appointment_detail", args=[appointment.pk])
    assert appointment.starts_at == tomorrow_10am
    assert appointment.duration == timedelta(minutes=45)
    assert appointment.booked_by == front_desk


def test_a_double_booking_shows_beside_the_start_time_and_books_nothing(
    signed_in, manager, practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    http = signed_in(manager)

    response = http.post(
        reverse("appointment_create"),
        booking_data(clinician, [client_bob], service_type, tomorrow_10am + timedelta(minutes=15)),
    )

    assert response.status_code == 200
    assert "already has a session" in response.context["form"].errors["start_time"][0]
    assert Appointment.objects.count() == 1


def test_a_time_skipped_by_daylight_saving_is_refused_on_the_field(
    signed_in, manager, clinician, client_ann, service_type
):
    http = signed_in(manager)
    data = booking_data(clinician, [client_ann], service_type, timezone.now() + timedelta(days=1))
    data |= {"date": "2027-03-14", "start_time": "02:30"}  # New York springs forward at 2:00

    response = http.post(reverse("appointment_create"), data)

    assert response.status_code == 200
    assert "does not exist" in response.context["form"].errors["start_time"][0]
    assert not Appointment.objects.exists()


def test_garbage_input_gets_field_errors_not_a_crash(signed_in, manager):
    http = signed_in(manager)

    response = http.post(
        reverse("appointment_create"),
        {
            "clinician": "x",
            "clients": ["999999"],
            "service_type": "",
            "date": "31/31/2026",
            "start_time": "25:99",
        },
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"clinician", "clients", "service_type", "date", "start_time"} <= set(errors)


def test_a_weekly_series_is_booked_from_the_form(
    signed_in, manager, clinician, client_ann, service_type, tomorrow_10am
):
    http = signed_in(manager)

    http.post(
        reverse("appointment_create"),
        booking_data(clinician, [client_ann], service_type, tomorrow_10am, repeat="weekly", occurrences=4),
    )

    starts = list(Appointment.objects.order_by("starts_at").values_list("starts_at", flat=True))
    assert len(starts) == 4
    # Same local wall-clock time every week, even across a daylight-saving change.
    assert {start.astimezone(NEW_YORK).strftime("%a %H:%M") for start in starts} == {
        tomorrow_10am.strftime("%a 10:00")
    }


def test_the_day_view_lists_the_days_sessions_in_practice_time(
    signed_in, manager, practice, clinician, client_ann, service_type, tomorrow_10am
):
    book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    book(practice, clinician, [client_ann], tomorrow_10am + timedelta(days=1), service_type)
    http = signed_in(manager)

    response = http.get(reverse("appointment_list"), {"date": tomorrow_10am.strftime("%Y-%m-%d")})

    assert [a.starts_at for a in response.context["appointments"]] == [tomorrow_10am]
    assert "10:00 AM" in response.content.decode()


def test_a_clinician_sees_only_their_own_sessions(
    signed_in,
    clinician_user,
    practice,
    clinician,
    other_clinician,
    client_ann,
    client_bob,
    service_type,
    tomorrow_10am,
):
    mine = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    theirs = book(practice, other_clinician, [client_bob], tomorrow_10am, service_type)
    http = signed_in(clinician_user)

    day = http.get(reverse("appointment_list"), {"date": tomorrow_10am.strftime("%Y-%m-%d")})

    assert list(day.context["appointments"]) == [mine]
    assert http.get(reverse("appointment_detail", args=[theirs.pk])).status_code == 404
    assert http.post(reverse("appointment_cancel", args=[theirs.pk])).status_code == 404


def test_a_clinician_cannot_book_for_a_colleague(
    signed_in, clinician_user, other_clinician, client_ann, service_type, tomorrow_10am
):
    http = signed_in(clinician_user)

    response = http.post(
        reverse("appointment_create"),
        booking_data(other_clinician, [client_ann], service_type, tomorrow_10am),
    )

    assert "clinician" in response.context["form"].errors
    assert not Appointment.objects.exists()


def test_a_biller_can_read_the_schedule_but_not_change_it(
    signed_in, biller, practice, clinician, client_ann, service_type, tomorrow_10am
):
    appointment = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    http = signed_in(biller)

    assert http.get(reverse("appointment_detail", args=[appointment.pk])).status_code == 200
    assert http.get(reverse("appointment_create")).status_code == 403
    assert http.post(reverse("appointment_cancel", args=[appointment.pk])).status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.SCHEDULED


def test_rescheduling_from_the_page_moves_the_session(
    signed_in, manager, practice, clinician, client_ann, service_type, tomorrow_10am
):
    appointment = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    http = signed_in(manager)
    later = tomorrow_10am + timedelta(hours=3)

    response = http.post(
        reverse("appointment_reschedule", args=[appointment.pk]),
        {
            "clinician": clinician.pk,
            "date": later.strftime("%Y-%m-%d"),
            "start_time": "13:00",
            "duration_minutes": 45,
        },
    )

    new = Appointment.objects.get(rescheduled_from=appointment)
    assert response["Location"] == reverse("appointment_detail", args=[new.pk])
    assert new.starts_at == later
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULED


def test_cancelling_from_the_page_records_who_and_whether_late(
    signed_in, manager, practice, clinician, client_ann, service_type
):
    soon = timezone.now() + timedelta(hours=3)
    appointment = book(practice, clinician, [client_ann], soon, service_type)
    http = signed_in(manager)

    http.post(reverse("appointment_cancel", args=[appointment.pk]), {"by_client": "on", "reason": "unwell"})

    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancelled_by == manager
    assert appointment.cancelled_by_client
    assert appointment.is_late_cancel


def test_cancelling_twice_shows_a_message_not_an_error_page(
    signed_in, manager, practice, clinician, client_ann, service_type, tomorrow_10am
):
    appointment = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    http = signed_in(manager)
    url = reverse("appointment_cancel", args=[appointment.pk])
    http.post(url, {})

    response = http.post(url, {})

    assert response.status_code == 200
    assert "can no longer be cancelled" in response.content.decode()


def test_attendance_is_recorded_from_the_session_page(
    signed_in, manager, practice, clinician, client_ann, service_type
):
    started = timezone.now() - timedelta(minutes=10)
    appointment = book(practice, clinician, [client_ann], started, service_type)
    http = signed_in(manager)

    http.post(
        reverse("appointment_attendance", args=[appointment.pk]),
        {"client": client_ann.pk, "attendance": "no_show"},
    )

    participant = appointment.participants.get()
    assert participant.attendance == Attendance.NO_SHOW
    assert participant.attendance_marked_by == manager
    page = http.get(reverse("appointment_detail", args=[appointment.pk]))
    assert page.status_code == 200
    assert "No-show" in page.content.decode()


def test_the_session_page_shows_its_change_history(
    signed_in, manager, practice, clinician, client_ann, service_type, tomorrow_10am
):
    appointment = book(practice, clinician, [client_ann], tomorrow_10am, service_type)
    http = signed_in(manager)
    http.post(reverse("appointment_confirm", args=[appointment.pk]))

    page = http.get(reverse("appointment_detail", args=[appointment.pk]))

    assert list(page.context["history"])
    assert "by Maria Manager" in page.content.decode()
