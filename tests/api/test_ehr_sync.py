"""EHR sync through the API: POST /api/v1/ehr/{source}/clients/ and …/appointments/ create or
update by the EHR's ids; pushing the same thing again is safe (SPEC F19/F20)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from messaging.models import OutboxMessage, OutboxState
from practice.models import Client
from scheduling.models import Appointment, AppointmentSource, AppointmentStatus
from tests.api.conftest import API, assert_error_shape

EHR = f"{API}/ehr/simplepractice"


def client_body(**changes) -> dict:
    return {
        "external_id": "C-17",
        "first_name": "Erin",
        "last_name": "Example",
        "phone": "+12125550199",
        "email": "erin@example.test",
        "sms_consent": True,
        **changes,
    }


@pytest.fixture
def ehr_client(api) -> Client:
    response = api.post(f"{EHR}/clients/", client_body(), format="json")
    assert response.status_code == 201, response.content
    return Client.objects.get(pk=response.json()["client"]["id"])


def appointment_body(clinician, service_type, starts_at, **changes) -> dict:
    return {
        "external_id": "A-100",
        "clinician": clinician.pk,
        "clients": ["C-17"],
        "service_type": service_type.pk,
        "starts_at": starts_at.isoformat(),
        **changes,
    }


@pytest.fixture
def api(api, django_capture_on_commit_callbacks):
    """The API client, with each request's after-commit callbacks (the appointment events that
    plan and withdraw reminders) run as they would be outside a test transaction."""

    class Committing:
        def post(self, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return api.post(*args, **kwargs)

    return Committing()


def live(practice) -> list[Appointment]:
    return list(Appointment.objects.for_practice(practice).exclude(status=AppointmentStatus.RESCHEDULED))


def test_a_client_is_created_then_updated_then_left_alone(api, practice):
    first = api.post(f"{EHR}/clients/", client_body(), format="json")
    again = api.post(f"{EHR}/clients/", client_body(), format="json")
    changed = api.post(f"{EHR}/clients/", client_body(preferred_name="E"), format="json")

    assert (first.status_code, first.json()["result"]) == (201, "created")
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    assert (changed.status_code, changed.json()["result"]) == (200, "updated")
    client = Client.objects.get(practice=practice)
    assert (client.preferred_name, client.external_source, client.external_id) == (
        "E",
        "simplepractice",
        "C-17",
    )
    assert client.sms_consent_at is not None


def test_the_same_external_id_from_two_sources_is_two_clients(api, practice):
    api.post(f"{EHR}/clients/", client_body(), format="json")
    api.post(f"{API}/ehr/csv/clients/", client_body(), format="json")

    assert Client.objects.for_practice(practice).count() == 2


def test_pushing_the_same_appointment_again_books_once_and_plans_reminders_once(
    api, practice, clinician, service_type, ehr_client, tomorrow_10am
):
    body = appointment_body(clinician, service_type, tomorrow_10am)
    first = api.post(f"{EHR}/appointments/", body, format="json")
    planned = OutboxMessage.objects.filter(practice=practice).count()
    second = api.post(f"{EHR}/appointments/", body, format="json")
    third = api.post(f"{EHR}/appointments/", body, format="json")

    assert (first.status_code, first.json()["result"]) == (201, "created")
    assert [second.json()["result"], third.json()["result"]] == ["unchanged", "unchanged"]
    assert len(live(practice)) == 1
    appointment = live(practice)[0]
    assert (appointment.source, appointment.external_source) == (
        AppointmentSource.EHR_IMPORT,
        "simplepractice",
    )
    assert planned > 0
    assert OutboxMessage.objects.filter(practice=practice).count() == planned


def test_a_new_time_reschedules_through_the_service(
    api, practice, clinician, service_type, ehr_client, tomorrow_10am
):
    api.post(f"{EHR}/appointments/", appointment_body(clinician, service_type, tomorrow_10am), format="json")
    later = tomorrow_10am + timedelta(hours=2)

    moved = api.post(f"{EHR}/appointments/", appointment_body(clinician, service_type, later), format="json")
    again = api.post(f"{EHR}/appointments/", appointment_body(clinician, service_type, later), format="json")

    assert (moved.status_code, moved.json()["result"]) == (200, "rescheduled")
    assert again.json()["result"] == "unchanged"
    (current,) = live(practice)
    assert current.starts_at == later
    assert current.rescheduled_from.status == AppointmentStatus.RESCHEDULED
    # The old time's reminders are withdrawn; only the new appointment has planned ones.
    pending_old = OutboxMessage.objects.filter(
        appointment=current.rescheduled_from, state=OutboxState.PLANNED
    )
    assert not pending_old.exists()
    assert OutboxMessage.objects.filter(appointment=current, state=OutboxState.PLANNED).exists()


def test_cancelled_cancels_once(api, practice, clinician, service_type, ehr_client, tomorrow_10am):
    api.post(f"{EHR}/appointments/", appointment_body(clinician, service_type, tomorrow_10am), format="json")

    cancelled = api.post(
        f"{EHR}/appointments/", {"external_id": "A-100", "status": "cancelled"}, format="json"
    )
    again = api.post(f"{EHR}/appointments/", {"external_id": "A-100", "status": "cancelled"}, format="json")
    notices = OutboxMessage.objects.filter(practice=practice, kind="cancellation_notice").count()

    assert cancelled.json()["result"] == "cancelled"
    assert again.json()["result"] == "unchanged"
    assert Appointment.objects.get(external_id="A-100").status == AppointmentStatus.CANCELLED
    assert notices == 1


def test_cancelling_an_unknown_appointment_is_ignored(api, practice):
    response = api.post(
        f"{EHR}/appointments/", {"external_id": "never", "status": "cancelled"}, format="json"
    )

    assert (response.status_code, response.json()) == (200, {"result": "ignored", "appointment": None})


def test_a_cancelled_appointment_is_not_restored(api, clinician, service_type, ehr_client, tomorrow_10am):
    body = appointment_body(clinician, service_type, tomorrow_10am)
    api.post(f"{EHR}/appointments/", body, format="json")
    api.post(f"{EHR}/appointments/", {"external_id": "A-100", "status": "cancelled"}, format="json")

    response = api.post(f"{EHR}/appointments/", body, format="json")

    assert "status" in assert_error_shape(response, 400)["errors"]


def test_unknown_clients_and_changed_participants_are_field_errors(
    api, clinician, service_type, ehr_client, tomorrow_10am
):
    unknown = api.post(
        f"{EHR}/appointments/",
        appointment_body(clinician, service_type, tomorrow_10am, clients=["C-17", "nobody"]),
        format="json",
    )
    assert "clients.1" in assert_error_shape(unknown, 400)["errors"]

    api.post(f"{EHR}/appointments/", appointment_body(clinician, service_type, tomorrow_10am), format="json")
    api.post(f"{EHR}/clients/", client_body(external_id="C-18"), format="json")
    changed = api.post(
        f"{EHR}/appointments/",
        appointment_body(clinician, service_type, tomorrow_10am, clients=["C-18"]),
        format="json",
    )
    assert "clients" in assert_error_shape(changed, 400)["errors"]


def test_required_fields_and_a_bad_source_are_field_errors(api):
    missing = api.post(f"{EHR}/appointments/", {"external_id": "A-1"}, format="json")
    bad_source = api.post(f"{API}/ehr/Simple%20Practice/clients/", client_body(), format="json")

    assert {"clinician", "clients", "service_type", "starts_at"} <= set(
        assert_error_shape(missing, 400)["errors"]
    )
    assert "source" in assert_error_shape(bad_source, 400)["errors"]


def test_the_database_refuses_a_second_live_appointment_with_the_same_external_id(
    practice, clinician, other_clinician, client_ann, service_type, tomorrow_10am
):
    fields = dict(
        practice=practice,
        service_type=service_type,
        source=AppointmentSource.EHR_IMPORT,
        external_source="simplepractice",
        external_id="A-1",
    )
    Appointment.objects.create(
        clinician=clinician, starts_at=tomorrow_10am, ends_at=tomorrow_10am + timedelta(hours=1), **fields
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            clinician=other_clinician,
            starts_at=tomorrow_10am,
            ends_at=tomorrow_10am + timedelta(hours=1),
            **fields,
        )


def test_consent_without_a_phone_is_a_field_error_not_a_crash(api):
    response = api.post(f"{EHR}/clients/", client_body(phone="", sms_consent=True), format="json")
    plain = api.post(
        f"{API}/clients/", {"first_name": "A", "last_name": "B", "sms_consent": True}, format="json"
    )

    assert "sms_consent" in assert_error_shape(response, 400)["errors"]
    assert "sms_consent" in assert_error_shape(plain, 400)["errors"]
    assert not Client.objects.exists()
