"""The booking form takes suggested values from its address (the calendar's click on an empty
slot): clinician, date and start time, each checked like typed input and dropped when not valid.
Nothing is booked by a GET."""

from __future__ import annotations

import pytest
from django.urls import reverse

from practice.models import ClinicianProfile
from scheduling.models import Appointment
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _initial(response, name):
    return response.context["form"][name].value()


def test_valid_values_prefill_the_form(signed_in, front_desk, clinician):
    http = signed_in(front_desk)
    url = reverse("appointment_create") + f"?clinician={clinician.pk}&date=2026-12-09&start_time=14:30"
    response = http.get(url)
    assert response.status_code == 200
    assert _initial(response, "clinician") == clinician.pk
    assert str(_initial(response, "date")) == "2026-12-09"
    assert str(_initial(response, "start_time")) == "14:30:00"
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "clinician=999999&date=2026-13-45&start_time=25:99",
        "clinician=abc&date=99999-01-01&start_time=noon",
        "clinician=1%27--&date=&start_time=",
    ],
)
def test_bad_values_are_dropped_not_trusted(signed_in, front_desk, clinician, query):
    response = signed_in(front_desk).get(reverse("appointment_create") + "?" + query)
    assert response.status_code == 200
    assert _initial(response, "clinician") in (None, "")
    assert _initial(response, "date") in (None, "")
    assert _initial(response, "start_time") in (None, "")
    assert not response.context["form"].errors


def test_another_practices_or_another_clinicians_id_is_not_prefilled(
    signed_in, clinician_user, clinician, other_clinician, other_practice
):
    stranger = ClinicianProfile.objects.create(
        practice=other_practice,
        user=make_user(other_practice, "clinician", "x@harbor.test", "X"),
        display_name="Dr. X",
    )
    http = signed_in(clinician_user)
    for pk in (stranger.pk, other_clinician.pk):
        response = http.get(reverse("appointment_create") + f"?clinician={pk}")
        assert _initial(response, "clinician") in (None, "")
    response = http.get(reverse("appointment_create") + f"?clinician={clinician.pk}")
    assert _initial(response, "clinician") == clinician.pk
