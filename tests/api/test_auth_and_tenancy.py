"""Who may call the API: a valid token of the practice, and nobody else — and a token of one
practice can never read or change another practice's data (SPEC F1, F19)."""

from __future__ import annotations

import pytest

from practice.models import ApiToken, ClinicianProfile
from practice.tokens import api_token_revoke
from scheduling.models import Appointment, AppointmentStatus, ServiceType

from .conftest import API, api_client, assert_error_shape

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/clients/", "/clinicians/", "/appointments/"])
def test_no_token_is_401_with_a_challenge(path):
    response = api_client(None).get(API + path)

    body = assert_error_shape(response, 401)
    assert body["errors"] == {"non_field_errors": [body["detail"]]}
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize(
    "header",
    ["Token att_not-a-real-token", "Token", "Token a b", "Token att_\u00e9", "token att_x"],
)
def test_an_unknown_or_malformed_token_is_401(header):
    http = api_client(None)
    http.credentials(HTTP_AUTHORIZATION=header)

    assert_error_shape(http.get(f"{API}/clients/"), 401)


def test_a_revoked_token_is_401(practice, api, token):
    assert api.get(f"{API}/clients/").status_code == 200
    api_token_revoke(token=ApiToken.objects.get(practice=practice))

    body = assert_error_shape(api.get(f"{API}/clients/"), 401)
    assert "revoked" in body["detail"]


def test_a_staff_session_is_not_an_api_credential(manager, signed_in):
    http = signed_in(manager)

    assert_error_shape(http.get(f"{API}/clients/"), 401)


def test_unknown_paths_under_the_api_answer_in_the_error_shape(api):
    assert_error_shape(api.get(f"{API}/nothing-here/"), 404)
    # Without the trailing slash: still JSON, never APPEND_SLASH's redirect or a 500 on POST.
    assert_error_shape(api.post(f"{API}/clients", {}, format="json"), 404)


# --- The permission matrix: Riverside's token against Harbor's data ---------------------------


@pytest.fixture
def harbor(other_practice, other_client):
    """Harbor's clinician, service and a booked appointment, made through the services."""
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.services import appointment_book, series_book

    clinician = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. Harbor")
    service = ServiceType.objects.create(practice=other_practice, name="Harbor session")
    appointment = appointment_book(
        practice=other_practice,
        clinician=clinician,
        clients=[other_client],
        service_type=service,
        starts_at=timezone.now() + timedelta(days=2),
    )
    series = series_book(
        practice=other_practice,
        clinician=clinician,
        clients=[other_client],
        first_starts_at=timezone.now() + timedelta(days=3),
        duration=timedelta(minutes=50),
        frequency="weekly",
        occurrences=3,
        service_type=service,
    )
    return {
        "clinician": clinician,
        "service": service,
        "client": other_client,
        "appointment": appointment,
        "series": series,
    }


