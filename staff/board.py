"""What the staff pages show about each session: per-participant live status, read in a fixed
number of queries however many sessions the day holds.

The rules that turn stored facts into a status (``presence_of``, ``Reminders``) are pure
functions of their inputs, so they are tested with hand-built values; ``session_rows`` is the one
selector that loads those facts for a list of appointments. This module only reads.

The dashboard lives in the tenant app (ARCHITECTURE.md) because it reads every other app:
scheduling (appointments, attendance, queue items), telehealth (tech checks, meetings) and the
outbox through ``messaging.services``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from django.db.models import Prefetch
from django.urls import reverse

from messaging.services import message_states_by_participant
from scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    FollowUp,
)
from scheduling.services import LATE_JOIN_AFTER
from telehealth.models import TechCheckResult
from telehealth.techcheck_rules import staff_wording

# --- Day boundaries ------------------------------------------------------------------------------


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day as aware datetimes. Built from local midnights, so a
    DST day is 23 or 25 hours long, as it is on the wall clock."""
    return datetime.combine(day, time.min, tzinfo=tz), datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=tz
    )


def week_of(day: date) -> tuple[date, date]:
    """(Monday, next Monday) of the week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=7)


# --- Pure status rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Presence:
    """Where a participant stands for this session, in words a front desk uses."""

    key: str  # stable, used in CSS classes and tests
    label: str
    tone: str  # ok | warn | danger | neutral | info

    @property
    def needs_action(self) -> bool:
        return self.tone in ("warn", "danger")


def presence_of(
    *,
    appointment_status: str,
    attendance: str,
    joined_at: datetime | None,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> Presence:
    """Joined, late, no-show, … for one participant at ``now``.

    "Late" while not joined uses the same five minutes as the join rule
    (scheduling.services.LATE_JOIN_AFTER) and the T+5 clinician prompt."""
    if appointment_status == AppointmentStatus.RESCHEDULED:
        return Presence("moved", "Moved to another time", "neutral")
    if appointment_status == AppointmentStatus.CANCELLED or attendance == Attendance.CANCELLED:
        return Presence("cancelled", "Cancelled", "neutral")
    if attendance == Attendance.NO_SHOW:
        return Presence("no_show", "No-show", "danger")
    if joined_at is not None:
        if attendance == Attendance.LATE:
            return Presence("joined_late", "Joined late", "ok")
        return Presence("joined", "Joined", "ok")
    if attendance == Attendance.ATTENDED:
        return Presence("attended", "Attended", "ok")
    if attendance == Attendance.LATE:
        return Presence("attended_late", "Attended late", "ok")
    if appointment_status == AppointmentStatus.NO_SHOW:
        return Presence("no_show", "No-show", "danger")
    if appointment_status == AppointmentStatus.COMPLETED:
        return Presence("not_marked", "Attendance not marked", "warn")
    if now < starts_at:
        return Presence("upcoming", "Not started", "neutral")
    if now < starts_at + LATE_JOIN_AFTER:
        return Presence("due", "Not joined yet", "info")
    if now < ends_at:
        return Presence("late", "Late: not joined", "danger")
    return Presence("not_joined", "Did not join: mark attendance", "warn")


SENT_STATES = frozenset({"accepted", "delivered", "undelivered", "unknown"})
PROBLEM_STATES = frozenset({"failed", "undelivered", "unknown"})


@dataclass(frozen=True)
class Reminders:
    """The client's messages for one session, by outbox state (fallback e-mails included)."""

    counts: dict[str, int] = field(default_factory=dict)
    next_due_at: datetime | None = None

    def count(self, *states: str) -> int:
        return sum(self.counts.get(state, 0) for state in states)

    @property
    def sent(self) -> int:
        return self.count(*SENT_STATES)

    @property
    def delivered(self) -> int:
        return self.count("delivered")

    @property
    def failed(self) -> int:
        return self.count("failed", "undelivered")

    @property
    def unknown(self) -> int:
        return self.count("unknown")

    @property
    def pending(self) -> int:
        return self.count("planned", "claimed", "sending")

    @cached_property  # read twice per row (tone, label) and again by ``SessionRow.needs_action``
    def summary(self) -> Presence:
        """One line for the board: problems first, then what got through."""
        if self.failed:
            return Presence("failed", f"{self.failed} failed", "danger")
        if self.unknown:
            return Presence("unknown", f"{self.unknown} not confirmed", "warn")
        if self.delivered:
            return Presence("delivered", f"{self.delivered} of {self.sent} delivered", "ok")
        if self.sent:
            return Presence("sent", f"{self.sent} sent", "info")
        if self.pending:
            return Presence("planned", "Planned", "neutral")
        return Presence("none", "None", "neutral")


