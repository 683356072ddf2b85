"""The sequence settings page (SPEC F9, F15, F18): who may see and edit it, field errors
instead of 500s, the audit log, the preview through the compose path, and what an edit does
(and does not do) to messages already planned or sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from messaging.models import OutboxMessage, OutboxState, Step
from messaging.services import message_plan_for, messages_dispatch_due, sequence_for
from scheduling.services import appointment_book
from tests.conftest import verified_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def t15(practice) -> Step:
    return sequence_for(practice).steps.get(key="t15_sms")


def form_data(step: Step, **changes) -> dict:
    data = {
        "name": step.name,
        "is_active": "on" if step.is_active else "",
        "position": step.position,
        "anchor": step.anchor,
        "offset_minutes": step.offset_minutes,
        "channel": step.channel,
        "conditions": list(step.conditions),
        "urgent": "on" if step.urgent else "",
        "subject": step.subject,
        "body": step.body,
        "attach_calendar": "on" if step.attach_calendar else "",
        "holdout_percent": step.holdout_percent,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_a_manager_sees_every_step_and_what_an_edit_changes(manager):
    response = verified_session(manager).get(reverse("sequence_settings"))
    assert response.status_code == 200
    assert b"15 minutes before (text)" in response.content
    assert b"Nothing already sent is changed or sent again" in response.content


@pytest.mark.parametrize("persona", ["front_desk", "clinician_user", "biller"])
def test_other_roles_may_neither_see_nor_edit_the_sequence(request, persona, practice, t15):
    http = verified_session(request.getfixturevalue(persona))
    assert http.get(reverse("sequence_settings")).status_code == 403
    edit = reverse("step_edit", args=[t15.pk])
    assert http.post(edit, form_data(t15, body="Changed")).status_code == 403
    t15.refresh_from_db()
    assert t15.body != "Changed"


def test_another_practices_manager_gets_404_for_a_step(other_manager, t15):
    http = verified_session(other_manager)
    assert http.get(reverse("step_edit", args=[t15.pk])).status_code == 404
    assert http.post(reverse("step_edit", args=[t15.pk]), form_data(t15)).status_code == 404


def test_an_edit_is_saved_and_audit_logged(manager, t15):
    http = verified_session(manager)
    body = "{{ client_name }}, your session starts in 15 minutes: {{ join_link }}"
    response = http.post(reverse("step_edit", args=[t15.pk]), form_data(t15, body=body, offset_minutes=-20))
    assert response.status_code == 302
    t15.refresh_from_db()
    assert (t15.body, t15.offset_minutes) == (body, -20)
    entry = LogEntry.objects.get_for_object(t15).latest("timestamp")
    assert entry.actor == manager
    assert set(entry.changes_dict) >= {"body", "offset_minutes"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"body": "Hi {{ client.diagnosis }}"}, "body", "is not an allowed field"),
        ({"body": "Hi {% if x %}"}, "body", "Template tags"),
        ({"body": "Hi {{ client_name "}, "body", "is not closed"),
        ({"body": "łą " * 60 + "{{ join_link }}"}, "body", "SMS segments"),
        ({"offset_minutes": "soon"}, "offset_minutes", "whole number"),
        ({"anchor": "lunch"}, "anchor", "valid choice"),
        ({"holdout_percent": "2"}, "holdout_percent", "between 5 and 30"),
        ({"holdout_percent": "80"}, "holdout_percent", "between 5 and 30"),
        ({"conditions": ["on_full_moon"]}, "conditions", "valid choice"),
    ],
)
def test_bad_input_comes_back_as_a_field_error(manager, t15, changes, field, message):
    response = verified_session(manager).post(reverse("step_edit", args=[t15.pk]), form_data(t15, **changes))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    t15.refresh_from_db()
    assert t15.body.startswith("Your session with")


def test_clinician_steps_cannot_be_held_out(manager, practice):
    step = sequence_for(practice).steps.get(key="t5_clinician_prompt")
    response = verified_session(manager).post(
        reverse("step_edit", args=[step.pk]), form_data(step, holdout_percent="10")
    )
    assert "Only steps that go to clients" in " ".join(response.context["form"].errors["holdout_percent"])


def test_preview_renders_a_sample_session_through_the_compose_path(manager, clinician, practice):
    response = verified_session(manager).post(
        reverse("step_preview"),
        {
            "channel": "sms",
            "body": "Hi {{ client_name }}, {{ clinician_name }} at {{ session_time }}: {{ join_link }}",
        },
    )
    result = response.json()
    assert result["errors"] == []
    assert result["body"].startswith("Hi Jordan, Dr. Smith at 10:00 AM E")  # EST or EDT
    assert "/j/" in result["body"]
    assert (result["encoding"], result["segments"]) == ("GSM-7", 1)


def test_the_server_counts_segments_as_the_save_check_does(manager, clinician):
    http = verified_session(manager)
    long_unicode = "Hi {{ client_name }} 🙂 " + "x" * 130
    result = http.post(reverse("step_preview"), {"channel": "sms", "body": long_unicode}).json()
    assert (result["encoding"], result["segments"]) == ("UCS-2", 3)
    assert "keep it to 2" in result["errors"][0]


def test_preview_refuses_fields_outside_the_whitelist(manager):
    result = (
        verified_session(manager)
        .post(reverse("step_preview"), {"channel": "email", "subject": "{{ diagnosis }}", "body": "x"})
        .json()
    )
    assert result["body"] == "" and "is not an allowed field" in result["errors"][0]


def test_preview_with_bad_channel_is_a_400_not_a_500(manager):
    response = verified_session(manager).post(reverse("step_preview"), {"channel": "pigeon", "body": "x"})
    assert response.status_code == 400


def test_an_edit_replans_nothing_and_a_switched_off_step_stops(
    manager, practice, clinician, client_ann, service_type, t15
):
    client_ann.sms_consent_at = client_ann.created_at
    client_ann.save()
    starts_at = (client_ann.created_at + timedelta(days=3)).replace(microsecond=0)
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=starts_at,
        service_type=service_type,
        modality="telehealth",
    )
    message_plan_for(appointment=appointment)
    planned = OutboxMessage.objects.get(appointment=appointment, kind="t15_sms")
    due_before = planned.due_at
    verified_session(manager).post(
        reverse("step_edit", args=[t15.pk]), form_data(t15, offset_minutes=-30, is_active="")
    )
    planned.refresh_from_db()
    assert planned.due_at == due_before and planned.state == OutboxState.PLANNED  # not re-planned
    messages_dispatch_due(now=planned.due_at + timedelta(seconds=1))
    planned.refresh_from_db()
    assert planned.state == OutboxState.SKIPPED
    assert "switched this step off" in planned.reason
