"""Idempotency-Key on creating POSTs: a retry replays the first result instead of creating
again, a reused key with another body is a 409, keys belong to one practice, and two
identical requests at the same moment create one object."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import close_old_connections, connection

from practice.models import Client
from scheduling.models import Appointment, IdempotencyRecord

from .conftest import API, api_client, assert_error_shape

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")

ANN = {"first_name": "Ann", "last_name": "Avery", "phone": "+12125550101"}


def post(http, path, body, key):
    return http.post(f"{API}{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_and_body_replays_without_creating(api):
    key = str(uuid.uuid4())

    first = post(api, "/clients/", ANN, key)
    again = post(api, "/clients/", ANN, key)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Client.objects.count() == 1


def test_the_same_key_with_another_body_is_409(api):
    key = str(uuid.uuid4())
    post(api, "/clients/", ANN, key)

    response = post(api, "/clients/", ANN | {"first_name": "Anne"}, key)

    assert list(assert_error_shape(response, 409)["errors"]) == ["Idempotency-Key"]
    assert Client.objects.count() == 1


def test_the_same_key_on_another_endpoint_is_409(api, clinician, client_ann, service_type, tomorrow_10am):
    key = "shared-key"
    post(api, "/clients/", ANN, key)
    body = {
        "clinician": clinician.pk,
        "clients": [client_ann.pk],
        "service_type": service_type.pk,
        "starts_at": tomorrow_10am.isoformat(),
    }

    assert_error_shape(post(api, "/appointments/", body, key), 409)
    assert not Appointment.objects.exists()


def test_keys_are_scoped_to_the_practice(api, other_api):
    key = "same-key-two-practices"

    mine = post(api, "/clients/", ANN, key)
    theirs = post(other_api, "/clients/", ANN, key)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs


def test_a_failed_request_does_not_use_up_the_key(api):
    key = "retry-after-fixing"

    assert post(api, "/clients/", {"first_name": "Ann"}, key).status_code == 400
    assert post(api, "/clients/", ANN, key).status_code == 201
    assert IdempotencyRecord.objects.count() == 1


def test_a_failed_service_call_rolls_the_key_back(api, clinician, client_ann, service_type, tomorrow_10am):
    body = {
        "clinician": clinician.pk,
        "clients": [client_ann.pk, client_ann.pk],  # refused by appointment_book
        "service_type": service_type.pk,
        "starts_at": tomorrow_10am.isoformat(),
    }

    assert post(api, "/appointments/", body, "k1").status_code == 400
    assert not IdempotencyRecord.objects.exists()


def test_appointment_replay_returns_the_same_appointment(
    api, clinician, client_ann, service_type, tomorrow_10am
):
    body = {
        "clinician": clinician.pk,
        "clients": [client_ann.pk],
        "service_type": service_type.pk,
        "starts_at": tomorrow_10am.isoformat(),
    }

    first = post(api, "/appointments/", body, "book-1")
    again = post(api, "/appointments/", body, "book-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "caf\u00e9"])
def test_a_malformed_key_is_a_field_error(api, key):
    response = api.post(
        f"{API}/clients/", ANN, format="json", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
    )

    assert list(assert_error_shape(response, 400)["errors"]) == ["Idempotency-Key"]
    assert not Client.objects.exists()


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/clients/", "/appointments/"])
def test_concurrent_duplicates_create_one_object(
    path, token, clinician, client_ann, service_type, tomorrow_10am
):
    threads_count = 8
    body = (
        ANN
        if path == "/clients/"
        else {
            "clinician": clinician.pk,
            "clients": [client_ann.pk],
            "service_type": service_type.pk,
            "starts_at": tomorrow_10am.isoformat(),
        }
    )
    start_together = threading.Barrier(threads_count)
    responses = []
    lock = threading.Lock()

    def send():
        try:
            http = api_client(token)
            start_together.wait(timeout=10)
            response = post(http, path, body, "race-key")
            with lock:
                responses.append((response.status_code, response.json()))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(responses) == threads_count
    assert {status for status, _ in responses} == {201}
    assert len({body["id"] for _, body in responses}) == 1
    model = Client if path == "/clients/" else Appointment
    created = model.objects.filter(pk=responses[0][1]["id"])
    assert created.exists()
    if model is Client:
        assert Client.objects.filter(first_name="Ann", last_name="Avery").count() == 2  # + the fixture's
    else:
        assert Appointment.objects.count() == 1