@dataclass(frozen=True)
class TechCheck:
    key: str  # passed | failed | none
    label: str
    tone: str
    problems: tuple[str, ...] = ()  # plain-language, for staff
    at: datetime | None = None


NO_TECH_CHECK = TechCheck("none", "Not taken", "neutral")


def tech_check_of(results: list[TechCheckResult]) -> TechCheck:
    """The latest run decides: a client who fixed their camera and passed is fine now."""
    if not results:
        return NO_TECH_CHECK
    latest = max(results, key=lambda result: (result.created_at, result.pk))
    if latest.passed:
        return TechCheck("passed", "Passed", "ok", at=latest.created_at)
    return TechCheck(
        "failed", "Failed", "danger", problems=tuple(staff_wording(latest.problems)), at=latest.created_at
    )


# --- Links of a row ----------------------------------------------------------------------------

# A made-up id, digits only so the URL patterns' int converters accept it, and far above real ids.
STAND_IN_ID = 900_000_000_000_000_001


class LinkPattern:
    """One URL name reversed once per page with stand-in ids; ``fill`` puts a row's ids in.

    ``reverse`` (``{% url %}``) walks the resolver's candidates, converters and quoting for every
    call: ~220 calls and a fifth of the board's rendering time for 40 sessions (B5's profile).
    A string replacement per link gives the same URL."""

    def __init__(self, name: str, arity: int = 1):
        ids = [STAND_IN_ID + offset for offset in range(arity)]
        self._stand_ins = [str(pk) for pk in ids]
        self._url = reverse(name, args=ids)

    def fill(self, *ids: int) -> str:
        url = self._url
        for stand_in, pk in zip(self._stand_ins, ids, strict=True):
            url = url.replace(stand_in, str(pk), 1)
        return url


@dataclass(frozen=True)
class SessionLinks:
    detail: str
    host_join: str
    reschedule: str
    cancel: str


@dataclass(frozen=True)
class ParticipantLinks:
    client: str
    check_in: str
    resend_link: str
    mark_attendance: str


class RowLinks:
    """The links a session card shows, for every row of one page."""

    def __init__(self):
        self._detail = LinkPattern("appointment_detail")
        self._host_join = LinkPattern("host_join")
        self._reschedule = LinkPattern("appointment_reschedule")
        self._cancel = LinkPattern("appointment_cancel")
        self._client = LinkPattern("client_detail")
        self._check_in = LinkPattern("appointment_check_in", arity=2)
        self._resend_link = LinkPattern("participant_resend_link")
        self._mark_attendance = LinkPattern("participant_mark_attendance")

    def of_session(self, appointment: Appointment) -> SessionLinks:
        pk = appointment.pk
        return SessionLinks(
            detail=self._detail.fill(pk),
            host_join=self._host_join.fill(pk),
            reschedule=self._reschedule.fill(pk),
            cancel=self._cancel.fill(pk),
        )

    def of_participant(self, participant: AppointmentParticipant) -> ParticipantLinks:
        return ParticipantLinks(
            client=self._client.fill(participant.client_id),
            check_in=self._check_in.fill(participant.appointment_id, participant.pk),
            resend_link=self._resend_link.fill(participant.pk),
            mark_attendance=self._mark_attendance.fill(participant.pk),
        )


# --- Loading a list of sessions ----------------------------------------------------------------


@dataclass
class ParticipantRow:
    participant: AppointmentParticipant
    presence: Presence
    reminders: Reminders
    tech_check: TechCheck
    open_items: list[FollowUp]
    links: ParticipantLinks

    @property
    def client(self):
        return self.participant.client

    @cached_property
    def phone_e164(self) -> str:
        """The client's number for the Call and Text links, "" without one. Formatted once per row:
        asking the template for ``client.phone`` and its ``as_e164`` validated and formatted the
        number three times per client (B5's profile of the board)."""
        phone = self.client.phone
        return phone.as_e164 if phone else ""


