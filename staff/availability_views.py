"""Clinicians' availability: weekly hours and time off. A clinician edits their own; owners and
managers edit anyone's. Another practice's clinician (or, for a clinician, a colleague) is a 404.
Times are typed on the clinician's own clock (their zone, else the practice's). Saves go through
scheduling.setup_services, which refuses hours that end before they start or overlap."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from practice import parsing
from practice.access import MANAGERS, staff_view
from practice.forms import add_service_errors
from practice.models import ClinicianProfile, Role
from scheduling.models import SLOT_HOLDING_STATUSES, Appointment, TimeOff, WeeklyHours
from scheduling.models.availability import Weekday
from scheduling.setup_services import time_off_add, time_off_remove, weekly_hours_add, weekly_hours_remove

EDITORS = MANAGERS | {Role.CLINICIAN}


class WeeklyHoursForm(forms.Form):
    # Both forms share a page and field names: distinct ids keep each label on its own input.
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "hours_%s")
        super().__init__(*args, **kwargs)

    weekday = forms.TypedChoiceField(choices=Weekday.choices, coerce=int, label="Day")
    starts_at = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    ends_at = forms.TimeField(label="To", widget=forms.TimeInput(attrs={"type": "time"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("starts_at"), cleaned.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", "The hours must end after they start.")
        return cleaned


class TimeOffForm(forms.Form):
    """Times are read on the clinician's clock: the view validates inside timezone.override."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "off_%s")
        super().__init__(*args, **kwargs)

    starts_at = parsing.DateTimeField(
        label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = parsing.DateTimeField(
        label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    note = forms.CharField(required=False, max_length=100, help_text="Only staff see it, e.g. “Vacation”.")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("starts_at"), cleaned.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", "The time off must end after it starts.")
        return cleaned


def _clinician(request, pk: int) -> ClinicianProfile:
    clinician = get_object_or_404(ClinicianProfile, pk=pk, practice=request.practice)
    if request.membership.role == Role.CLINICIAN and clinician.user_id != request.user.pk:
        raise Http404("No such clinician.")
    return clinician


@staff_view(EDITORS)
def availability_index(request):
    """Managers pick a clinician; a clinician goes straight to their own hours."""
    clinicians = ClinicianProfile.objects.for_practice(request.practice).order_by(
        "-is_active", "display_name"
    )
    if request.membership.role == Role.CLINICIAN:
        own = clinicians.filter(user=request.user).first()
        if own is None:
            raise PermissionDenied("You have no clinician profile in this practice.")
        return redirect("clinician_availability", own.pk)
    return render(
        request, "staff/admin/availability_index.html", {"clinicians": clinicians, "nav": "settings"}
    )


def _page(request, clinician, *, hours_form=None, time_off_form=None, status=200):
    tz = clinician.zoneinfo
    now = timezone.now()
    time_off = list(TimeOff.objects.filter(clinician=clinician, ends_at__gt=now).order_by("starts_at"))
    for row in time_off:
        row.sessions_inside = Appointment.objects.filter(
            clinician=clinician,
            starts_at__lt=row.ends_at,
            ends_at__gt=row.starts_at,
            status__in=SLOT_HOLDING_STATUSES,
        ).count()
    context = {
        "clinician": clinician,
        "zone": tz.key,
        "hours": WeeklyHours.objects.filter(clinician=clinician).order_by("weekday", "starts_at"),
        "time_off": time_off,
        "hours_form": hours_form or WeeklyHoursForm(),
        "time_off_form": time_off_form or TimeOffForm(),
        "nav": "settings" if request.membership.role != Role.CLINICIAN else "hours",
    }
    with timezone.override(tz):
        return render(request, "staff/admin/availability.html", context, status=status)


@staff_view(EDITORS)
def clinician_availability(request, pk: int):
    clinician = _clinician(request, pk)
    return _page(request, clinician)


@require_POST
@staff_view(EDITORS)
def weekly_hours_create(request, pk: int):
    clinician = _clinician(request, pk)
    form = WeeklyHoursForm(request.POST)
    if form.is_valid():
        try:
            weekly_hours_add(clinician=clinician, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Hours added.")
            return redirect("clinician_availability", clinician.pk)
    return _page(request, clinician, hours_form=form, status=400)


@require_POST
@staff_view(EDITORS)
def weekly_hours_delete(request, pk: int, row_pk: int):
    clinician = _clinician(request, pk)
    weekly_hours_remove(row=get_object_or_404(WeeklyHours, pk=row_pk, clinician=clinician))
    messages.success(request, "Hours removed.")
    return redirect("clinician_availability", clinician.pk)


@require_POST
@staff_view(EDITORS)
def time_off_create(request, pk: int):
    clinician = _clinician(request, pk)
    form = TimeOffForm(request.POST)
    with timezone.override(clinician.zoneinfo):
        valid = form.is_valid()
    if valid:
        try:
            time_off_add(clinician=clinician, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Time off added.")
            return redirect("clinician_availability", clinician.pk)
    return _page(request, clinician, time_off_form=form, status=400)


@require_POST
@staff_view(EDITORS)
def time_off_delete(request, pk: int, row_pk: int):
    clinician = _clinician(request, pk)
    time_off_remove(row=get_object_or_404(TimeOff, pk=row_pk, clinician=clinician))
    messages.success(request, "Time off removed.")
    return redirect("clinician_availability", clinician.pk)
