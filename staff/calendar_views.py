"""The calendar grid: the page, its JSON feed for the visible range, and the move a drag ends in.

Everyone on the staff may open it; clinicians see their own column only, schedulers everyone,
billers everyone read-only. The page carries no client detail; the feed (a response body for
signed-in staff) does. A move is a POST the page sends after the person confirmed it; it goes
through ``appointment_reschedule`` (or ``series_reschedule_following`` for "this and following")
with every booking rule, and a refusal comes back as JSON with the reason.
"""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from practice import parsing
from practice.access import ALL_ROLES, BOOKERS, require_manage_appointment, staff_view
from scheduling.forms import clinician_choices, local_datetime
from scheduling.models import Appointment
from scheduling.services import appointment_reschedule, series_reschedule_following
from staff.calendar import (
    STATUS_LABELS,
    RangeForm,
    calendar_clinicians,
    calendar_events,
    check_day,
    visible_hours,
)

VIEWS = {"day": "resourceTimeGridDay", "week": "resourceTimeGridWeek"}
THIS, FOLLOWING = "this", "following"


class PageForm(forms.Form):
    # The page opens on the week; the unbound form must say so too.
    view = forms.ChoiceField(choices=[("day", "Day"), ("week", "Week")], required=False, initial="week")
    date = parsing.DateField(required=False)
    clinician = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All clinicians", label="Clinician"
    )

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = calendar_clinicians(membership)

    def clean_date(self):
        value = self.cleaned_data["date"]
        return check_day(value) if value else value


@require_GET
@staff_view(ALL_ROLES)
def calendar_page(request):
    membership = request.membership
    tz = request.practice.zoneinfo
    today = timezone.localdate(timezone=tz)
    filters = PageForm(request.GET or None, membership=membership)
    view, day, clinician = "week", today, None
    if filters.is_valid():
        view = filters.cleaned_data["view"] or view
        day = filters.cleaned_data["date"] or day
        clinician = filters.cleaned_data["clinician"]
    clinicians = list(calendar_clinicians(membership))
    shown = [c for c in clinicians if clinician is None or c.pk == clinician.pk]
    first_hour, last_hour = visible_hours(shown)
    can_book = membership.role in BOOKERS
    config = {
        "view": VIEWS[view],
        "date": day.isoformat(),
        "today": today.isoformat(),
        "clinician": clinician.pk if clinician else None,
        "resources": [{"id": str(c.pk), "title": c.display_name} for c in shown],
        "eventsUrl": reverse("calendar_events"),
        "bookUrl": reverse("appointment_create") if can_book else "",
        "canEdit": can_book,
        "slotMinTime": first_hour,
        "slotMaxTime": last_hour,
        "zone": request.practice.timezone,
    }
    context = {
        "filters": filters,
        "config": config,
        "statuses": STATUS_LABELS,
        "can_book": can_book,
        "has_clinicians": bool(shown),
        "clinician_count": len(clinicians),
        "zone_label": request.practice.timezone.replace("_", " "),
        "nav": "calendar_grid",
    }
    return render(request, "staff/calendar.html", context)


@require_GET
@staff_view(ALL_ROLES)
def calendar_events_json(request):
    form = RangeForm(request.GET, membership=request.membership)
    if not form.is_valid():
        return JsonResponse({"error": _messages(form)}, status=400)
    events = calendar_events(
        membership=request.membership,
        start=form.cleaned_data["start"],
        end=form.cleaned_data["end"],
        clinician=form.cleaned_data["clinician"],
        now=timezone.now(),
    )
    return JsonResponse({"events": events})


class MoveForm(forms.Form):
    start = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"])
    clinician = forms.ModelChoiceField(queryset=None, required=False)
    scope = forms.ChoiceField(
        choices=[(THIS, "This session"), (FOLLOWING, "This and following")], required=False
    )

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = membership.practice.zoneinfo
        self.fields["clinician"].queryset = clinician_choices(membership)

    def clean_start(self) -> datetime:
        # The field reads the text as a time of the current zone; take the wall clock back
        # and read it in the practice's zone instead.
        naive = timezone.make_naive(self.cleaned_data["start"])
        check_day(naive.date())
        return local_datetime(naive.date(), naive.time(), self.tz)


@require_POST
@staff_view(BOOKERS)
def calendar_move(request, pk: int):
    appointment = get_object_or_404(
        Appointment.objects.visible_to(request.membership).select_related("clinician", "practice"), pk=pk
    )
    require_manage_appointment(request.membership, appointment)
    form = MoveForm(request.POST, membership=request.membership)
    if not form.is_valid():
        return JsonResponse({"ok": False, "message": _messages(form)}, status=400)
    starts_at = form.cleaned_data["start"]
    clinician = form.cleaned_data["clinician"] or appointment.clinician
    following = form.cleaned_data["scope"] == FOLLOWING
    try:
        if following:
            moved = series_reschedule_following(
                appointment=appointment, starts_at=starts_at, clinician=clinician, by=request.user
            )
        else:
            moved = [
                appointment_reschedule(
                    appointment=appointment,
                    starts_at=starts_at,
                    ends_at=starts_at + appointment.duration,
                    clinician=clinician,
                    by=request.user,
                )
            ]
    except ValidationError as error:
        return JsonResponse({"ok": False, "message": " ".join(error.messages)}, status=400)
    tz = request.practice.zoneinfo
    label = moved[0].starts_at.astimezone(tz).strftime("%a %b %-d, %-I:%M %p")
    message = f"Moved to {label} with {clinician.display_name}."
    if len(moved) > 1:
        message = f"Moved {len(moved)} sessions; the first is now {label} with {clinician.display_name}."
    return JsonResponse(
        {
            "ok": True,
            "message": message,
            "ids": [row.pk for row in moved],
            "url": reverse("appointment_detail", args=[moved[0].pk]),
        }
    )


def _messages(form: forms.Form) -> str:
    return " ".join(message for errors in form.errors.values() for message in errors)
