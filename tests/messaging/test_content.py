"""Reminder templates may use whitelisted fields only (SPEC F15)."""

import pytest
from django.core.exceptions import ValidationError

from messaging.content import ALLOWED_FIELDS, render, template_errors, validate_template


def test_the_default_fields_pass():
    validate_template("Hi {{ client_name }}, see {{clinician_name}} at {{ session_time }}: {{ join_link }}")


@pytest.mark.parametrize(
    "hostile",
    [
        "{{ client.diagnosis }}",
        "{{ client_name.upper }}",
        "{{ client_name|upper }}",
        "{{ diagnosis }}",
        "{% load static %}{{ client_name }}",
        "{% if client.notes %}x{% endif %}",
        "{{ fee }}",
        "{{ service_type }}",
        "{{ client_name }",
        "{{ settings.SECRET_KEY }}",
        "{{\nclient.diagnosis\n}}",
    ],
)
def test_hostile_templates_are_rejected(hostile):
    with pytest.raises(ValidationError):
        validate_template(hostile)


def test_the_error_lists_the_allowed_fields():
    (message,) = template_errors("{{ client.diagnosis }}")
    assert "client.diagnosis" in message
    assert "{{ client_name }}" in message


def test_rendering_fills_only_whitelisted_fields():
    assert render("Hi {{ client_name }}!", {"client_name": "Ann"}) == "Hi Ann!"


def test_rendering_refuses_a_context_with_anything_else():
    with pytest.raises(ValueError, match="outside the whitelist"):
        render("Hi", {"client_name": "Ann", "diagnosis": "F41.1"})


def test_the_whitelist_has_no_clinical_or_billing_field():
    assert not {"diagnosis", "notes", "service", "fee", "service_type"} & set(ALLOWED_FIELDS)
