"""EHR upserts, series and messages stay inside the token's practice (the permission matrix's
write side: practice A's token never reads or changes practice B's rows)."""

from __future__ import annotations

from datetime import timedelta

from messaging.services import message_plan_for
from practice.models import Client
from scheduling.models import Appointment
from tests.api.conftest import API, assert_error_shape

EHR = f"{API}/ehr/simplepractice"
CLIENT = {"external_id": "C-1", "first_name": "Ann", "last_name": "Avery"}


def test_the_same_external_ids_in_two_practices_are_separate_rows(api, other_api, practice, other_practice):
    api.post(f"{EHR}/clients/", CLIENT, format="json")
    response = other_api.post(f"{EHR}/clients/", CLIENT | {"first_name": "Other"}, format="json")

    assert response.json()["result"] == "created"
    assert Client.objects.get(practice=practice).first_name == "Ann"
    assert Client.objects.get(practice=other_practice).first_name == "Other"


def test_an_upsert_cannot_reach_another_practices_clients_or_clinicians(
    api, other_api, clinician, service_type, tomorrow_10am
):
    api.post(f"{EHR}/clients/", CLIENT, format="json")
    body = {
        "external_id": "A-1",
        "clinician": clinician.pk,
        "clients": ["C-1"],
        "service_type": service_type.pk,
        "starts_at": tomorrow_10am.isoformat(),
    }

    errors = assert_error_shape(other_api.post(f"{EHR}/appointments/", body, format="json"), 400)["errors"]

    assert errors["clinician"] == ["No such clinician in this practice."]
    assert errors["service_type"] == ["No such service type in this practice."]
    assert not Appointment.objects.exists()


def test_a_cancel_from_another_practice_does_not_touch_the_appointment(
    api, other_api, clinician, service_type, tomorrow_10am
):
    api.post(f"{EHR}/clients/", CLIENT, format="json")
    api.post(
        f"{EHR}/appointments/",
        {
            "external_id": "A-1",
            "clinician": clinician.pk,
            "clients": ["C-1"],
            "service_type": service_type.pk,
            "starts_at": tomorrow_10am.isoformat(),
        },
        format="json",
    )

    response = other_api.post(
        f"{EHR}/appointments/", {"external_id": "A-1", "status": "cancelled"}, format="json"
    )

    assert response.json()["result"] == "ignored"
    assert Appointment.objects.get(external_id="A-1").status == "scheduled"


def test_messages_are_listed_for_the_tokens_practice_only(api, other_api, appointment):
    message_plan_for(appointment=appointment)

    mine = api.get(f"{API}/messages/").json()
    theirs = other_api.get(f"{API}/messages/", {"appointment": appointment.pk}).json()

    assert mine["count"] > 0
    assert {m["appointment"] for m in mine["results"]} == {appointment.pk}
    assert theirs["count"] == 0
    assert other_api.get(f"{API}/appointments/{appointment.pk}/timeline/").status_code == 404


def test_a_series_with_another_practices_clinician_is_a_field_error(other_api, clinician, tomorrow_10am):
    response = other_api.post(
        f"{API}/series/",
        {
            "clinician": clinician.pk,
            "clients": [1],
            "service_type": 1,
            "first_starts_at": (tomorrow_10am + timedelta(days=1)).isoformat(),
            "frequency": "weekly",
            "occurrences": 2,
        },
        format="json",
    )

    assert "clinician" in assert_error_shape(response, 400)["errors"]
    assert not Appointment.objects.exists()
