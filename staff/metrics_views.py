"""The metrics page and its CSV (SPEC F17, F18).

The figures and their rules live in messaging.metrics, next to the outbox they are about; this
page only shows them. Owners and managers see it and set the baseline no-show rate; billers see it
read-only; front desk and clinicians do not.
"""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from messaging.forms import BaselineForm, MetricsPeriodForm
from messaging.metrics import MIN_PER_ARM, MetricsReport, Period, default_period, metrics_report
from practice.access import MANAGERS, staff_view
from practice.models import Role
from practice.services import practice_set_baseline_no_show_rate
from waitlist.metrics import refill_figures

# The refill figures' window, as on the staff waitlist page (waitlist.metrics.refill_figures).
REFILL_DAYS = 30

METRICS_READERS = MANAGERS | {Role.BILLER}


def _period(request) -> tuple[Period, MetricsPeriodForm]:
    """The chosen range, or the last twelve weeks when none (or a bad one) was chosen."""
    default = default_period(practice=request.practice, now=timezone.now())
    if "start" not in request.GET and "end" not in request.GET:
        return default, MetricsPeriodForm(initial={"start": default.start, "end": default.end})
    form = MetricsPeriodForm(request.GET)
    if not form.is_valid():
        return default, form
    return Period(start=form.cleaned_data["start"], end=form.cleaned_data["end"], tz=default.tz), form


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _chart_data(report: MetricsReport) -> dict:
    """What static/js/metrics-charts.js draws; the page's tables show the same numbers."""
    return {
        "weekly": {
            "labels": [row.key for row in report.by_week],
            "no_show": [_percent(row.no_show_rate) for row in report.by_week],
            "late_cancel": [_percent(row.late_cancel_rate) for row in report.by_week],
        },
        "clinicians": {
            "labels": [row.label for row in report.by_clinician],
            "no_show": [_percent(row.no_show_rate) for row in report.by_clinician],
            "late_cancel": [_percent(row.late_cancel_rate) for row in report.by_clinician],
        },
        "deliverability": {
            "labels": [row.label for row in report.deliverability],
            "delivered": [row.delivered for row in report.deliverability],
            "accepted": [row.accepted for row in report.deliverability],
            "undelivered": [row.undelivered for row in report.deliverability],
            "unknown": [row.unknown for row in report.deliverability],
        },
        "utilization": {
            "labels": [row.clinician for row in report.utilization],
            "rate": [_percent(row.rate) for row in report.utilization],
        },
    }


@staff_view(METRICS_READERS)
def metrics(request):
    period, form = _period(request)
    report = metrics_report(practice=request.practice, period=period)
    can_manage = request.membership.role in MANAGERS
    context = {
        "report": report,
        "form": form,
        "query": request.GET.urlencode(),
        "chart_data": _chart_data(report),
        "baseline_form": BaselineForm(
            initial={"baseline_no_show_rate": request.practice.baseline_no_show_rate}
        )
        if can_manage
        else None,
        "min_per_arm": MIN_PER_ARM,
        "refill": refill_figures(practice=request.practice, now=timezone.now(), days=REFILL_DAYS),
        "refill_days": REFILL_DAYS,
        "nav": "metrics",
    }
    return render(request, "staff/metrics.html", context)


@require_POST
@staff_view(MANAGERS)
def metrics_baseline(request):
    form = BaselineForm(request.POST)
    if form.is_valid():
        try:
            practice_set_baseline_no_show_rate(
                practice=request.practice, rate=form.cleaned_data["baseline_no_show_rate"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Baseline no-show rate saved.")
    else:
        messages.error(request, " ".join(form.errors.get("baseline_no_show_rate", ["Check the rate."])))
    return redirect("metrics")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def report_rows(report: MetricsReport):
    """The figures as (section, group, measure, numerator, denominator, value) rows; rates are
    fractions (0.125 = 12.5%) and empty when there is nothing to divide by."""
    yield ("section", "group", "measure", "numerator", "denominator", "value")
    for section, rows in (
        ("all", [report.total]),
        ("week", report.by_week),
        ("clinician", report.by_clinician),
        ("modality", report.by_modality),
    ):
        for row in rows:
            group = row.key if section == "week" else row.label
            yield (section, group, "no_show_rate", row.no_show, row.held_or_missed, _fmt(row.no_show_rate))
            outcomes = row.attended + row.no_show + row.cancelled
            yield (section, group, "late_cancel_rate", row.late_cancel, outcomes, _fmt(row.late_cancel_rate))
    for row in report.deliverability:
        yield (
            "deliverability",
            row.channel,
            "deliverability",
            row.delivered + row.accepted,
            row.handed_over,
            _fmt(row.deliverability),
        )
        yield (
            "deliverability",
            row.channel,
            "confirmed_delivered",
            row.delivered,
            row.handed_over,
            _fmt(row.confirmed_rate),
        )
    tele = report.telehealth
    yield (
        "telehealth",
        "all",
        "tech_check_completion",
        tele.checked,
        tele.eligible,
        _fmt(tele.completion_rate),
    )
    yield ("telehealth", "all", "tech_check_pass", tele.passed, tele.checked, _fmt(tele.pass_rate))
    yield ("telehealth", "all", "join_on_time", tele.joined_on_time, tele.joined, _fmt(tele.on_time_rate))
    for row in report.utilization:
        yield (
            "utilization",
            row.clinician,
            "attended_minutes_of_booked",
            row.attended_minutes,
            row.booked_minutes,
            _fmt(row.rate),
        )
        yield (
            "utilization",
            row.clinician,
            "sessions_per_week",
            row.attended_sessions,
            f"{row.weeks:.2f}",
            f"{row.sessions_per_week:.2f}",
        )
    revenue = report.revenue
    yield ("revenue", "all", "measured_no_show_rate", "", revenue.sessions, _fmt(revenue.measured_rate))
    yield ("revenue", "all", "baseline_no_show_rate", "", "", _fmt(revenue.baseline_rate))
    yield ("revenue", "all", "fees_of_sessions", "", revenue.sessions, f"{revenue.fees:.2f}")
    recovered = revenue.recovered
    yield ("revenue", "all", "estimated_recovered", "", "", "" if recovered is None else f"{recovered:.2f}")
    for lift in report.lifts:
        yield (
            "holdout",
            lift.step_key,
            "no_show_rate_held_out",
            lift.held_out_no_shows,
            lift.held_out_sessions,
            _fmt(lift.held_out_rate),
        )
        yield (
            "holdout",
            lift.step_key,
            "no_show_rate_with_step",
            lift.sent_no_shows,
            lift.sent_sessions,
            _fmt(lift.sent_rate),
        )
        difference = lift.difference
        for name, value in zip(
            ("difference", "ci95_lower", "ci95_upper"), difference or (None,) * 3, strict=True
        ):
            yield ("holdout", lift.step_key, name, "", "", _fmt(value))


@staff_view(METRICS_READERS)
def metrics_csv(request):
    period, _ = _period(request)
    report = metrics_report(practice=request.practice, period=period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    # The file name holds dates only: no practice or client data in headers.
    response["Content-Disposition"] = f'attachment; filename="attend-metrics-{period.start}-{period.end}.csv"'
    writer = csv.writer(response)
    writer.writerows(report_rows(report))
    return response
