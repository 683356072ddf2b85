"""What the staff pages show about each session: per-participant live status, read in a fixed
number of queries however many sessions the day holds.

The rules that turn stored facts into a status (``presence_of``, ``Reminders``) are pure
functions of their inputs, so they are tested with hand-built values; ``session_rows`` is the one
selector that loads those facts for a list of appointments. This module only reads.

It lives in ``staff`` (the top of the house) because it reads every other app: scheduling
(appointments, attendance, queue items), telehealth (tech checks, meetings), the outbox through
``messaging.services`` and the waitlist's refilled slots.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db.models import CharField, Count
from django.db.models.functions import Cast
from django.urls import reverse

from messaging.services import message_states_by_participant
from practice.models import Modality, PreferredChannel
from scheduling.models import (
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    FollowUp,
)
from scheduling.models.appointments import UPCOMING_STATUSES
from scheduling.services import LATE_JOIN_AFTER
from telehealth.models import TechCheckResult
from telehealth.techcheck_rules import staff_wording
from waitlist.models import FreedSlot, OfferStatus, SlotStatus

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


class TechCheckRun(NamedTuple):
    """One stored tech-check result, as read for the board (values, not a model instance)."""

    pk: int
    participant_id: int
    passed: bool
    problems: list
    created_at: datetime


def tech_check_of(results: list[TechCheckRun]) -> TechCheck:
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


@dataclass(frozen=True, slots=True)
class SessionLinks:
    detail: str
    host_join: str
    reschedule: str
    cancel: str


@dataclass(frozen=True, slots=True)
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

    def of_session(self, session: SessionFacts) -> SessionLinks:
        pk = session.pk
        return SessionLinks(
            detail=self._detail.fill(pk),
            host_join=self._host_join.fill(pk),
            reschedule=self._reschedule.fill(pk),
            cancel=self._cancel.fill(pk),
        )

    def of_participant(self, participant: ParticipantFacts) -> ParticipantLinks:
        return ParticipantLinks(
            client=self._client.fill(participant.client_id),
            check_in=self._check_in.fill(participant.appointment_id, participant.pk),
            resend_link=self._resend_link.fill(participant.pk),
            mark_attendance=self._mark_attendance.fill(participant.pk),
        )


# --- The facts of a row, read as values --------------------------------------------------------
# The listing pages read plain values, not model instances: building an Appointment, its
# clinician, service, meeting, participants and clients per session (and parsing every client's
# phone number again) was a quarter of the board's CPU in B5's profile. These small classes carry
# what the cards show, under the names the templates already used.

STATUS_LABELS = dict(AppointmentStatus.choices)
MODALITY_LABELS = dict(Modality.choices)


def clock(moment: datetime, tz: ZoneInfo) -> str:
    """ "9:05 AM": Django's ``date:"g:i A"`` on the practice's clock, without the template filter
    machinery (read for every time on a card)."""
    local = moment.astimezone(tz)
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def day_clock(moment: datetime, tz: ZoneInfo) -> str:
    """ "Wed Jun 10, 9:05 AM": ``date:"D M j, g:i A"`` on the practice's clock."""
    local = moment.astimezone(tz)
    return f"{local:%a %b} {local.day}, {clock(local, tz)}"


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a card shows of one appointment."""

    pk: int
    starts_at: datetime
    ends_at: datetime
    status: str
    modality: str
    clinician_id: int
    clinician_name: str
    service_name: str
    meeting_state: str | None

    @property
    def is_upcoming(self) -> bool:
        return self.status in UPCOMING_STATUSES

    def get_status_display(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    def get_modality_display(self) -> str:
        return MODALITY_LABELS.get(self.modality, self.modality)


@dataclass(frozen=True, slots=True)
class ClientFacts:
    pk: int
    first_name: str
    last_name: str
    preferred_name: str
    phone_e164: str  # stored as E.164 (PHONENUMBER_DB_FORMAT), "" without one
    text_channel: str  # as ``Client.text_channel``: "sms", "email" or ""

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def greeting_name(self) -> str:
        return self.preferred_name or self.first_name


@dataclass(frozen=True, slots=True)
class ParticipantFacts:
    pk: int
    appointment_id: int
    client_id: int
    attendance: str
    joined_at: datetime | None


SESSION_FIELDS = {
    "pk": "pk",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "status": "status",
    "modality": "modality",
    "clinician_id": "clinician_id",
    "clinician_name": "clinician__display_name",
    "service_name": "service_type__name",
    "meeting_state": "meeting__state",
}

PARTICIPANT_FIELDS = (
    "pk",
    "appointment_id",
    "client_id",
    "attendance",
    "joined_at",
    "client__first_name",
    "client__last_name",
    "client__preferred_name",
    "client__email",
    "client__sms_consent_at",
    "client__preferred_channel",
)


def _text_channel(*, phone: str, email: str, sms_consent_at, preferred_channel: str) -> str:
    """``Client.text_channel`` on read values (the rule is the model's; tested against it)."""
    if phone and sms_consent_at is not None and preferred_channel != PreferredChannel.EMAIL:
        return "sms"
    return "email" if email else ""


def _session_facts(appointments) -> list[SessionFacts]:
    return [
        SessionFacts(*row)
        for row in appointments.values_list(*SESSION_FIELDS.values()).order_by(
            "starts_at", "clinician__display_name", "pk"
        )
    ]


def _participants_of(session_ids: list[int]) -> dict[int, list[tuple[ParticipantFacts, ClientFacts]]]:
    """Each session's participants and their clients, in one query. The phone number is read as
    the stored text (E.164), not parsed into a PhoneNumber per client."""
    rows = (
        AppointmentParticipant.objects.filter(appointment_id__in=session_ids)
        .annotate(phone_text=Cast("client__phone", CharField()))
        .values_list(*PARTICIPANT_FIELDS, "phone_text")
        .order_by("appointment_id", "client__last_name", "client__first_name", "pk")
    )
    by_session: dict[int, list[tuple[ParticipantFacts, ClientFacts]]] = defaultdict(list)
    for pk, session_id, client_id, attendance, joined_at, *names, email, consent, channel, phone in rows:
        phone = phone or ""
        channel = _text_channel(phone=phone, email=email, sms_consent_at=consent, preferred_channel=channel)
        by_session[session_id].append(
            (
                ParticipantFacts(pk, session_id, client_id, attendance, joined_at),
                ClientFacts(client_id, *names, phone, channel),
            )
        )
    return by_session


# --- Loading a list of sessions ----------------------------------------------------------------


@dataclass(slots=True)
class ParticipantRow:
    participant: ParticipantFacts
    client: ClientFacts
    presence: Presence
    reminders: Reminders
    tech_check: TechCheck
    open_items: int  # open Needs-attention items of this client in this session
    links: ParticipantLinks

    @property
    def phone_e164(self) -> str:
        return self.client.phone_e164


ACTIVE_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED, AppointmentStatus.IN_PROGRESS)