def test_lists_never_show_another_practices_rows(api, harbor, appointment, client_ann, clinician):
    from messaging.services import message_plan_for

    assert message_plan_for(appointment=harbor["appointment"]) > 0  # Harbor has messages to hide
    clients = api.get(f"{API}/clients/").json()
    clinicians = api.get(f"{API}/clinicians/").json()
    appointments = api.get(f"{API}/appointments/").json()

    assert [c["id"] for c in clients["results"]] == [client_ann.pk]
    assert [c["id"] for c in clinicians["results"]] == [clinician.pk]
    assert [a["id"] for a in appointments["results"]] == [appointment.pk]
    assert api.get(f"{API}/series/").json()["count"] == 0
    assert api.get(f"{API}/messages/").json()["count"] == 0
    assert api.get(f"{API}/messages/", {"appointment": harbor["appointment"].pk}).json()["count"] == 0
    # Filtering by the other practice's clinician finds nothing rather than their sessions.
    filtered = api.get(f"{API}/appointments/", {"clinician": harbor["clinician"].pk}).json()
    assert filtered["count"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/clients/{client}/", None),
        ("patch", "/clients/{client}/", {"first_name": "Mallory"}),
        ("get", "/clinicians/{clinician}/", None),
        ("get", "/appointments/{appointment}/", None),
        ("get", "/appointments/{appointment}/timeline/", None),
        ("post", "/appointments/{appointment}/confirm/", {}),
        ("post", "/appointments/{appointment}/cancel/", {"reason": "x"}),
        ("post", "/appointments/{appointment}/reschedule/", {"starts_at": "2030-01-07T15:00:00Z"}),
        ("post", "/appointments/{appointment}/attendance/", {"client": 0, "attendance": "no_show"}),
        (
            "get",
            "/clinicians/{clinician}/open-slots/?from=2030-01-07T00:00:00Z&to=2030-01-08T00:00:00Z",
            None,
        ),
        ("get", "/series/{series}/", None),
        ("post", "/series/{series}/cancel-rest/", {}),
    ],
)
def test_another_practices_ids_in_urls_are_404_and_change_nothing(api, harbor, method, path, body):
    url = API + path.format(
        client=harbor["client"].pk,
        clinician=harbor["clinician"].pk,
        appointment=harbor["appointment"].pk,
        series=harbor["series"].pk,
    )
    if body and "client" in body:
        body = body | {"client": harbor["client"].pk}

    response = getattr(api, method)(url, body, format="json") if body is not None else api.get(url)

    body = assert_error_shape(response, 404)
    assert body["detail"] == "Not found."
    harbor["client"].refresh_from_db()
    assert harbor["client"].first_name == "Zed"
    appointment = Appointment.objects.get(pk=harbor["appointment"].pk)
    assert appointment.status == AppointmentStatus.SCHEDULED
    harbor_rows = Appointment.objects.filter(practice=harbor["appointment"].practice)
    assert list(harbor_rows.values_list("status", flat=True)) == [AppointmentStatus.SCHEDULED] * 4


def test_booking_with_another_practices_ids_is_a_field_error_per_id(
    api, harbor, clinician, client_ann, service_type
):
    def book(**override):
        body = {
            "clinician": clinician.pk,
            "clients": [client_ann.pk],
            "service_type": service_type.pk,
            "starts_at": "2030-01-07T15:00:00Z",
        }
        return api.post(f"{API}/appointments/", body | override, format="json")

    errors = assert_error_shape(book(clinician=harbor["clinician"].pk), 400)["errors"]
    assert errors == {"clinician": ["No such clinician in this practice."]}
    errors = assert_error_shape(book(clients=[client_ann.pk, harbor["client"].pk]), 400)["errors"]
    assert errors == {"clients.1": ["No such client in this practice."]}
    errors = assert_error_shape(book(service_type=harbor["service"].pk), 400)["errors"]
    assert errors == {"service_type": ["No such service type in this practice."]}
    assert not Appointment.objects.filter(clinician__practice__slug="riverside").exists()


def test_attendance_for_another_practices_client_is_a_field_error(api, appointment, harbor):
    response = api.post(
        f"{API}/appointments/{appointment.pk}/attendance/",
        {"client": harbor["client"].pk, "attendance": "attended"},
        format="json",
    )

    assert assert_error_shape(response, 400)["errors"] == {"client": ["No such client in this practice."]}


def test_the_other_practices_token_sees_its_own_data_only(other_api, appointment, harbor):
    listed = other_api.get(f"{API}/appointments/", {}).json()
    harbor_ids = set(
        Appointment.objects.filter(practice=harbor["appointment"].practice).values_list("pk", flat=True)
    )

    assert {a["id"] for a in listed["results"]} == harbor_ids
    assert harbor["appointment"].pk in harbor_ids and appointment.pk not in harbor_ids
    assert other_api.get(f"{API}/appointments/{appointment.pk}/").status_code == 404
