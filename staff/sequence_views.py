"""The sequence settings page (SPEC F9, F15, F18): owners and managers see and edit their
practice's reminder steps. Every query starts from ``request.practice`` (another practice's step
is a 404), saves go through ``messaging.services.sequence_step_update`` (audit-logged), and bad
input comes back as field errors."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from messaging.auto_texts import auto_texts_update
from messaging.content import MAX_SMS_SEGMENTS, SAMPLE_CONTEXT
from messaging.forms import AutoTextsForm, PreviewForm, StepSettingsForm
from messaging.languages import offered_languages
from messaging.models import Step
from messaging.preview import step_preview
from messaging.services import sequence_for, sequence_step_update
from practice.access import MANAGERS, staff_view
from practice.forms import add_service_errors


def _steps_of(practice):
    return Step.objects.filter(sequence__practice=practice)


@staff_view(MANAGERS)
def sequence_settings(request):
    sequence = sequence_for(request.practice)
    context = {"sequence": sequence, "steps": sequence.steps.all(), "nav": "sequence"}
    return render(request, "staff/sequence_settings.html", context)


@staff_view(MANAGERS)
def step_edit(request, pk: int):
    step = get_object_or_404(_steps_of(request.practice), pk=pk)
    form = StepSettingsForm(request.POST if request.method == "POST" else None, instance=step)
    if request.method == "POST" and form.is_valid():
        try:
            sequence_step_update(step=step, changes=form.changes())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"“{form.cleaned_data['name']}” was saved.")
            return redirect("sequence_settings")
    # The preview shows what is in the form, saved or not.
    saved = {"channel": step.channel, "subject": step.subject, "body": step.body}
    values = form.data if form.is_bound else saved
    preview = step_preview(
        practice=request.practice,
        channel=values.get("channel", step.channel),
        subject=values.get("subject", ""),
        body=values.get("body", ""),
        now=timezone.now(),
    )
    context = {
        "step": step,
        "form": form,
        "preview": preview,
        "max_segments": MAX_SMS_SEGMENTS,
        "sample_context": SAMPLE_CONTEXT,
        "nav": "sequence",
    }
    return render(request, "staff/step_form.html", context)


@staff_view(MANAGERS)
def auto_texts_settings(request):
    """The automatic texts (messaging.auto_texts) in each language the practice offers; a box left
    as the default, or emptied, follows the default."""
    sequence = sequence_for(request.practice)
    languages = offered_languages(sequence)
    form = AutoTextsForm(
        request.POST if request.method == "POST" else None, stored=sequence.auto_texts, languages=languages
    )
    if request.method == "POST" and form.is_valid():
        try:
            auto_texts_update(practice=request.practice, texts=form.texts(), languages=languages)
        except ValidationError as error:
            form.add_update_errors(error)
        else:
            messages.success(request, "The automatic texts were saved.")
            return redirect("auto_texts_settings")
    context = {"form": form, "sample_context": SAMPLE_CONTEXT, "nav": "sequence"}
    return render(request, "staff/auto_texts.html", context, status=400 if form.errors else 200)


@require_POST
@staff_view(MANAGERS)
def step_preview_json(request):
    """The server's word on what the page's script estimates as the manager types."""
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    preview = step_preview(practice=request.practice, now=timezone.now(), **form.cleaned_data)
    return JsonResponse(
        {
            "subject": preview.subject,
            "body": preview.body,
            "errors": preview.errors,
            "encoding": preview.encoding,
            "segments": preview.segments,
            "characters": preview.characters,
            "max_segments": MAX_SMS_SEGMENTS,
        }
    )
