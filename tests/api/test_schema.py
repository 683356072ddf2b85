"""The OpenAPI 3 schema at /api/schema/ and the Swagger UI at /api/docs/ (served offline)."""

from __future__ import annotations

import json
import re

import pytest
import schemathesis

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/clients/", "get"),
    ("/api/v1/clients/", "post"),
    ("/api/v1/clients/{id}/", "get"),
    ("/api/v1/clients/{id}/", "patch"),
    ("/api/v1/clinicians/", "get"),
    ("/api/v1/clinicians/{id}/", "get"),
    ("/api/v1/appointments/", "get"),
    ("/api/v1/appointments/", "post"),
    ("/api/v1/appointments/{id}/", "get"),
    ("/api/v1/appointments/{id}/reschedule/", "post"),
    ("/api/v1/appointments/{id}/cancel/", "post"),
    ("/api/v1/appointments/{id}/confirm/", "post"),
    ("/api/v1/appointments/{id}/attendance/", "post"),
    ("/api/v1/appointments/{id}/timeline/", "get"),
    ("/api/v1/clinicians/{id}/open-slots/", "get"),
    ("/api/v1/series/", "get"),
    ("/api/v1/series/", "post"),
    ("/api/v1/series/{id}/", "get"),
    ("/api/v1/series/{id}/cancel-rest/", "post"),
    ("/api/v1/ehr/{source}/clients/", "post"),
    ("/api/v1/ehr/{source}/appointments/", "post"),
    ("/api/v1/messages/", "get"),
    ("/api/v1/service-types/", "get"),
    ("/api/v1/booking-requests/", "get"),
    ("/api/v1/booking-requests/{id}/", "get"),
    ("/api/v1/booking-requests/{id}/approve/", "post"),
    ("/api/v1/booking-requests/{id}/decline/", "post"),
    ("/api/v1/booking-requests/{id}/propose/", "post"),
    ("/api/v1/clinicians/{id}/matching/", "get"),
    ("/api/v1/waitlist/", "get"),
    ("/api/v1/waitlist/", "post"),
    ("/api/v1/waitlist/{id}/", "get"),
    ("/api/v1/waitlist/{id}/", "patch"),
    ("/api/v1/waitlist/{id}/", "delete"),
}


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_is_valid_openapi_3(openapi):
    assert openapi["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(openapi).validate()  # against the OpenAPI 3.0 meta-schema


def test_it_describes_every_operation_and_nothing_else(openapi):
    described = {(path, method) for path, item in openapi["paths"].items() for method in item}

    assert described == OPERATIONS


def test_every_operation_needs_the_token_and_documents_the_error_shape(openapi):
    scheme = openapi["components"]["securitySchemes"]["ApiToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"ApiToken": []}], (path, method)
            for code in ("400", "401", "429"):
                error = operation["responses"][code]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}


def test_creating_posts_document_the_idempotency_key(openapi):
    for path in ("/api/v1/clients/", "/api/v1/appointments/", "/api/v1/series/"):
        headers = [p["name"] for p in openapi["paths"][path]["post"]["parameters"] if p["in"] == "header"]
        assert headers == ["Idempotency-Key"]
        assert "409" in openapi["paths"][path]["post"]["responses"]


def test_the_docs_page_loads_swagger_ui_from_this_server(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in s for s in sources)
    # Everything is local (drf-spectacular-sidecar): the page works without internet access.
    assert all(s.startswith("/") for s in sources), sources
    assert "<script>" not in html  # the start-up script is a separate file (CSP script-src 'self')

    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "/api/schema/" in script.content.decode()


def test_the_swagger_ui_files_are_installed_static_files():
    from django.contrib.staticfiles import finders

    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{name}"), name
