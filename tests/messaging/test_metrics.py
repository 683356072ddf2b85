"""The metrics page's figures (SPEC F17) against hand-built sessions with known answers, the
lift statistics (SPEC F18) against published worked examples, the page's roles and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from messaging.metrics import (
    Lift,
    Period,
    attendance_by_clinician,
    attendance_by_modality,
    attendance_by_week,
    attendance_total,
    default_period,
    deliverability_by_channel,
    metrics_report,
    newcombe_difference,
    revenue_estimate,
    telehealth_figures,
    utilization_by_clinician,
    wilson_interval,
)
from messaging.models import HoldoutAssignment, OutboxMessage
from messaging.services import sequence_for
from practice.models import Client, Role
from scheduling.models import Appointment, AppointmentParticipant
from telehealth.models import TechCheckResult
from tests.conftest import make_user, verified_session

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
_clients = count()


def ny(*args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK, fold=fold)


def new_client(practice) -> Client:
    n = next(_clients)
    return Client.objects.create(practice=practice, first_name=f"C{n}", last_name="Test")


def session(
    practice,
    clinician,
    service_type,
    starts_at,
    *,
    status="completed",
    attendance="expected",
    clients=None,
    modality="telehealth",
    minutes=50,
    late_cancel=False,
    joined_at=None,
    fee="150.00",
):
    """An appointment as history left it (built directly: the services refuse to book the past)."""
    appointment = Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status=status,
        modality=modality,
        fee=Decimal(fee),
        is_late_cancel=late_cancel,
    )
    participants = [
        AppointmentParticipant.objects.create(
            appointment=appointment, client=client, attendance=attendance, joined_at=joined_at
        )
        for client in (clients or [new_client(practice)])
    ]
    return appointment, participants


def period(start: date, end: date) -> Period:
    return Period(start=start, end=end, tz=NEW_YORK)


# --- Weeks in the practice's time zone --------------------------------------------------------------


def test_a_sunday_night_session_counts_in_its_local_week_not_the_utc_one(practice, clinician, service_type):
    # Sunday March 15, 23:30 in New York is Monday 03:30 UTC: it belongs to the week of March 9.
    sunday_night = ny(2026, 3, 15, 23, 30)
    assert sunday_night.astimezone(UTC).weekday() == 0
    session(practice, clinician, service_type, sunday_night, status="no_show", attendance="no_show")
    session(practice, clinician, service_type, ny(2026, 3, 16, 0, 30))  # Monday: the next week
    weeks = attendance_by_week(practice=practice, period=period(date(2026, 3, 9), date(2026, 3, 22)))
    assert [(w.key, w.attended, w.no_show) for w in weeks] == [("2026-03-09", 0, 1), ("2026-03-16", 1, 0)]


def test_the_spring_forward_week_holds_every_session_of_its_sunday(practice, clinician, service_type):
    # 2026-03-08: clocks go from 02:00 EST to 03:00 EDT; the week of March 2 is an hour short.
    session(practice, clinician, service_type, ny(2026, 3, 8, 1, 30), status="no_show", attendance="no_show")
    session(practice, clinician, service_type, ny(2026, 3, 8, 3, 30), attendance="attended")
    session(practice, clinician, service_type, ny(2026, 3, 8, 23, 30), status="no_show", attendance="no_show")
    session(practice, clinician, service_type, ny(2026, 3, 9, 0, 15), attendance="late")
    weeks = attendance_by_week(practice=practice, period=period(date(2026, 3, 2), date(2026, 3, 15)))
    assert [(w.key, w.attended, w.no_show) for w in weeks] == [("2026-03-02", 1, 2), ("2026-03-09", 1, 0)]
    assert weeks[0].no_show_rate == pytest.approx(2 / 3)
    assert weeks[1].no_show_rate == 0


def test_the_fall_back_sunday_ends_the_period_at_local_midnight(practice, clinician, service_type):
    # 2026-11-01 is 25 hours long; its 23:30 session (Nov 2, 04:30 UTC) is still inside a period
    # ending that day, and one on Monday 00:10 is not.
    session(practice, clinician, service_type, ny(2026, 11, 1, 1, 30))  # first 01:30 (EDT)
    session(practice, clinician, service_type, ny(2026, 11, 1, 1, 30, fold=1))  # second 01:30 (EST)
    session(
        practice, clinician, service_type, ny(2026, 11, 1, 23, 30), status="no_show", attendance="no_show"
    )
    session(practice, clinician, service_type, ny(2026, 11, 2, 0, 10), status="no_show", attendance="no_show")
    weeks = attendance_by_week(practice=practice, period=period(date(2026, 10, 26), date(2026, 11, 1)))
    assert [(w.key, w.attended, w.no_show) for w in weeks] == [("2026-10-26", 2, 1)]


def test_weeks_without_sessions_show_as_empty_not_missing(practice, clinician, service_type):
    session(practice, clinician, service_type, ny(2026, 3, 18, 10))
    weeks = attendance_by_week(practice=practice, period=period(date(2026, 3, 2), date(2026, 3, 29)))
    assert [w.key for w in weeks] == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    assert weeks[0].no_show_rate is None and weeks[2].attended == 1


def test_default_period_is_the_last_twelve_weeks_in_local_days(practice):
    chosen = default_period(practice=practice, now=datetime(2026, 6, 1, 2, 0, tzinfo=UTC))  # May 31 in NY
    assert (chosen.start, chosen.end) == (date(2026, 3, 9), date(2026, 5, 31))
    assert chosen.week_count == 12


# --- No-shows and late cancellations ----------------------------------------------------------------


@pytest.fixture
def march(practice, clinician, other_clinician, service_type, other_practice):
    """Dr. Smith: 3 attended (one in person), 1 no-show, 1 late cancel, 1 early cancel, 1 moved.
    Dr. Jones: a group of 3 with one no-show; a session marked no-show as a whole.
    Harbor Therapy's no-show must never count."""
    day = ny(2026, 3, 10, 9)
    hour = timedelta(hours=1)
    session(practice, clinician, service_type, day, attendance="attended")
    session(practice, clinician, service_type, day + hour, attendance="late")
    session(practice, clinician, service_type, day + 2 * hour, modality="in_person", fee="100.00")
    session(practice, clinician, service_type, day + 3 * hour, status="no_show", attendance="no_show")
    session(practice, clinician, service_type, day + 4 * hour, status="cancelled", late_cancel=True)
    session(practice, clinician, service_type, day + 5 * hour, status="cancelled")
    session(practice, clinician, service_type, day + 6 * hour, status="rescheduled")
    group = [new_client(practice) for _ in range(3)]
    _, participants = session(
        practice, other_clinician, service_type, day, clients=group, minutes=90, fee="60.00"
    )
    participants[0].attendance = "no_show"
    participants[0].save()
    session(practice, other_clinician, service_type, day + 3 * hour, status="no_show")
    other = other_practice.clinicians.create(display_name="Dr. Elsewhere")
    other_service = other_practice.service_types.create(name="Therapy")
    session(other_practice, other, other_service, day, status="no_show", attendance="no_show")
    return period(date(2026, 3, 9), date(2026, 3, 15))


