"""Documents new clients complete before their first session (issue 15): intake questionnaires and
consents, defined by the practice, signed with the typed full name.

A template's questions are data (``DocumentTemplate.fields``); ``document_form`` turns them into a
Django form, so every answer is validated like any other input. Answers are health information:
stored for the practice, never logged, never in a message (the audit log records the signature,
not the answers). An unsigned required consent before a session raises one queue item at T-24 h.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from practice import parsing
from practice.models import Client, Practice
from scheduling.models import UPCOMING_STATUSES, AppointmentParticipant, FollowUpKind
from scheduling.services import follow_up_raise
from selfservice.models import DocumentKind, DocumentSubmission, DocumentTemplate, FieldType

MAX_ANSWER = 2000
CONSENT_WARNING_BEFORE = timedelta(hours=24)


def parse_fields(text: str) -> list[dict]:
    """The staff editor's notation, one question per line: ``label | type | choice; choice``,
    with ``*`` after the label for a required question. Types: text, choice, date, yesno."""
    fields = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        label = parts[0]
        required = label.endswith("*")
        label = label.rstrip("*").strip()
        kind = parts[1].lower() if len(parts) > 1 and parts[1] else FieldType.TEXT
        if not label or len(label) > 200:
            raise ValidationError({"fields": [f"Line {number}: give the question (at most 200 characters)."]})
        if kind not in FieldType.values:
            raise ValidationError(
                {"fields": [f"Line {number}: the type is one of text, choice, date, yesno."]}
            )
        choices = [c.strip() for c in parts[2].split(";") if c.strip()] if len(parts) > 2 else []
        if kind == FieldType.CHOICE and len(choices) < 2:
            raise ValidationError(
                {"fields": [f"Line {number}: a choice needs at least two options, separated by ;"]}
            )
        fields.append(
            {
                "key": f"q{len(fields) + 1}",
                "label": label,
                "type": kind,
                "choices": choices,
                "required": required,
            }
        )
    return fields


def format_fields(fields: list[dict]) -> str:
    lines = []
    for field in fields:
        line = field["label"] + (" *" if field.get("required") else "") + " | " + field["type"]
        if field.get("choices"):
            line += " | " + "; ".join(field["choices"])
        lines.append(line)
    return "\n".join(lines)


def document_form(template: DocumentTemplate, data=None) -> forms.Form:
    """A form of the template's questions plus the typed-name signature."""
    form = forms.Form(data)
    form.label_suffix = ""
    for field in template.fields:
        required = bool(field.get("required"))
        label = field["label"]
        if field["type"] == FieldType.CHOICE:
            django_field = forms.ChoiceField(
                label=label,
                required=required,
                choices=[(c, c) for c in field["choices"]],
                widget=forms.RadioSelect,
            )
        elif field["type"] == FieldType.DATE:
            django_field = parsing.DateField(
                label=label, required=required, widget=forms.DateInput(attrs={"type": "date"})
            )
        elif field["type"] == FieldType.YES_NO:
            django_field = forms.ChoiceField(
                label=label,
                required=required,
                choices=[("yes", gettext("Yes")), ("no", gettext("No"))],
                widget=forms.RadioSelect,
            )
        else:
            django_field = forms.CharField(
                label=label,
                required=required,
                max_length=MAX_ANSWER,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        form.fields[field["key"]] = django_field
    # The practice's questions stay as it wrote them; Attend's own words follow the page's language.
    form.fields["signature"] = forms.CharField(
        label=gettext("Type your full name to sign"),
        max_length=200,
        help_text=gettext("This is your signature."),
    )
    return form


def documents_to_complete(client: Client) -> list[DocumentTemplate]:
    """The practice's active documents this client has not completed at their current version."""
    signed = set(DocumentSubmission.objects.filter(client=client).values_list("template_id", "version"))
    templates = DocumentTemplate.objects.for_practice(client.practice).filter(is_active=True)
    return [t for t in templates.order_by("-required", "kind", "title") if (t.pk, t.version) not in signed]


def document_status(client: Client) -> list[dict]:
    """For the client record: each active document, with the client's latest signature of it
    (and whether that is the current version) and the answers, labelled."""
    latest: dict[int, DocumentSubmission] = {}
    for submission in DocumentSubmission.objects.filter(client=client).order_by("signed_at"):
        latest[submission.template_id] = submission
    rows = []
    for template in DocumentTemplate.objects.for_practice(client.practice).filter(is_active=True):
        submission = latest.get(template.pk)
        labels = {field["key"]: field["label"] for field in template.fields}
        answers = [
            (labels.get(key, key), value) for key, value in (submission.answers if submission else {}).items()
        ]
        rows.append(
            {
                "template": template,
                "submission": submission,
                "current": submission is not None and submission.version == template.version,
                "answers": answers,
            }
        )
    return rows


def document_submit(
    *,
    template: DocumentTemplate,
    client: Client,
    answers: dict,
    signed_name: str,
    address: str | None,
    now: datetime,
) -> DocumentSubmission:
    """Record the answers and the signature. The signature must be the client's full name as the
    practice has it (case and spacing aside), so a mistyped name is caught, not stored."""
    expected = " ".join(f"{client.first_name} {client.last_name}".split()).casefold()
    if " ".join(signed_name.split()).casefold() != expected:
        raise ValidationError(
            {
                "signature": [
                    gettext("Type your full name as the practice has it: %(name)s.")
                    % {"name": f"{client.first_name} {client.last_name}"}
                ]
            }
        )
    if template.practice_id != client.practice_id:
        raise ValidationError("This document is not from your practice.")
    clean = {
        key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in answers.items()
    }
    with transaction.atomic():
        submission, _ = DocumentSubmission.objects.update_or_create(
            template=template,
            client=client,
            version=template.version,
            defaults={
                "answers": clean,
                "signed_name": signed_name.strip(),
                "signed_at": now,
                "signed_from": address,
            },
        )
    return submission


def document_template_save(
    *, practice: Practice, template: DocumentTemplate | None, values: dict
) -> DocumentTemplate:
    """Create a template, or change one: a change of its wording or questions is a new version
    (clients who signed the old one are asked again)."""
    with transaction.atomic():
        if template is None:
            template = DocumentTemplate(practice=practice)
        elif template.pk is not None and (
            values.get("body") != template.body or values.get("fields") != template.fields
        ):
            template.version += 1
        for name, value in values.items():
            setattr(template, name, value)
        template.full_clean()
        template.save()
    return template


def consents_missing_raise(*, now: datetime) -> int:
    """Queue items for sessions starting within 24 hours whose client has not signed a required
    consent of their practice (one item per participant and consent version, ever). Safe to run
    every minute and twice."""
    # Only practices that ask for a consent: the bounded batch is not spent on the others.
    asking = DocumentTemplate.objects.filter(is_active=True, required=True, kind=DocumentKind.CONSENT)
    participants = list(
        AppointmentParticipant.objects.filter(
            appointment__practice_id__in=asking.values("practice_id"),
            appointment__status__in=UPCOMING_STATUSES,
            appointment__starts_at__gt=now,
            appointment__starts_at__lte=now + CONSENT_WARNING_BEFORE,
        )
        .select_related("appointment", "client")
        .order_by("appointment__starts_at")[:500]
    )
    signed = set(
        DocumentSubmission.objects.filter(client_id__in={p.client_id for p in participants}).values_list(
            "client_id", "template_id", "version"
        )
    )
    raised = 0
    consents_of: dict[int, list[DocumentTemplate]] = {}
    for participant in participants:
        practice_id = participant.appointment.practice_id
        if practice_id not in consents_of:
            consents_of[practice_id] = list(
                DocumentTemplate.objects.filter(
                    practice_id=practice_id, is_active=True, required=True, kind=DocumentKind.CONSENT
                )
            )
        for consent in consents_of[practice_id]:
            if (participant.client_id, consent.pk, consent.version) in signed:
                continue
            follow_up_raise(
                appointment=participant.appointment,
                participant=participant,
                kind=FollowUpKind.CONSENT_MISSING,
                detail=f"Not signed yet: {consent.title}.",
                source=f"consent:{participant.pk}:{consent.pk}:{consent.version}",
            )
            raised += 1
    return raised
