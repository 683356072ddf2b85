"""What the crawl checks in the database after each request: nothing stored that PostgreSQL
would refuse (NUL bytes, lone surrogates) and no invalid phone number."""

from __future__ import annotations

import json
import re

import phonenumbers
from django.apps import apps
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField

APPS = {"practice", "scheduling", "telehealth", "messaging", "integrations", "staff", "auditlog"}
# Checked here on its own (not with practice.parsing) so the crawl can judge any version of the app.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def _project_models():
    for model in apps.get_models():
        module = model.__module__.split(".")[0]
        if module in {
            "practice",
            "scheduling",
            "telehealth",
            "messaging",
            "integrations",
            "staff",
            "auditlog",
        }:
            yield model


def _text_of(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def bad_rows(*, since: dict[str, int] | None = None) -> list[str]:
    """Each stored value with a NUL byte or a lone surrogate, or a phone number that is not valid,
    as "model.field #pk". ``since`` limits a model to rows with a greater pk (see high_water)."""
    found = []
    for model in _project_models():
        label = model._meta.label
        fields = [f for f in model._meta.concrete_fields if isinstance(f, (*TEXT_FIELDS, PhoneNumberField))]
        if not fields:
            continue
        rows = model._base_manager.all()
        if (
            since is not None
            and label in since
            and model._meta.pk.get_internal_type()
            in (
                "AutoField",
                "BigAutoField",
            )
        ):
            rows = rows.filter(pk__gt=since[label])
        for row in rows.values("pk", *(f.attname for f in fields)).iterator():
            for field in fields:
                value = row[field.attname]
                if isinstance(field, PhoneNumberField):
                    if value and not _valid_phone(value):
                        found.append(f"{label}.{field.name} #{row['pk']}: invalid phone")
                elif UNSTORABLE.search(_text_of(value)):
                    found.append(f"{label}.{field.name} #{row['pk']}: NUL or lone surrogate")
    return found


def _valid_phone(value) -> bool:
    """What the column holds (E.164 text), read back as a number and checked."""
    text = getattr(value, "raw_input", None) or str(value)
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, None))
    except phonenumbers.NumberParseException:
        return False


def high_water() -> dict[str, int]:
    """The greatest integer pk of each project model now: later checks look only at newer rows
    (plus any row the crawl changed, which the final full check covers)."""
    marks = {}
    for model in _project_models():
        if model._meta.pk.get_internal_type() in ("AutoField", "BigAutoField"):
            marks[model._meta.label] = model._base_manager.aggregate(m=models.Max("pk"))["m"] or 0
    return marks