def test_no_show_and_late_cancel_rates_overall(practice, march):
    total = attendance_total(practice=practice, period=march)
    # attended: 3 Smith + 2 of the group = 5; no-shows: 1 Smith + 1 group + 1 whole session = 3
    assert (total.attended, total.no_show, total.cancelled, total.late_cancel) == (5, 3, 2, 1)
    assert total.no_show_rate == pytest.approx(3 / 8)
    assert total.late_cancel_rate == pytest.approx(1 / 10)


def test_rates_by_clinician_and_by_modality(practice, march):
    by_clinician = {row.label: row for row in attendance_by_clinician(practice=practice, period=march)}
    assert by_clinician["Dr. Smith"].no_show_rate == pytest.approx(1 / 4)
    assert by_clinician["Dr. Smith"].late_cancel_rate == pytest.approx(1 / 6)
    assert by_clinician["Dr. Jones"].no_show_rate == pytest.approx(2 / 4)
    by_modality = {row.key: row for row in attendance_by_modality(practice=practice, period=march)}
    assert (by_modality["in_person"].attended, by_modality["in_person"].no_show) == (1, 0)
    assert (by_modality["telehealth"].attended, by_modality["telehealth"].no_show) == (4, 3)


def test_utilization_is_attended_minutes_of_booked_minutes(practice, march):
    rows = {row.clinician: row for row in utilization_by_clinician(practice=practice, period=march)}
    smith = rows["Dr. Smith"]
    # Booked: 3 attended + 1 no-show + 1 late cancel (the early cancel and the move freed the slot).
    assert (smith.booked_sessions, smith.attended_sessions) == (5, 3)
    assert (smith.booked_minutes, smith.attended_minutes) == (250, 150)
    assert smith.rate == pytest.approx(0.6)
    assert smith.sessions_per_week == pytest.approx(3.0)
    jones = rows["Dr. Jones"]
    assert (jones.booked_minutes, jones.attended_minutes) == (140, 90)


