"""Documents (issue 15): managers define the intake questionnaires and consents new clients
complete from their client home; changing a document's wording makes a new version."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from practice.access import MANAGERS, staff_view
from practice.forms import add_service_errors
from selfservice.documents import document_template_save, format_fields, parse_fields
from selfservice.models import DocumentKind, DocumentTemplate


class DocumentTemplateForm(forms.Form):
    title = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=DocumentKind.choices)
    body = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), help_text="What the client reads first."
    )
    fields = forms.CharField(
        label="Questions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One per line: “question | type | option; option”. Types: text, choice, date, yesno. "
        "A * after the question makes it required. Example: “Have you had therapy before? * | yesno”.",
    )
    required = forms.BooleanField(required=False, initial=True, label="Needed before the first session")
    is_active = forms.BooleanField(required=False, initial=True, label="In use")


@staff_view(MANAGERS)
def document_templates(request):
    templates = DocumentTemplate.objects.for_practice(request.practice)
    return render(request, "staff/document_templates.html", {"templates": templates, "nav": "settings"})


@staff_view(MANAGERS)
def document_template_edit(request, pk: int | None = None):
    template = (
        get_object_or_404(DocumentTemplate.objects.for_practice(request.practice), pk=pk) if pk else None
    )
    initial = {}
    if template is not None:
        initial = {
            "title": template.title,
            "kind": template.kind,
            "body": template.body,
            "fields": format_fields(template.fields),
            "required": template.required,
            "is_active": template.is_active,
        }
    form = DocumentTemplateForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        try:
            values["fields"] = parse_fields(values["fields"])
            saved = document_template_save(practice=request.practice, template=template, values=values)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"“{saved.title}” saved (version {saved.version}).")
            return redirect("document_templates")
    context = {"form": form, "template": template, "nav": "settings"}
    return render(request, "staff/document_template_form.html", context, status=400 if form.errors else 200)
