"""Managers edit the sequence in the operator console; hostile templates are refused on save."""

import json

import pytest

from messaging.models import Step
from messaging.services import sequence_for

pytestmark = pytest.mark.django_db


def test_saving_a_step_with_a_clinical_field_is_refused_and_changes_nothing(signed_in, manager, practice):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    sequence = sequence_for(practice)
    steps = list(sequence.steps.order_by("position", "pk"))
    http = signed_in(manager)
    url = f"/admin/messaging/sequence/{sequence.pk}/change/"
    page = http.get(url)
    formset = page.context["inline_admin_formsets"][0].formset
    data = {**_main_form_data(page.context["adminform"].form), **_form_data(formset)}
    data["steps-0-body"] = "Hi {{ client_name }}, see you {{ session_date }}."
    assert http.post(url, data).status_code == 302  # a clean edit saves
    assert Step.objects.get(pk=steps[0].pk).body == "Hi {{ client_name }}, see you {{ session_date }}."

    data["steps-0-body"] = "Hi {{ client_name }}, about your {{ client.diagnosis }}"
    response = http.post(url, data)

    assert response.status_code == 200
    assert "is not an allowed field" in response.content.decode()
    assert Step.objects.get(pk=steps[0].pk).body == "Hi {{ client_name }}, see you {{ session_date }}."


def _form_data(formset) -> dict:
    data = {f"{formset.prefix}-{k}": v for k, v in formset.management_form.initial.items()}
    for form in formset.forms:
        for name, field in form.fields.items():
            value = form.initial.get(name, field.initial)
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            if isinstance(value, list | dict):
                value = json.dumps(value)
            data[form.add_prefix(name)] = value
    return data


def _main_form_data(form) -> dict:
    """The sequence's own fields (practice quiet hours, languages) as the page shows them."""
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is not None:
            data[name] = json.dumps(value) if isinstance(value, list | dict) else value
    return data
