"""Reminder templates may use whitelisted fields only (SPEC F15)."""

import pytest
from django.core.exceptions import ValidationError

from messaging.content import (
    ALLOWED_FIELDS,
    render,
    sms_segments,
    sms_template_errors,
    template_errors,
    validate_template,
)


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("{" * 80, ("GSM-7", 1)),  # extension characters count twice
        ("{" * 81, ("GSM-7", 2)),
        ("é" * 160, ("GSM-7", 1)),  # é is in the GSM alphabet
        ("“quoted”" + "a" * 60, ("UCS-2", 1)),
        ("“" + "a" * 70, ("UCS-2", 2)),
        ("🙂" * 35, ("UCS-2", 1)),  # an emoji is two UTF-16 units
        ("🙂" * 36, ("UCS-2", 2)),
    ],
)
def test_sms_segments_follow_the_carriers_rules(text, expected):
    assert sms_segments(text) == expected


def test_every_default_text_fits_two_segments():
    from messaging.defaults import DEFAULT_STEPS

    for step in DEFAULT_STEPS:
        if step["channel"] == "sms":
            assert sms_template_errors(step["body"]) == [], step["key"]


def test_a_text_over_two_segments_is_flagged():
    (error,) = sms_template_errors("Hi {{ client_name }}. " + "Please remember to join on time. " * 10)
    assert "this text is 3 SMS segments (GSM-7)" in error