def test_revenue_recovered_against_the_practice_baseline(practice, march):
    assert revenue_estimate(practice=practice, period=march).recovered is None  # no baseline yet
    practice.baseline_no_show_rate = Decimal("50")
    estimate = revenue_estimate(practice=practice, period=march)
    # 8 client sessions due: fees 150+150+100+150 (Smith) + 3x60 (group) + 150 (whole no-show)
    assert estimate.sessions == 8 and estimate.fees == Decimal("880.00")
    assert estimate.measured_rate == pytest.approx(3 / 8)
    assert estimate.recovered == Decimal("110.00")  # (0.5 - 0.375) x 880
    assert estimate.no_shows_avoided == pytest.approx(1.0)


# --- Telehealth: tech check and joining ------------------------------------------------------------


def test_tech_check_completion_pass_and_join_on_time(practice, clinician, service_type):
    start = ny(2026, 3, 10, 9)
    hour = timedelta(hours=1)
    _, (a,) = session(practice, clinician, service_type, start, joined_at=start - timedelta(minutes=2))
    _, (b,) = session(
        practice, clinician, service_type, start + hour, joined_at=start + hour + timedelta(minutes=5)
    )
    _, (c,) = session(
        practice, clinician, service_type, start + 2 * hour, joined_at=start + 2 * hour + timedelta(minutes=6)
    )
    session(practice, clinician, service_type, start + 3 * hour, status="no_show", attendance="no_show")
    session(practice, clinician, service_type, start + 4 * hour, modality="in_person")  # not telehealth
    session(practice, clinician, service_type, start + 5 * hour, status="cancelled")  # not counted
    for participant, results in ((a, [False, True]), (b, [True]), (c, [False])):
        for passed in results:
            TechCheckResult.objects.create(practice=practice, participant=participant, passed=passed)
    figures = telehealth_figures(practice=practice, period=period(date(2026, 3, 9), date(2026, 3, 15)))
    assert (figures.eligible, figures.checked, figures.passed) == (4, 3, 2)
    assert (figures.joined, figures.joined_on_time) == (3, 2)
    assert figures.completion_rate == pytest.approx(0.75)
    assert figures.pass_rate == pytest.approx(2 / 3)
    assert figures.on_time_rate == pytest.approx(2 / 3)


# --- Deliverability ----------------------------------------------------------------------------------


def test_deliverability_by_channel_from_outbox_states(practice, clinician, service_type):
    appointment, _ = session(practice, clinician, service_type, ny(2026, 3, 10, 9))
    states = {
        "sms": ["delivered", "delivered", "delivered", "undelivered", "accepted", "skipped", "planned"],
        "email": ["accepted", "accepted", "failed", "cancelled"],
    }
    for channel, channel_states in states.items():
        for n, state in enumerate(channel_states):
            OutboxMessage.objects.create(
                practice=practice,
                appointment=appointment,
                recipient_key="clinician",
                kind=f"{channel}-{n}",
                channel=channel,
                due_at=ny(2026, 3, 10, 8),
                state=state,
            )
    rows = {
        row.channel: row
        for row in deliverability_by_channel(
            practice=practice, period=period(date(2026, 3, 9), date(2026, 3, 15))
        )
    }
    sms, email = rows["sms"], rows["email"]
    assert (sms.delivered, sms.accepted, sms.undelivered, sms.skipped, sms.pending) == (3, 1, 1, 1, 1)
    assert sms.deliverability == pytest.approx(4 / 5) and sms.confirmed_rate == pytest.approx(3 / 5)
    assert (email.accepted, email.undelivered, email.cancelled) == (2, 1, 1)
    assert email.deliverability == pytest.approx(2 / 3)


# --- Measured lift -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
        (56, 70, 48, 80, (0.2000, 0.0524, 0.3339)),
        (9, 10, 3, 10, (0.6000, 0.1705, 0.8090)),
        (5, 56, 0, 29, (0.0893, -0.0381, 0.1926)),
    ],
)
def test_newcombe_interval_matches_the_published_examples(x1, n1, x2, n2, expected):
    assert newcombe_difference(x1, n1, x2, n2) == pytest.approx(expected, abs=5e-5)


