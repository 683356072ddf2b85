"""A bounded property-based run of schemathesis against the WSGI app: generated requests,
valid and invalid, to every operation must never get a 5xx and every answer must match the
schema (status code documented, body conforming). Bounded to a few examples per operation
so it runs in seconds; raise MAX_EXAMPLES locally for a deeper run."""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from practice.tokens import api_token_create

MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))

# Hypothesis keeps caches in ./.hypothesis/ by default; keep the project directory clean.
set_hypothesis_home_dir(
    os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or tempfile.mkdtemp(prefix="hypothesis-")
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calls go through a real WSGIHandler, which closes the database connection after each
    request (request_finished): that would end the test's transaction. Django's test client
    avoids it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_headers(practice, appointment, other_practice):
    _, raw = api_token_create(practice=practice, name="fuzz")
    return {"Authorization": f"Token {raw}"}


# Loaded at collection (Django is set up by then; building the schema needs no database).
# schemathesis.pytest.from_fixture would defer it, but it does not work with pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,  # no .hypothesis/ directory in the project
)
def test_generated_requests_never_fail_and_match_the_schema(db, case, fuzz_headers):
    response = case.call(headers=fuzz_headers)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
