"""API fixtures: a token for Riverside (the practice under test) and one for Harbor (the
other tenant, which must never see or change Riverside's data)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from practice.tokens import api_token_create
from scheduling.services import appointment_book

API = "/api/v1"


def api_client(raw_token: str | None) -> APIClient:
    http = APIClient()
    if raw_token:
        http.credentials(HTTP_AUTHORIZATION=f"Token {raw_token}")
    return http


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle counts live in the cache, keyed by token id; ids repeat between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def token(practice) -> str:
    _, raw = api_token_create(practice=practice, name="EHR sync")
    return raw


@pytest.fixture
def other_token(other_practice) -> str:
    _, raw = api_token_create(practice=other_practice, name="Harbor EHR")
    return raw


@pytest.fixture
def api(token) -> APIClient:
    return api_client(token)


@pytest.fixture
def other_api(other_token) -> APIClient:
    return api_client(other_token)


@pytest.fixture
def appointment(practice, clinician, client_ann, service_type, tomorrow_10am):
    return appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=tomorrow_10am,
    )


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    for field, messages in body["errors"].items():
        assert isinstance(field, str)
        assert messages and all(isinstance(m, str) for m in messages)
    return body