def test_wilson_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:857-872: 81/263 -> 0.2553 to 0.3662.
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)


def make_lift(held_out, held_no_shows, sent, sent_no_shows) -> Lift:
    return Lift("T-24h text", "t24_sms", 10, held_out, held_no_shows, sent, sent_no_shows)


def test_lift_says_plainly_when_the_sample_is_too_small():
    lift = make_lift(12, 4, 200, 20)
    assert not lift.enough and not lift.conclusive
    assert lift.verdict.startswith("Too few sessions to conclude")


def test_lift_says_no_clear_effect_when_the_interval_spans_zero():
    lift = make_lift(40, 6, 400, 48)  # 15% vs 12%
    _, lower, upper = lift.difference
    assert lower < 0 < upper and not lift.conclusive
    assert lift.verdict.startswith("No clear effect yet")


def test_lift_reports_a_clear_effect_with_its_interval():
    lift = make_lift(80, 56, 70, 48)  # the published example, arms swapped to match the page
    assert lift.held_out_rate == pytest.approx(0.7) and lift.sent_rate == pytest.approx(48 / 70)
    lift = make_lift(70, 56, 80, 48)
    assert lift.conclusive
    assert lift.verdict == "This step lowers the no-show rate by 20.0 percentage points."


def test_holdout_lifts_count_both_arms_from_recorded_assignments(practice, clinician, service_type, manager):
    step = sequence_for(practice).steps.get(key="t24_sms")
    start = ny(2026, 3, 10, 9)
    plan = (
        [(True, "no_show")] * 3 + [(True, "attended")] * 2 + [(False, "no_show")] + [(False, "attended")] * 4
    )
    for n, (held_out, attendance) in enumerate(plan):
        status = "no_show" if attendance == "no_show" else "completed"
        appointment, (participant,) = session(
            practice,
            clinician,
            service_type,
            start + timedelta(hours=n),
            status=status,
            attendance=attendance,
        )
        HoldoutAssignment.objects.create(
            practice=practice,
            step=step,
            appointment=appointment,
            participant=participant,
            held_out=held_out,
            percent=10,
            assigned_at=start,
        )
    report = metrics_report(practice=practice, period=period(date(2026, 3, 9), date(2026, 3, 15)))
    (lift,) = report.lifts
    assert (lift.held_out_sessions, lift.held_out_no_shows, lift.sent_sessions, lift.sent_no_shows) == (
        5,
        3,
        5,
        1,
    )
    assert lift.difference[0] == pytest.approx(0.4)
    assert not lift.enough


# --- Queries, CSV and the page --------------------------------------------------------------------------


def test_the_report_runs_the_same_number_of_queries_for_ten_times_the_sessions(
    practice, clinician, service_type
):
    chosen = period(date(2026, 3, 9), date(2026, 3, 15))
    session(practice, clinician, service_type, ny(2026, 3, 10, 9))
    with CaptureQueriesContext(connection) as few:
        metrics_report(practice=practice, period=chosen)
    for n in range(1, 20):
        session(
            practice,
            clinician,
            service_type,
            ny(2026, 3, 10, 9) + timedelta(hours=n),
            status="no_show",
            attendance="no_show",
        )
    with CaptureQueriesContext(connection) as many:
        report = metrics_report(practice=practice, period=chosen)
    # Each read after a change recounts the changed day (a fixed number of statements, 14 here
    # with the test's savepoints), then reads the day facts.
    assert len(many) == len(few) <= 14
    assert report.total.no_show == 19
    with CaptureQueriesContext(connection) as unchanged:
        metrics_report(practice=practice, period=chosen)
    # Nothing changed since: one look for stale days, then five reads (#14).
    assert len(unchanged) == 6


