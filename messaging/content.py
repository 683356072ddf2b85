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
    "preferences_link": "The client's page for choosing how and when they are reminded",
    "after_session_link": "The client's after-session page: a short survey and “book my next session”",
    "manage_link": "The client's page to confirm, ask to reschedule or cancel this session",
    "no_show_fee": "The practice's no-show fee, e.g. $75.00 (only in the no-show notice)",
    "series_dates": "A series' sessions, one date and time a line (its one confirmation)",
    "moved_dates": "The sessions moved with this one (“this and following”), a line each",
    "moved_count": "How many sessions moved with this one, in a sentence (texts)",
    "previous_session_date": "A moved session's former date (the “moved” confirmation)",
    "previous_session_time": "A moved session's former start time (the “moved” confirmation)",
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


# --- SMS length ---------------------------------------------------------------------------------

# The GSM 03.38 alphabet: a text using only these characters is sent as GSM-7 (160 characters a
# segment); any other character switches the whole text to UCS-2 (70 a segment). The extension
# characters cost two septets each.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
MAX_SMS_SEGMENTS = 2

# Values as long as real ones get, to measure a template's rendered length before it is used.
SAMPLE_CONTEXT = {
    "client_name": "Alexandrina",
    "clinician_name": "Dr. Montgomery-Smith",
    "practice_name": "Lakeside Therapy Collective",
    "practice_phone": "(212) 555-0100",
    "session_date": "Wednesday, September 30",
    "session_time": "10:30 AM EDT",
    "join_link": "https://attend.example.org/j/" + "x" * 32,
    "tech_check_link": "https://attend.example.org/t/" + "x" * 32,
    "preferences_link": "https://attend.example.org/p/" + "x" * 32,
    "after_session_link": "https://attend.example.org/s/" + "x" * 32,
    "manage_link": "https://attend.example.org/a/" + "x" * 32,
    "no_show_fee": "$150.00",
    "series_dates": "- Wednesday, September 30 at 10:30 AM EDT",
    "moved_dates": "- Wednesday, October 7, 10:30 AM EDT",
    "moved_count": " Your next 2 sessions of the series moved the same way.",
    "previous_session_date": "Wednesday, September 30",
    "previous_session_time": "10:30 AM EDT",
}
# Per language, the values that cost the most: "sábado" (á is not GSM-7) turns a Spanish text
# with the date into UCS-2, so it is measured that way.
SAMPLE_CONTEXTS = {
    "en": SAMPLE_CONTEXT,
    "es": {**SAMPLE_CONTEXT, "session_date": "sábado, 30 de septiembre"},
}


def sms_segments(text: str) -> tuple[str, int]:
    """(encoding, number of segments) a carrier bills for ``text``."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        return "GSM-7", 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


def sms_template_errors(text: str, language: str = "en") -> list[str]:
    """A text template that renders to more than two segments with realistic values is refused:
    long texts arrive split, cost more and are read less."""
    if template_errors(text):
        return []  # the field errors say what to fix first
    encoding, segments = sms_segments(render(text, SAMPLE_CONTEXTS.get(language, SAMPLE_CONTEXT)))
    if segments <= MAX_SMS_SEGMENTS:
        return []
    hint = (
        " Characters such as “smart quotes” or emoji switch the text to UCS-2." if encoding == "UCS-2" else ""
    )
    return [
        f"With typical names and links this text is {segments} SMS segments ({encoding}); "
        f"keep it to {MAX_SMS_SEGMENTS}.{hint}"
    ]


def translations_errors(translations, *, channel: str, languages: dict[str, str]) -> list[str]:
    """Every problem with a step's ``translations`` ({"es": {"subject", "body"}}): unknown
    languages, and in each language the same whitelist and SMS-length checks as the default text."""
    if not isinstance(translations, dict):
        return ['Translations look like {"es": {"subject": "…", "body": "…"}}.']
    errors = []
    for language, texts in translations.items():
        name = languages.get(language)
        if name is None or not isinstance(texts, dict) or set(texts) - {"subject", "body"}:
            errors.append(f"“{language}”: translations need a known language and only a subject and a body.")
            continue
        for part in ("subject", "body"):
            text = texts.get(part, "")
            if not isinstance(text, str):
                errors.append(f"{name} {part}: must be text.")
                continue
            errors.extend(f"{name} {part}: {error}" for error in template_errors(text))
        if channel == "sms" and isinstance(texts.get("body"), str):
            errors.extend(f"{name} text: {error}" for error in sms_template_errors(texts["body"], language))
    return errors
