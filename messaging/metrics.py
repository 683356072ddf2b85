"""The practice's figures (SPEC F17) and the measured lift of a step (SPEC F18).

The attendance, telehealth, revenue and utilization figures are read from the per-day facts
(``scheduling.DayFacts``: counts per local day, clinician and modality, kept current as sessions
change, ``scheduling.day_facts``), summed by the database per week, clinician or modality: a page
reads at most days x clinicians x modalities small rows, never the period's client sessions
(#14). Deliverability and the holdout lifts still count their own rows (outbox messages and
assignments of the period). Each function runs a fixed number of queries whatever the number of
rows. Definitions are in docs/metrics.md; the words on the page come from there.

The unit is the **client session**: one client in one appointment (a group session of four
is four client sessions), because attendance is recorded per client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum

from messaging.models import HoldoutAssignment, OutboxMessage, OutboxState
from practice.models import Modality, Practice
from scheduling import day_facts
from scheduling.day_facts import outcome_filters
from scheduling.models import AppointmentParticipant, AppointmentStatus, DayFacts

DEFAULT_WEEKS = 12
MAX_DAYS = 2 * 366
# Fewer client sessions with an outcome than this in either arm and the page says it cannot tell.
MIN_PER_ARM = 30
Z_95 = 1.959963984540054


# --- The period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local calendar days ``start``..``end`` (both included) in the practice's zone."""

    start: date
    end: date
    tz: ZoneInfo

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=self.tz)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: local midnight after the last day (23 or 25 hours away on a DST day)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.tz)

    @property
    def weeks(self) -> list[date]:
        """Mondays of every week the period touches, so weeks without sessions show as zero."""
        monday = self.start - timedelta(days=self.start.weekday())
        return [monday + timedelta(weeks=n) for n in range((self.end - monday).days // 7 + 1)]

    @property
    def week_count(self) -> float:
        return ((self.end - self.start).days + 1) / 7


def default_period(*, practice: Practice, now: datetime) -> Period:
    """The last twelve weeks up to today, in the practice's zone."""
    today = now.astimezone(practice.zoneinfo).date()
    start = today - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    return Period(start=start, end=today, tz=practice.zoneinfo)


# --- Outcomes of a client session ------------------------------------------------------------------


def rate(numerator: int | Decimal, denominator: int | Decimal) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


@dataclass(frozen=True)
class AttendanceFigures:
    label: str
    attended: int
    no_show: int
    cancelled: int
    late_cancel: int
    key: str = ""

    @property
    def held_or_missed(self) -> int:
        return self.attended + self.no_show

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among client sessions that were due to happen (attended or no-show)."""
        return rate(self.no_show, self.held_or_missed)

    @property
    def late_cancel_rate(self) -> float | None:
        """Late cancellations among client sessions with an outcome (attended, no-show, cancelled)."""
        return rate(self.late_cancel, self.attended + self.no_show + self.cancelled)


def client_sessions(*, practice: Practice, period: Period):
    """Client sessions of appointments starting in the period. A rescheduled appointment is left
    out: its replacement carries the outcome. (What the day facts count; the tests recount it.)"""
    return AppointmentParticipant.objects.filter(
        appointment__practice=practice,
        appointment__starts_at__gte=period.start_utc,
        appointment__starts_at__lt=period.end_utc,
    ).exclude(appointment__status=AppointmentStatus.RESCHEDULED)


def _attendance_row(label: str, values: dict, key: str = "") -> AttendanceFigures:
    return AttendanceFigures(
        label=label,
        key=key,
        attended=values["attended"],
        no_show=values["no_show"],
        cancelled=values["cancelled"],
        late_cancel=values["late_cancel"],
    )


TELEHEALTH_COUNTS = ("eligible", "checked", "passed", "joined", "joined_on_time")
SUMMED = {name: Sum(name) for name in day_facts.COUNTED_FIELDS}


def period_facts(*, practice: Practice, period: Period):
    """The practice's DayFacts of the period's local days, recounting its stale days first."""
    day_facts.refresh(practice)
    return DayFacts.objects.filter(practice=practice, day__gte=period.start, day__lte=period.end)


def _summed(row: dict) -> dict:
    """A row of summed facts under the report's names (None sums, of no rows, are zeros)."""
    values = {name: row.get(name) or 0 for name in day_facts.COUNTED_FIELDS}
    values["due_fees"] = row.get("due_fees") or Decimal(0)
    values["due_sessions"] = values["attended"] + values["no_show"]
    values["checked"], values["passed"] = values["tech_checked"], values["tech_passed"]
    return values


def _add(total: dict, row: dict) -> dict:
    return {name: total.get(name, 0) + value for name, value in row.items()}


def _by_day(facts) -> dict[date, dict]:
    return {row.pop("day"): _summed(row) for row in facts.values("day").annotate(**SUMMED).order_by("day")}


def client_session_totals(*, practice: Practice, period: Period) -> dict:
    """Every whole-period count over the client sessions: the outcomes (attended, no-show,
    cancelled, late cancel), the revenue inputs (client sessions due to happen and their fees) and
    the telehealth figures. Summed from the day facts.

    Telehealth figures count telehealth client sessions that were not cancelled: ``checked`` and
    ``passed`` whose client ran (passed) the tech check at least once, ``joined_on_time`` no
    later than LATE_JOIN_AFTER after the start."""
    return _totals(_by_day(period_facts(practice=practice, period=period)))


def _totals(by_day: dict[date, dict]) -> dict:
    total = _summed({})
    for row in by_day.values():
        total = _add(total, row)
    return total


def attendance_total(*, practice: Practice, period: Period) -> AttendanceFigures:
    return _attendance_row("All sessions", client_session_totals(practice=practice, period=period))


def attendance_by_week(*, practice: Practice, period: Period) -> list[AttendanceFigures]:
    """One row per local week (Monday to Sunday in the practice's zone), empty weeks included."""
    return _weeks(_by_day(period_facts(practice=practice, period=period)), period)


def _weeks(by_day: dict[date, dict], period: Period) -> list[AttendanceFigures]:
    by_week: dict[date, dict] = {}
    for day, row in by_day.items():
        monday = day - timedelta(days=day.weekday())
        by_week[monday] = _add(by_week.get(monday, {}), row)
    empty = {"attended": 0, "no_show": 0, "cancelled": 0, "late_cancel": 0}
    return [
        _attendance_row(f"Week of {monday:%b %-d, %Y}", by_week.get(monday, empty), key=monday.isoformat())
        for monday in period.weeks
    ]


def _by_clinician(facts) -> list[dict]:
    rows = (
        facts.values("clinician_id", "clinician__display_name")
        .annotate(**SUMMED)
        .order_by("clinician__display_name", "clinician_id")
    )
    return [
        {**_summed(row), "clinician_id": row["clinician_id"], "label": row["clinician__display_name"]}
        for row in rows
    ]


def attendance_by_clinician(*, practice: Practice, period: Period) -> list[AttendanceFigures]:
    return _clinician_attendance(_by_clinician(period_facts(practice=practice, period=period)))


def _clinician_attendance(rows: list[dict]) -> list[AttendanceFigures]:
    return [
        _attendance_row(row["label"], row, key=str(row["clinician_id"]))
        for row in rows
        if row["client_sessions"]
    ]


def attendance_by_modality(*, practice: Practice, period: Period) -> list[AttendanceFigures]:
    return _modality_attendance(period_facts(practice=practice, period=period))


def _modality_attendance(facts) -> list[AttendanceFigures]:
    labels = dict(Modality.choices)
    rows = facts.values("modality").annotate(**SUMMED).order_by("modality")
    return [
        _attendance_row(labels.get(modality, modality), _summed(row), key=modality)
        for row in rows
        if row["client_sessions"]
        for modality in [row["modality"]]
    ]


# --- Tech check and joining ----------------------------------------------------------------------


@dataclass(frozen=True)
class TelehealthFigures:
    eligible: int  # telehealth client sessions that were not cancelled
    checked: int  # ... whose client ran the tech check at least once
    passed: int  # ... whose client passed it at least once
    joined: int  # telehealth client sessions whose client joined
    joined_on_time: int  # ... no later than LATE_JOIN_AFTER after the start

    @property
    def completion_rate(self) -> float | None:
        return rate(self.checked, self.eligible)

    @property
    def pass_rate(self) -> float | None:
        return rate(self.passed, self.checked)

    @property
    def on_time_rate(self) -> float | None:
        return rate(self.joined_on_time, self.joined)


def telehealth_figures(*, practice: Practice, period: Period) -> TelehealthFigures:
    return _telehealth(client_session_totals(practice=practice, period=period))


def _telehealth(totals: dict) -> TelehealthFigures:
    return TelehealthFigures(**{name: totals[name] for name in TELEHEALTH_COUNTS})


# --- Clinician utilization -----------------------------------------------------------------------


@dataclass(frozen=True)
class Utilization:
    clinician: str
    booked_sessions: int
    attended_sessions: int
    booked_minutes: int
    attended_minutes: int
    weeks: float

    @property
    def rate(self) -> float | None:
        """Attended minutes / booked minutes: how much of the time clients booked was used."""
        return rate(self.attended_minutes, self.booked_minutes)

    @property
    def sessions_per_week(self) -> float:
        return self.attended_sessions / self.weeks if self.weeks else 0.0


def _minutes(seconds: int) -> int:
    return round(seconds / 60)


def utilization_by_clinician(*, practice: Practice, period: Period) -> list[Utilization]:
    """Per clinician, appointments (not client sessions): booked = every appointment starting in
    the period except those rescheduled or cancelled in good time (a late cancellation and a
    no-show still took the slot); attended = completed or in progress."""
    return _utilization(_by_clinician(period_facts(practice=practice, period=period)), period)


def _utilization(rows: list[dict], period: Period) -> list[Utilization]:
    return [
        Utilization(
            clinician=row["label"],
            booked_sessions=row["booked_sessions"],
            attended_sessions=row["attended_sessions"],
            booked_minutes=_minutes(row["booked_seconds"]),
            attended_minutes=_minutes(row["attended_seconds"]),
            weeks=period.week_count,
        )
        for row in rows
        if row["booked_sessions"]
    ]


# --- Revenue recovered ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueEstimate:
    baseline_rate: float | None  # the practice's no-show rate before Attend (0..1), if set
    measured_rate: float | None
    sessions: int  # client sessions due to happen (attended + no-show)
    fees: Decimal  # the fees of those client sessions

    @property
    def no_shows_avoided(self) -> float | None:
        if self.baseline_rate is None or self.measured_rate is None:
            return None
        return (self.baseline_rate - self.measured_rate) * self.sessions

    @property
    def recovered(self) -> Decimal | None:
        """(baseline - measured) x Σ fees = no-shows avoided x average fee."""
        if self.baseline_rate is None or self.measured_rate is None:
            return None
        difference = Decimal(str(self.baseline_rate)) - Decimal(str(self.measured_rate))
        return (difference * self.fees).quantize(Decimal("0.01"))


def revenue_estimate(*, practice: Practice, period: Period) -> RevenueEstimate:
    return _revenue(practice, client_session_totals(practice=practice, period=period))


def _revenue(practice: Practice, totals: dict) -> RevenueEstimate:
    baseline = practice.baseline_no_show_rate
    return RevenueEstimate(
        baseline_rate=float(baseline) / 100 if baseline is not None else None,
        measured_rate=rate(totals["no_show"], totals["due_sessions"]),
        sessions=totals["due_sessions"],
        fees=totals["due_fees"] or Decimal("0"),
    )


# --- Measured lift (SPEC F18) ---------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of one proportion (Newcombe 1998, method 3)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - spread) / denominator, (centre + spread) / denominator


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, float, float]:
    """(p1 - p2, lower, upper): Newcombe's hybrid score interval for a difference of two independent
    proportions (Newcombe 1998, method 10), built from each arm's Wilson interval. Unlike the Wald
    interval it stays inside [-1, 1] and behaves with small counts and rates near 0."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    difference = p1 - p2
    lower = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return difference, lower, upper


@dataclass(frozen=True)
class Lift:
    """No-shows of clients held out of a step against those who got it."""

    step_name: str
    step_key: str
    percent: int
    held_out_sessions: int
    held_out_no_shows: int
    sent_sessions: int
    sent_no_shows: int
    min_per_arm: int = MIN_PER_ARM

    @property
    def held_out_rate(self) -> float | None:
        return rate(self.held_out_no_shows, self.held_out_sessions)

    @property
    def sent_rate(self) -> float | None:
        return rate(self.sent_no_shows, self.sent_sessions)

    @property
    def enough(self) -> bool:
        return min(self.held_out_sessions, self.sent_sessions) >= self.min_per_arm

    @property
    def difference(self) -> tuple[float, float, float] | None:
        """No-show rate without the step minus with it (positive: the step prevents no-shows),
        with the 95% Newcombe interval; None while an arm is empty."""
        if not self.held_out_sessions or not self.sent_sessions:
            return None
        return newcombe_difference(
            self.held_out_no_shows, self.held_out_sessions, self.sent_no_shows, self.sent_sessions
        )

    @property
    def verdict(self) -> str:
        if not self.enough:
            return (
                f"Too few sessions to conclude: each group needs at least {self.min_per_arm} sessions with "
                f"an outcome (now {self.held_out_sessions} held out, {self.sent_sessions} with the step)."
            )
        difference, lower, upper = self.difference
        if lower <= 0 <= upper:
            return (
                "No clear effect yet: the 95% interval includes zero, so the data cannot tell whether this "
                "step changes no-shows."
            )
        if difference > 0:
            return f"This step lowers the no-show rate by {difference * 100:.1f} percentage points."
        return (
            f"Clients who got this step missed more sessions, by {-difference * 100:.1f} percentage points."
        )

    @property
    def conclusive(self) -> bool:
        if not self.enough:
            return False
        _, lower, upper = self.difference
        return not lower <= 0 <= upper


def _lift(row: dict) -> Lift:
    return Lift(
        step_name=row["step__name"],
        step_key=row["step__key"],
        percent=row["step__holdout_percent"],
        held_out_sessions=row["held_out_sessions"],
        held_out_no_shows=row["held_out_no_shows"],
        sent_sessions=row["sent_sessions"],
        sent_no_shows=row["sent_no_shows"],
    )


def holdout_lifts(*, practice: Practice, period: Period) -> list[Lift]:
    """Per step with holdout assignments, the client sessions starting in the period in each arm
    and their no-shows, in one query."""
    outcomes = outcome_filters("participant__")
    due = outcomes["attended"] | outcomes["no_show"]
    rows = (
        HoldoutAssignment.objects.for_practice(practice)
        .filter(appointment__starts_at__gte=period.start_utc, appointment__starts_at__lt=period.end_utc)
        .exclude(appointment__status=AppointmentStatus.RESCHEDULED)
        .values("step_id", "step__name", "step__key", "step__holdout_percent", "step__position")
        .annotate(
            held_out_sessions=Count("pk", filter=due & Q(held_out=True)),
            held_out_no_shows=Count("pk", filter=outcomes["no_show"] & Q(held_out=True)),
            sent_sessions=Count("pk", filter=due & Q(held_out=False)),
            sent_no_shows=Count("pk", filter=outcomes["no_show"] & Q(held_out=False)),
        )
        .order_by("step__position", "step_id")
    )
    return [_lift(row) for row in rows]


# --- Deliverability ---------------------------------------------------------------------------------

# Outbox states grouped for the deliverability figure (docs/metrics.md).
DELIVERABILITY_STATES = {
    "delivered": (OutboxState.DELIVERED,),
    "accepted": (OutboxState.ACCEPTED,),
    "undelivered": (OutboxState.UNDELIVERED, OutboxState.FAILED),
    "unknown": (OutboxState.UNKNOWN,),
    "skipped": (OutboxState.SKIPPED,),
    "cancelled": (OutboxState.CANCELLED,),
    "pending": (OutboxState.PLANNED, OutboxState.CLAIMED, OutboxState.SENDING),
}


@dataclass(frozen=True)
class Deliverability:
    channel: str
    label: str
    delivered: int  # the provider confirmed delivery (SMS status callbacks)
    accepted: int  # the provider took it and reported nothing further (e-mail, push, SMS awaiting)
    undelivered: int  # failed or reported undeliverable
    unknown: int  # may or may not have gone out (a dispatcher died while handing it over)
    skipped: int
    cancelled: int
    pending: int

    @property
    def handed_over(self) -> int:
        return self.delivered + self.accepted + self.undelivered + self.unknown

    @property
    def deliverability(self) -> float | None:
        """Messages that reached the provider without a failure report, of all handed over."""
        return rate(self.delivered + self.accepted, self.handed_over)

    @property
    def confirmed_rate(self) -> float | None:
        return rate(self.delivered, self.handed_over)


def deliverability_by_channel(*, practice: Practice, period: Period) -> list[Deliverability]:
    """Messages due in the period per channel, counted by state in one query."""
    counts = {name: Count("pk", filter=Q(state__in=states)) for name, states in DELIVERABILITY_STATES.items()}
    rows = (
        OutboxMessage.objects.for_practice(practice)
        .filter(due_at__gte=period.start_utc, due_at__lt=period.end_utc)
        .values("channel")
        .annotate(**counts)
        .order_by("channel")
    )
    labels = dict(OutboxMessage._meta.get_field("channel").choices)
    return [Deliverability(label=labels.get(row["channel"], row["channel"]), **row) for row in rows]


# --- The whole page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsReport:
    period: Period
    total: AttendanceFigures
    by_week: list[AttendanceFigures]
    by_clinician: list[AttendanceFigures]
    by_modality: list[AttendanceFigures]
    deliverability: list[Deliverability]
    telehealth: TelehealthFigures
    utilization: list[Utilization]
    revenue: RevenueEstimate
    lifts: list[Lift]


def metrics_report(*, practice: Practice, period: Period) -> MetricsReport:
    """Every figure of the metrics page and its CSV: a fixed number of queries (a recount of the
    days changed since the last read, then five reads)."""
    facts = period_facts(practice=practice, period=period)
    by_day = _by_day(facts)
    by_clinician = _by_clinician(facts)
    totals = _totals(by_day)
    return MetricsReport(
        period=period,
        total=_attendance_row("All sessions", totals),
        by_week=_weeks(by_day, period),
        by_clinician=_clinician_attendance(by_clinician),
        by_modality=_modality_attendance(facts),
        deliverability=deliverability_by_channel(practice=practice, period=period),
        telehealth=_telehealth(totals),
        utilization=_utilization(by_clinician, period),
        revenue=_revenue(practice, totals),
        lifts=holdout_lifts(practice=practice, period=period),
    )
