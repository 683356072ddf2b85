"""Nobody sees another practice's data: every staff page answers 404 for it, lists omit it."""

import pytest
from django.urls import reverse

from practice.models import Client
from scheduling.models import Appointment, AppointmentStatus
from scheduling.services import appointment_book

pytestmark = pytest.mark.django_db


@pytest.fixture
def riverside_session(practice, clinician, client_ann, service_type, tomorrow_10am):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )


def test_another_practices_manager_sees_none_of_its_sessions(
    signed_in, other_manager, riverside_session, tomorrow_10am
):
    http = signed_in(other_manager)
    pk = riverside_session.pk

    day = http.get(reverse("appointment_list"), {"date": tomorrow_10am.strftime("%Y-%m-%d")})
    assert list(day.context["appointments"]) == []
    for name in ("appointment_detail", "appointment_reschedule", "appointment_cancel"):
        assert http.get(reverse(name, args=[pk])).status_code == 404, name
    for name in ("appointment_cancel", "appointment_confirm", "appointment_attendance"):
        assert http.post(reverse(name, args=[pk]), {}).status_code == 404, name

    riverside_session.refresh_from_db()
    assert riverside_session.status == AppointmentStatus.SCHEDULED


def test_another_practices_manager_sees_none_of_its_clients(
    signed_in, other_manager, other_client, client_ann
):
    http = signed_in(other_manager)

    listing = http.get(reverse("client_list"))
    assert [c.pk for c in listing.context["page"].object_list] == [other_client.pk]
    assert http.get(reverse("client_detail", args=[client_ann.pk])).status_code == 404
    assert http.get(reverse("client_edit", args=[client_ann.pk])).status_code == 404
    response = http.post(reverse("client_edit", args=[client_ann.pk]), {"first_name": "Hacked"})
    assert response.status_code == 404
    client_ann.refresh_from_db()
    assert client_ann.first_name == "Ann"


def test_a_booking_form_cannot_reach_into_another_practice(
    signed_in, other_manager, other_practice, clinician, client_ann, service_type, tomorrow_10am
):
    http = signed_in(other_manager)

    response = http.post(
        reverse("appointment_create"),
        {
            "clinician": clinician.pk,
            "clients": [client_ann.pk],
            "service_type": service_type.pk,
            "date": tomorrow_10am.strftime("%Y-%m-%d"),
            "start_time": "10:00",
            "modality": "telehealth",
        },
    )

    assert response.status_code == 200
    assert {"clinician", "clients", "service_type"} <= set(response.context["form"].errors)
    assert not Appointment.objects.exists()


def test_a_new_client_always_belongs_to_the_staff_members_practice(
    signed_in, other_manager, other_practice, practice
):
    http = signed_in(other_manager)

    http.post(
        reverse("client_create"),
        {
            "first_name": "Neo",
            "last_name": "New",
            "email": "neo@example.test",
            "preferred_channel": "email",
            "status": "active",
            "practice": practice.pk,
        },
    )

    assert Client.objects.get(first_name="Neo").practice == other_practice
