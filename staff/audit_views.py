"""The audit log viewer (owners and managers): django-auditlog's entries about this practice's
own rows, reads (access entries) included, newest first, filterable by who, what kind of record
and dates, in the practice's time zone, written as sentences.

Scoping: an entry names its row by content type and id, not by practice. For every audited
model, ``practice_path`` finds the foreign-key path from the model to Practice (e.g.
``appointment__practice`` for a participant), and the entries are those whose object id is among
this practice's rows of that model: one subquery per model, OR-ed, so another practice's entries
never match. A row since deleted is no longer among them: its deletion is found by the practice
tag every entry carries (practice.audit.register); its earlier entries are left out.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django import forms
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Q
from django.shortcuts import render

from practice import parsing
from practice.access import MANAGERS, staff_view
from practice.audit import PRACTICE_KEY, practice_path
from practice.models import Membership, Practice

ENTRIES_PER_PAGE = 50
VERBS = {
    LogEntry.Action.CREATE: "created",
    LogEntry.Action.UPDATE: "changed",
    LogEntry.Action.DELETE: "deleted",
    LogEntry.Action.ACCESS: "viewed",
}


def audited_models() -> list[tuple[type[models.Model], str]]:
    found = []
    for model in auditlog.get_models():
        path = practice_path(model)
        if path is not None:
            found.append((model, path))
    return sorted(found, key=lambda pair: str(pair[0]._meta.verbose_name))


def entries_for(practice: Practice, *, content_type_ids: set[int] | None = None):
    scope = Q()
    for model, path in audited_models():
        content_type = ContentType.objects.get_for_model(model)
        if content_type_ids is not None and content_type.pk not in content_type_ids:
            continue
        rows = model._default_manager.filter(**{path: practice.pk}).values("pk")
        scope |= Q(content_type=content_type, object_id__in=rows)
    if not scope:
        return LogEntry.objects.none()
    # Rows since deleted are no longer among the practice's rows: their deletion is found by the
    # practice tag it carries (practice.audit). Only deletions: the action's index keeps this
    # from reading the whole log, and a deletion's entry holds the row's last values.
    deletions = Q(action=LogEntry.Action.DELETE, **{f"additional_data__{PRACTICE_KEY}": practice.pk})
    if content_type_ids is not None:
        deletions &= Q(content_type_id__in=content_type_ids)
    return LogEntry.objects.filter(scope | deletions)


class AuditFilterForm(forms.Form):
    actor = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Who")
    kind = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Kind of record")
    date_from = parsing.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = parsing.DateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, practice: Practice, **kwargs):
        super().__init__(*args, **kwargs)
        members = Membership.objects.for_practice(practice).select_related("user").order_by("user__full_name")
        self.fields["actor"].choices = [("", "Anyone"), *((m.user_id, str(m.user)) for m in members)]
        kinds = [
            (ContentType.objects.get_for_model(model).pk, str(model._meta.verbose_name).capitalize())
            for model, _ in audited_models()
        ]
        self.fields["kind"].choices = [("", "Any"), *kinds]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned


# How people call some records (the model names are the developers' words).
KIND_NAMES = {
    "appointment": "session",
    "appointment participant": "session's client",
    "membership": "team membership",
    "clinician profile": "clinician",
    "client preferences": "client's preferences",
}


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "…"


def _display(field: models.Field | None, raw, tz) -> str:
    """One recorded value as a person reads it: choice labels, yes/no, local times."""
    if raw in (None, "", "None"):
        return "nothing"
    text = str(raw)
    if field is None:
        return _short(text)
    if field.choices:
        label = dict(field.flatchoices).get(text)
        if label is None and text.lstrip("-").isdigit():
            label = dict(field.flatchoices).get(int(text))
        return str(label).lower() if label is not None else _short(text)
    if isinstance(field, models.BooleanField):
        return {"True": "yes", "False": "no"}.get(text, text)
    if isinstance(field, models.DateTimeField):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return _short(text)
        if when.tzinfo is not None:
            return when.astimezone(tz).strftime("%b %-d, %Y %-I:%M %p")
    return _short(text)


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except (FieldDoesNotExist, AttributeError):
        return None


def sentence(entry: LogEntry, tz) -> dict:
    """{"who": …, "what": …, "details": [...]} for one entry: "Fran Delgado" "changed the
    session “…”", details "status from scheduled to cancelled"."""
    if entry.actor is not None:
        who = entry.actor.full_name or entry.actor.email
    elif entry.actor_email:
        who = entry.actor_email
    else:
        who = "Attend (automatic)"
    model = entry.content_type.model_class() if entry.content_type_id else None
    kind = entry.content_type.name if entry.content_type_id else "record"
    kind = KIND_NAMES.get(kind, kind)
    verb = VERBS.get(entry.action, "changed")
    details = []
    if entry.action == LogEntry.Action.UPDATE:
        for name, change in (entry.changes_dict or {}).items():
            field = _field(model, name)
            label = str(field.verbose_name) if field is not None else name.replace("_", " ")
            if isinstance(change, list | tuple) and len(change) == 2:
                details.append(
                    f"{label} from {_display(field, change[0], tz)} to {_display(field, change[1], tz)}"
                )
            else:
                details.append(label)
    return {"who": who, "what": f"{verb} the {kind} “{_short(entry.object_repr)}”", "details": details}


@staff_view(MANAGERS)
def audit_log(request):
    practice = request.practice
    tz = practice.zoneinfo
    form = AuditFilterForm(request.GET or None, practice=practice)
    filters = form.cleaned_data if form.is_valid() else {}
    kinds = {filters["kind"]} if filters.get("kind") else None
    entries = entries_for(practice, content_type_ids=kinds)
    if filters.get("actor"):
        entries = entries.filter(actor_id=filters["actor"])
    if filters.get("date_from"):
        entries = entries.filter(timestamp__gte=datetime.combine(filters["date_from"], time.min, tzinfo=tz))
    if filters.get("date_to"):
        next_day = filters["date_to"] + timedelta(days=1)
        entries = entries.filter(timestamp__lt=datetime.combine(next_day, time.min, tzinfo=tz))
    entries = entries.select_related("actor", "content_type").order_by("-timestamp", "-pk")
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"entry": entry, **sentence(entry, tz)} for entry in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "zone": tz.key,
        "query": query.urlencode(),
        "nav": "settings",
    }
    return render(request, "staff/admin/audit_log.html", context, status=400 if form.errors else 200)
