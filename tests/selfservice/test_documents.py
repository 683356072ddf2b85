"""Documents: the practice defines them, the client completes and signs them from the client home,
staff see completion on the client record; an unsigned required consent is queued at T-24 h."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from scheduling.models import FollowUp, FollowUpKind
from scheduling.services import appointment_book
from selfservice.documents import consents_missing_raise, document_template_save, parse_fields
from selfservice.home import home_link_for
from selfservice.models import DocumentKind, DocumentSubmission

pytestmark = pytest.mark.django_db


@pytest.fixture
def intake(practice):
    return document_template_save(
        practice=practice,
        template=None,
        values={
            "title": "Intake",
            "kind": DocumentKind.INTAKE,
            "body": "",
            "fields": parse_fields("What brings you here? * | text\nHave you had therapy before? * | yesno"),
            "required": True,
            "is_active": True,
        },
    )


@pytest.fixture
def consent(practice):
    return document_template_save(
        practice=practice,
        template=None,
        values={
            "title": "Telehealth consent",
            "kind": DocumentKind.CONSENT,
            "body": "I agree to sessions by video.",
            "fields": [],
            "required": True,
            "is_active": True,
        },
    )


def test_the_editor_notation_becomes_typed_questions_and_bad_lines_are_field_errors():
    fields = parse_fields("Date of birth * | date\nPronouns | choice | she; he; they\n\nNotes")
    assert [(f["label"], f["type"], f["required"]) for f in fields] == [
        ("Date of birth", "date", True),
        ("Pronouns", "choice", False),
        ("Notes", "text", False),
    ]
    for bad in ("Q | colour", "Q | choice | only one", " | text"):
        with pytest.raises(ValidationError):
            parse_fields(bad)


def test_a_client_completes_and_signs_from_their_home(client, client_ann, intake):
    token = home_link_for(client=client_ann, now=timezone.now())
    home = client.get(reverse("client_home", args=[token])).content.decode()
    assert "Intake" in home
    url = reverse("client_document", args=[token, intake.pk])
    wrong = client.post(url, {"q1": "Sleep", "q2": "no", "signature": "Someone Else"})
    assert wrong.status_code == 400 and "Type your full name" in wrong.content.decode()
    missing = client.post(url, {"q2": "no", "signature": client_ann.full_name})
    assert missing.status_code == 400
    done = client.post(url, {"q1": "Sleep", "q2": "no", "signature": f"  {client_ann.full_name.upper()} "})
    assert done.status_code == 302
    submission = DocumentSubmission.objects.get()
    assert submission.answers == {"q1": "Sleep", "q2": "no"} and submission.version == 1
    assert submission.signed_from == "127.0.0.1"
    assert "Intake" not in client.get(reverse("client_home", args=[token])).content.decode()
    # The signature is audit-logged; the answers never reach the audit log.
    entry = LogEntry.objects.get_for_object(submission).get()
    assert "Sleep" not in str(entry.changes)


def test_hostile_answers_are_field_errors(client, client_ann, intake):
    token = home_link_for(client=client_ann, now=timezone.now())
    url = reverse("client_document", args=[token, intake.pk])
    for value in ("x" * 3000, "maybe"):
        response = client.post(url, {"q1": value, "q2": value, "signature": client_ann.full_name})
        assert response.status_code == 400
    assert not DocumentSubmission.objects.exists()


def test_a_new_wording_is_a_new_version_to_sign_again(client_ann, consent, practice):
    from selfservice.documents import document_submit, documents_to_complete

    document_submit(
        template=consent,
        client=client_ann,
        answers={},
        signed_name=client_ann.full_name,
        address=None,
        now=timezone.now(),
    )
    assert documents_to_complete(client_ann) == []
    changed = document_template_save(
        practice=practice,
        template=consent,
        values={
            "title": consent.title,
            "kind": consent.kind,
            "body": "New words.",
            "fields": [],
            "required": True,
            "is_active": True,
        },
    )
    assert changed.version == 2
    assert documents_to_complete(client_ann) == [changed]


def test_an_unsigned_consent_is_queued_a_day_before_once(
    practice, clinician, client_ann, service_type, consent
):
    now = timezone.now()
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=now + timedelta(hours=20),
    )
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=now + timedelta(hours=30),
    )
    assert consents_missing_raise(now=now) == 1
    consents_missing_raise(now=now)
    item = FollowUp.objects.get()
    assert item.kind == FollowUpKind.CONSENT_MISSING and "Telehealth consent" in item.detail


def test_staff_see_completion_on_the_client_record(client_ann, intake, manager, signed_in):
    page = signed_in(manager).get(reverse("client_detail", args=[client_ann.pk])).content.decode()
    assert "Intake" in page and "not completed" in page


def test_managers_define_documents_and_front_desk_cannot(manager, front_desk, signed_in):
    data = {
        "title": "Intake",
        "kind": "intake",
        "body": "",
        "fields": "Why now? * | text",
        "required": "on",
        "is_active": "on",
    }
    assert signed_in(manager).post(reverse("document_template_new"), data).status_code == 302
    bad = signed_in(manager).post(reverse("document_template_new"), {**data, "fields": "Q | colour"})
    assert bad.status_code == 400
    assert signed_in(front_desk).get(reverse("document_templates")).status_code == 403