@dataclass(slots=True)
class SessionRow:
    appointment: SessionFacts
    participants: list[ParticipantRow]
    is_live: bool = False  # not over, not cancelled: the join link still matters
    has_started: bool = False  # started and still counts: attendance can be marked
    refilled: bool = False  # the waitlist filled this time after a cancellation (#16)
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

    def version(self, now: datetime) -> str:
        """A fingerprint of everything the card shows at ``now``: the live refresh sends back the
        versions it has, and a card whose version did not change is neither rendered nor sent
        again (``staff.cards``). Statuses that depend on the clock (late, due) are in it."""
        note = self.note_reminder
        facts = (
            self.appointment,
            self.is_live,
            self.has_started,
            self.refilled,
            (note.state, note.sent_at) if note is not None else None,
            [
                (
                    row.participant,
                    row.client,
                    row.presence,
                    sorted(row.reminders.counts.items()),
                    row.reminders.next_due_at
                    if row.reminders.next_due_at and row.reminders.next_due_at > now
                    else None,
                    row.tech_check,
                    row.open_items,
                )
                for row in self.participants
            ],
        )
        return hashlib.blake2b(repr(facts).encode(), digest_size=8).hexdigest()


def sessions_between(appointments, start: datetime, end: datetime):
    """Sessions starting in [start, end). Rescheduled rows are left out: their replacement is on
    the list at its new time. ``session_rows`` reads them as values, earliest first."""
    return appointments.filter(starts_at__gte=start, starts_at__lt=end).exclude(
        status=AppointmentStatus.RESCHEDULED
    )


def session_rows(appointments, *, now: datetime) -> list[SessionRow]:
    """Status rows for ``appointments`` (a queryset from ``sessions_between``): the sessions, their
    participants, and one query each for the participants' messages, tech checks and open queue
    items and for the sessions the waitlist refilled, whatever the number of rows."""
    sessions = _session_facts(appointments)
    session_ids = [session.pk for session in sessions]
    participants = _participants_of(session_ids)
    participant_ids = [p.pk for rows in participants.values() for p, _ in rows]
    messages = message_states_by_participant(participant_ids=participant_ids)
    checks = _latest_tech_checks(participant_ids)
    items = dict(
        FollowUp.objects.open()
        .filter(participant_id__in=participant_ids)
        .values_list("participant_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    refilled = refilled_sessions(session_ids)
    links = RowLinks()
    return [
        SessionRow(
            appointment=session,
            participants=[
                ParticipantRow(
                    participant=participant,
                    client=client,
                    presence=presence_of(
                        appointment_status=session.status,
                        attendance=participant.attendance,
                        joined_at=participant.joined_at,
                        starts_at=session.starts_at,
                        ends_at=session.ends_at,
                        now=now,
                    ),
                    reminders=_reminders(messages.get(participant.pk, {})),
                    tech_check=checks.get(participant.pk, NO_TECH_CHECK),
                    open_items=items.get(participant.pk, 0),
                    links=links.of_participant(participant),
                )
                for participant, client in participants.get(session.pk, ())
            ],
            is_live=session.status in ACTIVE_STATUSES and now < session.ends_at,
            has_started=now >= session.starts_at
            and session.status not in (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED),
            refilled=session.pk in refilled,
            links=links.of_session(session),
        )
        for session in sessions
    ]


def _latest_tech_checks(participant_ids: list[int]) -> dict[int, TechCheck]:
    """Each participant's tech check as the latest run decides (``tech_check_of``), one query."""
    runs: dict[int, list[TechCheckRun]] = defaultdict(list)
    for run in TechCheckResult.objects.filter(participant_id__in=participant_ids).values_list(
        "pk", "participant_id", "passed", "problems", "created_at"
    ):
        runs[run[1]].append(TechCheckRun(*run))
    return {participant_id: tech_check_of(results) for participant_id, results in runs.items()}


def refilled_sessions(session_ids: list[int]) -> set[int]:
    """Which of these sessions the waitlist refilled: a freed slot it filled through an accepted
    offer (the rule of ``waitlist.metrics.refill_figures``; a slot staff booked over is not one).
    One query."""
    return set(
        FreedSlot.objects.filter(
            filled_appointment_id__in=session_ids,
            status=SlotStatus.FILLED,
            offers__status=OfferStatus.ACCEPTED,
        )
        .values_list("filled_appointment_id", flat=True)
        .distinct()
    )


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
