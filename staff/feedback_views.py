"""Feedback (SPEC F9 step 8): the after-session survey's averages per clinician and comments.
The figures come from messaging.after_session."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.shortcuts import render
from django.utils import timezone

from messaging import after_session
from practice import parsing
from practice.access import MANAGERS, staff_view
from practice.models import ClinicianProfile, Role

REPORT_ROLES = MANAGERS | {Role.CLINICIAN}


class ReportRangeForm(forms.Form):
    start = parsing.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = parsing.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", "The end must not be before the start.")
        return cleaned


@staff_view(REPORT_ROLES)
def survey_report(request):
    """Managers: every clinician's averages and the comments. Clinicians: their own only.
    Comments never show who wrote them."""
    tz = request.practice.zoneinfo
    today = timezone.localdate(timezone=tz)
    form = ReportRangeForm(request.GET or None)
    start_day, end_day = today - timedelta(days=30), today
    if form.is_valid():
        start_day = form.cleaned_data["start"] or start_day
        end_day = form.cleaned_data["end"] or end_day
    clinician_ids = None
    if request.membership.role == Role.CLINICIAN:
        clinician_ids = list(
            ClinicianProfile.objects.for_practice(request.practice)
            .filter(user=request.user)
            .values_list("pk", flat=True)
        )
    rows, comments = after_session.survey_report(
        practice=request.practice,
        start=datetime.combine(start_day, time.min, tzinfo=tz),
        end=datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz),
        clinician_ids=clinician_ids,
    )
    context = {
        "form": form,
        "rows": rows,
        "comments": comments,
        "start_day": start_day,
        "end_day": end_day,
        "tz": tz,
        "nav": "surveys",
    }
    return render(request, "staff/survey_report.html", context)