def test_csv_export_holds_the_same_figures(manager, march):
    http = verified_session(manager)
    response = http.get(reverse("metrics_csv"), {"start": "2026-03-09", "end": "2026-03-15"})
    assert response["Content-Type"].startswith("text/csv")
    assert (
        response["Content-Disposition"] == 'attachment; filename="attend-metrics-2026-03-09-2026-03-15.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "group", "measure", "numerator", "denominator", "value"]
    table = {(r[0], r[1], r[2]): r[3:] for r in rows[1:]}
    assert table[("all", "All sessions", "no_show_rate")] == ["3", "8", "0.3750"]
    assert table[("all", "All sessions", "late_cancel_rate")] == ["1", "10", "0.1000"]
    assert table[("week", "2026-03-09", "no_show_rate")] == ["3", "8", "0.3750"]
    assert table[("clinician", "Dr. Jones", "no_show_rate")] == ["2", "4", "0.5000"]
    assert table[("utilization", "Dr. Smith", "attended_minutes_of_booked")] == ["150", "250", "0.6000"]
    assert not any("Harbor" in cell or "Elsewhere" in cell for row in rows for cell in row)


@pytest.mark.parametrize("persona", ["manager", "biller", "owner"])
def test_managers_owners_and_billers_see_the_metrics(request, practice, persona, march):
    user = (
        make_user(practice, Role.OWNER, "olive@riverside.test", "Olive Owner")
        if persona == "owner"
        else request.getfixturevalue(persona)
    )
    response = verified_session(user).get(reverse("metrics"), {"start": "2026-03-09", "end": "2026-03-15"})
    assert response.status_code == 200
    assert response.context["report"].total.no_show == 3
    assert b'id="chart-weekly"' in response.content
    assert (response.context["baseline_form"] is None) == (persona == "biller")


@pytest.mark.parametrize("persona", ["front_desk", "clinician_user"])
def test_front_desk_and_clinicians_do_not_see_the_metrics(request, persona):
    http = verified_session(request.getfixturevalue(persona))
    assert http.get(reverse("metrics")).status_code == 403
    assert http.get(reverse("metrics_csv")).status_code == 403


def test_another_practices_manager_sees_only_their_own_figures(other_manager, march):
    response = verified_session(other_manager).get(
        reverse("metrics"), {"start": "2026-03-09", "end": "2026-03-15"}
    )
    assert response.context["report"].total.no_show == 1  # Harbor's own no-show only


def test_only_managers_set_the_baseline_and_bad_values_are_refused(manager, biller, practice):
    assert (
        verified_session(biller)
        .post(reverse("metrics_baseline"), {"baseline_no_show_rate": "20"})
        .status_code
        == 403
    )
    http = verified_session(manager)
    assert http.post(reverse("metrics_baseline"), {"baseline_no_show_rate": "120"}).status_code == 302
    practice.refresh_from_db()
    assert practice.baseline_no_show_rate is None
    http.post(reverse("metrics_baseline"), {"baseline_no_show_rate": "18.5"})
    practice.refresh_from_db()
    assert practice.baseline_no_show_rate == Decimal("18.5")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-15", "end": "2026-03-01"}, "end"),
        ({"start": "soon", "end": "2026-03-01"}, "start"),
        ({"start": "2020-01-01", "end": "2026-03-01"}, "end"),
    ],
)
def test_a_bad_date_range_is_a_field_error_not_a_500(manager, params, field):
    response = verified_session(manager).get(reverse("metrics"), params)
    assert response.status_code == 200
    assert field in response.context["form"].errors


@pytest.mark.parametrize(
    ("persona", "metrics_link", "reminders_link"),
    [
        ("manager", True, True),
        ("biller", True, False),
        ("front_desk", False, False),
        ("clinician_user", False, False),
    ],
)
def test_navigation_offers_the_pages_each_role_may_open(request, persona, metrics_link, reminders_link):
    page = verified_session(request.getfixturevalue(persona)).get(reverse("client_list")).content.decode()
    assert (f'href="{reverse("metrics")}"' in page) == metrics_link
    # Reminders are reached through the Settings hub (docs/administration.md).
    assert (f'href="{reverse("settings_hub")}"' in page) == reminders_link


def test_the_chart_script_collects_for_production(tmp_path, settings):
    """With DEBUG off the pages name static files through a manifest that ``collectstatic``
    builds; the vendored Chart.js named a source map the repository does not ship, which made
    ``collectstatic`` fail, so a deployment could not start. (Django's manifest storage: the
    check is its own; WhiteNoise's production class adds compression on top.)"""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)

    hashed = staticfiles_storage.url("vendor/chartjs/chart.umd.min.js")
    assert hashed.startswith("/static/vendor/chartjs/chart.umd.min.") and hashed.endswith(".js")
    assert hashed != "/static/vendor/chartjs/chart.umd.min.js"