ACTIVE_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED, AppointmentStatus.IN_PROGRESS)


@dataclass
class SessionRow:
    appointment: Appointment
    participants: list[ParticipantRow]
    is_live: bool = False  # not over, not cancelled: the join link still matters
    has_started: bool = False  # started and still counts: attendance can be marked
    note_reminder: object = None  # the clinician's note-reminder message, on clinician pages
    links: SessionLinks | None = None

    @property
    def needs_action(self) -> bool:
        return any(
            row.presence.needs_action
            or row.tech_check.key == "failed"
            or row.reminders.summary.tone == "danger"
            for row in self.participants
        )


def sessions_between(appointments, start: datetime, end: datetime):
    """Sessions starting in [start, end), earliest first, with what the rows need joined in.
    Rescheduled rows are left out: their replacement is on the list at its new time. The practice
    is not joined: the pages have it already (``request.practice``), and loading it per row parsed
    its two phone numbers again for every session (B5's profile of the board)."""
    return (
        appointments.filter(starts_at__gte=start, starts_at__lt=end)
        .exclude(status=AppointmentStatus.RESCHEDULED)
        .select_related("clinician", "service_type", "meeting")
        .prefetch_related(
            Prefetch("participants", queryset=AppointmentParticipant.objects.select_related("client"))
        )
        .order_by("starts_at", "clinician__display_name", "pk")
    )


def session_rows(appointments, *, now: datetime) -> list[SessionRow]:
    """Status rows for ``appointments`` (a queryset from ``sessions_between``): three queries for
    the participants' messages, tech checks and open queue items, whatever the number of rows."""
    appointments = list(appointments)
    participant_ids = [p.pk for a in appointments for p in a.participants.all()]
    messages = message_states_by_participant(participant_ids=participant_ids)
    checks: dict[int, list[TechCheckResult]] = defaultdict(list)
    for result in TechCheckResult.objects.filter(participant_id__in=participant_ids).only(
        "pk", "participant_id", "passed", "problems", "created_at"
    ):
        checks[result.participant_id].append(result)
    items: dict[int, list[FollowUp]] = defaultdict(list)
    for item in FollowUp.objects.open().filter(participant_id__in=participant_ids).order_by("created_at"):
        items[item.participant_id].append(item)
    links = RowLinks()
    return [
        SessionRow(
            appointment=appointment,
            participants=[
                ParticipantRow(
                    participant=participant,
                    presence=presence_of(
                        appointment_status=appointment.status,
                        attendance=participant.attendance,
                        joined_at=participant.joined_at,
                        starts_at=appointment.starts_at,
                        ends_at=appointment.ends_at,
                        now=now,
                    ),
                    reminders=_reminders(messages.get(participant.pk, {})),
                    tech_check=tech_check_of(checks.get(participant.pk, [])),
                    open_items=items.get(participant.pk, []),
                    links=links.of_participant(participant),
                )
                for participant in appointment.participants.all()
            ],
            is_live=appointment.status in ACTIVE_STATUSES and now < appointment.ends_at,
            has_started=now >= appointment.starts_at
            and appointment.status not in (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED),
            links=links.of_session(appointment),
        )
        for appointment in appointments
    ]


def _reminders(states: dict) -> Reminders:
    return Reminders(counts=states.get("counts", {}), next_due_at=states.get("next_due_at"))


@dataclass(frozen=True)
class DayTotals:
    sessions: int
    joined: int
    late: int
    no_shows: int
    tech_failed: int
    message_problems: int


def day_totals(rows: list[SessionRow]) -> DayTotals:
    participants = [
        p for row in rows for p in row.participants if p.presence.key not in ("cancelled", "moved")
    ]
    return DayTotals(
        sessions=sum(1 for row in rows if row.appointment.status != AppointmentStatus.CANCELLED),
        joined=sum(
            1
            for p in participants
            if p.presence.key in ("joined", "joined_late", "attended", "attended_late")
        ),
        late=sum(1 for p in participants if p.presence.key in ("late", "joined_late", "attended_late")),
        no_shows=sum(1 for p in participants if p.presence.key == "no_show"),
        tech_failed=sum(1 for p in participants if p.tech_check.key == "failed"),
        message_problems=sum(1 for p in participants if p.reminders.count(*PROBLEM_STATES)),
    )
