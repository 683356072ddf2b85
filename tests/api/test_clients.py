"""Clients through the API: created and changed by practice.services, minimal fields out,
validation errors in the documented shape."""

from __future__ import annotations

import pytest

from practice.models import Client, ConsentSource

from .conftest import API, assert_error_shape

pytestmark = pytest.mark.django_db


def test_it_creates_a_client_with_consent_recorded_now(api, practice):
    response = api.post(
        f"{API}/clients/",
        {
            "first_name": "Cara",
            "last_name": "Cole",
            "phone": "+12125550199",
            "email": "cara@example.test",
            "timezone": "America/Chicago",
            "external_id": "EHR-42",
            "sms_consent": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    client = Client.objects.get(pk=body["id"])
    assert client.practice == practice
    assert client.source == "api"
    assert client.sms_consent_source == ConsentSource.API
    assert body["phone"] == "+12125550199"
    assert body["sms_consent_at"].endswith("Z")
    assert body["sms_consent_source"] == "api"
    assert set(body) == {
        "id",
        "first_name",
        "last_name",
        "preferred_name",
        "phone",
        "email",
        "timezone",
        "sms_consent_at",
        "sms_consent_source",
        "status",
        "external_id",
        "created_at",
        "updated_at",
    }


def test_missing_and_malformed_fields_are_field_errors(api):
    response = api.post(
        f"{API}/clients/",
        {"last_name": "", "phone": "212 555 0101", "email": "nope", "timezone": "Mars/Olympus"},
        format="json",
    )

    errors = assert_error_shape(response, 400)["errors"]
    assert set(errors) == {"first_name", "last_name", "phone", "email"}
    assert "E.164" in errors["phone"][0]


def test_an_unknown_time_zone_is_refused_by_the_model_rules(api):
    response = api.post(
        f"{API}/clients/", {"first_name": "A", "last_name": "B", "timezone": "Mars/Olympus"}, format="json"
    )

    errors = assert_error_shape(response, 400)["errors"]
    assert list(errors) == ["timezone"]


def test_a_duplicate_external_id_is_a_non_field_error(api):
    body = {"first_name": "A", "last_name": "B", "external_id": "EHR-1"}
    assert api.post(f"{API}/clients/", body, format="json").status_code == 201

    errors = assert_error_shape(api.post(f"{API}/clients/", body, format="json"), 400)["errors"]

    assert list(errors) == ["non_field_errors"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2]",
        b'"a string"',
        b"[" * 100_000,
        b'{"first_name": 1e99999, "last_name": 123456789012345678901234567890}',
        b'{"first_name": "\\ud800", "last_name": "x"}',
        b'{"first_name": "a\\u0000b", "last_name": "x"}',
    ],
)
def test_malformed_bodies_are_400_never_500(api, raw):
    response = api.generic("POST", f"{API}/clients/", raw, content_type="application/json")

    assert_error_shape(response, 400)
    assert not Client.objects.exists()


def test_a_form_encoded_body_is_415(api):
    response = api.post(f"{API}/clients/", {"first_name": "A", "last_name": "B"})

    assert_error_shape(response, 415)


def test_patch_changes_only_the_given_fields_and_keeps_consent(api, client_ann):
    api.patch(f"{API}/clients/{client_ann.pk}/", {"sms_consent": True}, format="json")
    client_ann.refresh_from_db()
    consent_at = client_ann.sms_consent_at

    response = api.patch(f"{API}/clients/{client_ann.pk}/", {"preferred_name": "Annie"}, format="json")

    assert response.status_code == 200, response.content
    client_ann.refresh_from_db()
    assert (client_ann.preferred_name, client_ann.last_name) == ("Annie", "Avery")
    assert client_ann.sms_consent_at == consent_at

    api.patch(f"{API}/clients/{client_ann.pk}/", {"sms_consent": False}, format="json")
    client_ann.refresh_from_db()
    assert client_ann.sms_consent_at is None


def test_list_is_paginated_with_links(api, practice):
    for i in range(5):
        Client.objects.create(practice=practice, first_name=f"C{i}", last_name=f"L{i}")

    first = api.get(f"{API}/clients/", {"limit": 2}).json()
    second = api.get(first["next"]).json()
    last = api.get(f"{API}/clients/", {"limit": 2, "offset": 4}).json()

    assert first["count"] == 5
    assert [c["last_name"] for c in first["results"]] == ["L0", "L1"]
    assert [c["last_name"] for c in second["results"]] == ["L2", "L3"]
    assert last["next"] is None
    assert [c["last_name"] for c in last["results"]] == ["L4"]
    assert api.get(second["previous"]).json()["results"] == first["results"]


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"offset": -1}, {"offset": "9" * 40}, {"status": "gone"}],
)
def test_bad_paging_and_filter_values_are_field_errors(api, query):
    errors = assert_error_shape(api.get(f"{API}/clients/", query), 400)["errors"]

    assert set(errors) == set(query)


def test_filter_by_external_id(api, practice, client_ann):
    Client.objects.create(practice=practice, first_name="E", last_name="X", external_id="EHR-9")

    found = api.get(f"{API}/clients/", {"external_id": "EHR-9"}).json()

    assert [c["first_name"] for c in found["results"]] == ["E"]


def test_a_huge_id_in_the_url_is_404(api):
    assert_error_shape(api.get(f"{API}/clients/{'9' * 30}/"), 404)
