"""Minimum-necessary message content (SPEC F15).

Reminder templates are plain text with ``{{ field }}`` placeholders, and only the fields below
exist. There is no template language: no tags, filters or attribute lookups, so a template
cannot reach anything else (``{{ client.diagnosis }}`` is rejected when the step is saved),
and the rendering context is built from these fields only, so clinical details, service names
and fees never reach it.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

ALLOWED_FIELDS: dict[str, str] = {
    "client_name": "The client's preferred name, or first name",
    "clinician_name": "The clinician's display name, e.g. Dr. Smith",
    "practice_name": "The practice's name",
    "practice_phone": "The practice's phone number",
    "session_date": "The session's date in the recipient's time zone, e.g. Tuesday, March 10",
    "session_time": "The session's start time in the recipient's time zone, e.g. 10:00 AM EDT",
    "join_link": "The recipient's one-tap join link",
    "tech_check_link": "The link to the camera and connection check",
}

# Anything between double braces, so that "{{ client.diagnosis }}" and "{{x|upper}}" are caught
# as fields that do not exist rather than slipping through as text.
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
FIELD_NAME = re.compile(r"^\s*([a-z_]+)\s*$")


def template_errors(text: str) -> list[str]:
    """Every problem with a template, in words a practice manager understands."""
    errors = []
    if "{%" in text or "%}" in text:
        errors.append("Template tags ({% … %}) are not allowed; use only the listed {{ fields }}.")
    for match in PLACEHOLDER.finditer(text):
        name = FIELD_NAME.match(match.group(1))
        if name is None or name.group(1) not in ALLOWED_FIELDS:
            errors.append(
                f"“{match.group(0)}” is not an allowed field. Allowed: "
                + ", ".join(f"{{{{ {field} }}}}" for field in ALLOWED_FIELDS)
                + "."
            )
    remainder = PLACEHOLDER.sub("", text)
    if "{{" in remainder or "}}" in remainder:
        errors.append("A {{ or }} is not closed; fields look like {{ client_name }}.")
    return errors


def validate_template(text: str) -> None:
    errors = template_errors(text)
    if errors:
        raise ValidationError(errors, code="template_field_not_allowed")


def render(text: str, context: dict[str, str]) -> str:
    """Fill the placeholders of an already validated template. ``context`` may hold only
    allowed fields; a missing value renders as empty text."""
    unexpected = set(context) - set(ALLOWED_FIELDS)
    if unexpected:
        raise ValueError(f"Rendering context holds fields outside the whitelist: {sorted(unexpected)}")

    def fill(match: re.Match) -> str:
        name = FIELD_NAME.match(match.group(1))
        return context.get(name.group(1), "") if name else ""

    return PLACEHOLDER.sub(fill, text)
