"""Reminder engine actions: the only way other apps touch messaging.

- ``message_plan_for`` turns a booked appointment into outbox rows (idempotent).
- ``message_withdraw_for`` withdraws what is still pending (cancel, reschedule).
- ``message_plan_cancellation_notice`` plans the one notice a cancelled session sends.
- ``messages_follow_reschedule`` / ``messages_follow_cancellation``: the two above (or the new
  time's plan) in one transaction, for the appointment event subscriber.
- ``messages_dispatch_due`` runs one dispatcher sweep (messaging.dispatch).
- ``message_record_status`` applies a provider status callback.
- ``message_send_check_in`` sends the clinician's one-tap "Are you OK to continue?" text.
- ``message_plan_no_show_notice`` plans a no-show's notice (fee per signed policy, new-time link).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from messaging import dispatch, holdout
from messaging.defaults import CHECK_IN_TEXT, NO_SHOW_NOTICE
from messaging.holdout import apply_holdouts
from messaging.kinds import (
    CANCELLATION_NOTICE,
    FALLBACK_SUFFIX,
    LINK_RESEND,
    message_plan_fallback,
)
from messaging.models import (
    Anchor,
    Audience,
    Channel,
    Condition,
    DeliveryReport,
    HoldoutAssignment,
    OutboxMessage,
    OutboxState,
    Sequence,
    Step,
)
from messaging.planning import anchor_time, applies_to_session, due_time
from messaging.sequences import sequence_for
from practice import facts
from practice.facts import Fact
from practice.models import Modality, Practice
from scheduling.lifecycle import LIVE_STATUSES
from scheduling.models import (
    UPCOMING_STATUSES,
    ActivityChannel,
    ActivityKind,
    Appointment,
    AppointmentParticipant,
)

logger = logging.getLogger(__name__)

# A no-show recorded later than this after the session gets no notice (staff catching up).
NO_SHOW_NOTICE_WITHIN = timedelta(hours=12)
# A second tap within this time is the same request (a double tap, two people at two desks).
LINK_RESEND_COOLDOWN = timedelta(minutes=2)

# Provider statuses, in the order a message moves through them. A callback never moves a
# message backwards (Twilio may deliver "sent" after "delivered").
STATUS_RANK = {
    "accepted": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
}
FINAL_STATES = {
    "delivered": OutboxState.DELIVERED,
    "undelivered": OutboxState.UNDELIVERED,
    "failed": OutboxState.UNDELIVERED,
}


# --- Sequences --------------------------------------------------------------------------------


# Editable on the sequence settings page; ``key`` and ``audience`` are not: outbox rows, client
# opt-outs and overrides refer to a step by its key.
STEP_EDITABLE_FIELDS = (
    "name",
    "position",
    "is_active",
    "anchor",
    "offset_minutes",
    "channel",
    "conditions",
    "urgent",
    "subject",
    "body",
    "attach_calendar",
    "holdout_percent",
)


def sequence_step_update(*, step: Step, changes: dict) -> Step:
    """Change a step of a practice's sequence (audit-logged through django-auditlog).

    Nothing already sent or settled is touched and nothing is re-planned: rows already planned
    keep their due time and channel; the wording is read when each message goes out, and a step
    switched off is skipped by the dispatcher (messaging.dispatch). Sessions booked from now on
    are planned with the new step."""
    unknown = set(changes) - set(STEP_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable here: {sorted(unknown)}")
    with transaction.atomic():
        step = Step.objects.select_for_update().get(pk=step.pk)
        for name, value in changes.items():
            setattr(step, name, value)
        step.full_clean()
        step.save()
        Sequence.objects.filter(pk=step.sequence_id).update(updated_at=timezone.now())
    return step


def sequence_set_languages(*, practice: Practice, languages: list[str]) -> Sequence:
    """The languages the practice offers clients for their messages, the default first
    (messaging.languages). Audit-logged with the sequence. A client whose language is no longer
    offered gets the default one from then on (nothing is re-planned)."""
    from messaging.languages import LANGUAGES

    chosen = list(dict.fromkeys(code for code in languages if code))
    unknown = [code for code in chosen if code not in LANGUAGES]
    if unknown or not chosen:
        raise ValidationError({"languages": ["Choose at least one of the languages Attend has texts in."]})
    with transaction.atomic():
        sequence = Sequence.objects.select_for_update().get(pk=sequence_for(practice).pk)
        if sequence.languages != chosen:
            sequence.languages = chosen
            sequence.save(update_fields=["languages", "updated_at"])
    return sequence


# --- Planning ---------------------------------------------------------------------------------


def _recipient_keys(step: Step, participants: list[AppointmentParticipant]):
    """(recipient key, participant) pairs a step writes to. Client steps go to every participant;
    a clinician step about one client's absence (``not_joined``) is per participant, other
    clinician steps once per session."""
    if step.audience == Audience.CLIENT:
        return [(f"client:{p.pk}", p) for p in participants]
    if Condition.NOT_JOINED in (step.conditions or ()):
        return [(f"clinician:{p.pk}", p) for p in participants]
    return [("clinician", participants[0] if participants else None)]


def _recipient_zone(step: Step, participant: AppointmentParticipant | None, appointment: Appointment):
    if step.audience == Audience.CLINICIAN or participant is None:
        return appointment.clinician.zoneinfo
    return participant.client.zoneinfo(appointment.practice)


def message_plan_for(*, appointment: Appointment, now: datetime | None = None) -> int:
    """Plan the practice's sequence for every recipient of ``appointment``; returns how many rows
    were added. Running it again adds nothing. A step whose time had already passed when the
    session was booked is recorded as skipped, with the reason, instead of being sent late."""
    return message_plan_for_id(appointment_id=appointment.pk, now=now)


SERIES_CONFIRMED_REASON = "One confirmation for the whole series, sent with its first session."
MOVED_TOGETHER_REASON = "One message for the sessions moved together, sent with the first of them."


def confirmed_with_its_series(*, series_id, series_first_starts_at, starts_at, rescheduled_from_id) -> bool:
    """A series' later sessions get no booking-time message of their own: the first session's
    confirmation lists every date and carries their calendar events. A session moved out of its
    place in the series is a reschedule and says so itself."""
    return (
        series_id is not None
        and rescheduled_from_id is None
        and series_first_starts_at is not None
        and starts_at != series_first_starts_at
    )


def booking_message_skipped_because(
    *, series_id, series_first_starts_at, starts_at, rescheduled_from_id, moved_with_id
) -> str:
    """Why a session gets no booking-time message of its own ("" if it gets one): a series' later
    session (confirmed with the first), or one moved with an earlier one ("this and following":
    the first's message tells of them all)."""
    if moved_with_id is not None:
        return MOVED_TOGETHER_REASON
    if confirmed_with_its_series(
        series_id=series_id,
        series_first_starts_at=series_first_starts_at,
        starts_at=starts_at,
        rescheduled_from_id=rescheduled_from_id,
    ):
        return SERIES_CONFIRMED_REASON
    return ""


def message_plan_for_id(*, appointment_id: int, now: datetime | None = None) -> int:
    """``message_plan_for`` by id (the event subscriber has nothing more); a session deleted
    meanwhile gets nothing."""
    now = now or timezone.now()
    appointment = (
        # The clinician's practice too: a clinician's zone falls back to it (_recipient_zone).
        Appointment.objects.select_related("practice", "clinician__user", "clinician__practice", "series")
        .filter(pk=appointment_id)
        .first()
    )
    if appointment is None or not appointment.is_upcoming:
        return 0
    participants = list(appointment.participants.select_related("client"))
    steps = [s for s in _active_steps(appointment.practice) if applies_to_session(s, appointment)]
    booked_at = min(appointment.created_at, now)
    not_alone = booking_message_skipped_because(
        series_id=appointment.series_id,
        series_first_starts_at=appointment.series.first_starts_at if appointment.series else None,
        starts_at=appointment.starts_at,
        rescheduled_from_id=appointment.rescheduled_from_id,
        moved_with_id=appointment.moved_with_id,
    )
    rows = []
    for step in steps:
        for recipient_key, participant in _recipient_keys(step, participants):
            tz = _recipient_zone(step, participant, appointment)
            due_at = due_time(step, appointment, booked_at=booked_at, tz=tz)
            passed = due_at < booked_at and step.anchor != "booking"
            if not_alone and step.anchor == "booking":
                rows.append(
                    OutboxMessage(
                        practice_id=appointment.practice_id,
                        appointment=appointment,
                        participant=participant,
                        recipient_key=recipient_key,
                        step=step,
                        kind=step.key,
                        channel=step.channel,
                        due_at=due_at,
                        state=OutboxState.SKIPPED,
                        reason=not_alone,
                        settled_at=now,
                    )
                )
                continue
            rows.append(
                OutboxMessage(
                    practice_id=appointment.practice_id,
                    appointment=appointment,
                    participant=participant,
                    recipient_key=recipient_key,
                    step=step,
                    kind=step.key,
                    channel=step.channel,
                    due_at=due_at,
                    state=OutboxState.SKIPPED if passed else OutboxState.PLANNED,
                    reason="Its time had already passed when the session was booked." if passed else "",
                    settled_at=now if passed else None,
                )
            )
    apply_holdouts(rows=rows, now=now)  # SPEC F18: a drawn share of clients skips a measured step
    # One read of the keys already planned instead of a count before and after the insert; the
    # unique key (appointment, recipient, kind) still makes a concurrent second run insert nothing.
    planned = set(OutboxMessage.objects.filter(appointment=appointment).values_list("recipient_key", "kind"))
    new_rows = [row for row in rows if (row.recipient_key, row.kind) not in planned]
    if new_rows:
        OutboxMessage.objects.bulk_create(new_rows, ignore_conflicts=True)
    return len(new_rows)


def _active_steps(practice: Practice) -> list[Step]:
    """The practice's active steps in order, in one query (with their sequence, which planning
    reads); the first time, ``sequence_for`` makes the default sequence."""
    steps = list(Step.objects.filter(sequence__practice=practice, is_active=True).select_related("sequence"))
    if steps:
        return steps
    return list(sequence_for(practice).steps.filter(is_active=True))


@dataclass(frozen=True)
class _Session:
    """What planning reads of an appointment (planning's pure functions take any such object)."""

    pk: int
    practice_id: int
    starts_at: datetime
    ends_at: datetime
    modality: str


@dataclass(frozen=True)
class _PlanStep:
    """What planning reads of a step: a plain object, so reading a thousand practices' sequences
    does not build a model instance (and its sequence) per step."""

    pk: int
    key: str
    anchor: str
    offset_minutes: int
    channel: str
    audience: str
    holdout_percent: int
    conditions: tuple[str, ...]


_PLAN_STEP_FIELDS = (
    *("pk", "key", "anchor", "offset_minutes", "channel", "audience", "holdout_percent", "conditions"),
)


def _plan_step(values: tuple) -> _PlanStep:
    *head, conditions = values
    return _PlanStep(*head, tuple(conditions or ()))


def message_plan_bulk(
    *, appointment_ids: Iterable[int], now: datetime | None = None, chunk: int = 5000
) -> int:
    """``message_plan_for`` for many appointments at once (an import, a back-fill, a new
    practice's calendar): the same rows, decided by the same pure functions, but read with one
    query per table and written with one statement per ``chunk`` appointments instead of a few
    statements per appointment. Idempotent like it; returns how many rows were added."""
    now = now or timezone.now()
    ids = sorted(set(appointment_ids))
    added = 0
    steps_of: dict[int, list[_PlanStep]] = {}
    for first in range(0, len(ids), chunk):
        rows = _bulk_rows(ids[first : first + chunk], now, steps_of)
        _apply_bulk_holdouts(rows, steps_of, now)
        added += _insert_planned(rows, now)
    return added


def _apply_bulk_holdouts(rows: list[tuple], steps_of: dict[int, list[_PlanStep]], now: datetime) -> None:
    """``apply_holdouts`` for bulk rows (SPEC F18): each planned client row of a step with a
    holdout is drawn once (stored; a stored draw wins) and a held-out one becomes skipped."""
    measured = {
        step.pk: step
        for steps in steps_of.values()
        for step in steps
        if step.holdout_percent > 0 and step.audience == Audience.CLIENT
    }
    eligible = [
        index
        for index, row in enumerate(rows)
        if row[_STEP] in measured and row[_STATE] == OutboxState.PLANNED and row[_PARTICIPANT] is not None
    ]
    if not eligible:
        return
    drawn = []
    for index in eligible:
        row = rows[index]
        percent = measured[row[_STEP]].holdout_percent
        drawn.append(
            HoldoutAssignment(
                practice_id=row[_PRACTICE],
                step_id=row[_STEP],
                appointment_id=row[_APPOINTMENT],
                participant_id=row[_PARTICIPANT],
                held_out=holdout.RANDOM.random() * 100 < percent,
                percent=percent,
                assigned_at=now,
            )
        )
    HoldoutAssignment.objects.bulk_create(drawn, ignore_conflicts=True, batch_size=1000)
    appointment_ids = list({rows[index][_APPOINTMENT] for index in eligible})
    held_out = set(
        HoldoutAssignment.objects.filter(
            appointment_id__in=_ids_in(appointment_ids), held_out=True
        ).values_list("step_id", "participant_id")
    )
    for index in eligible:
        row = rows[index]
        if (row[_STEP], row[_PARTICIPANT]) in held_out:
            rows[index] = (*row[:_STATE], OutboxState.SKIPPED, holdout.HELD_OUT_REASON, now)


def _ids_in(ids: list[int]) -> RawSQL:
    """``pk__in`` over one array parameter: Django builds one placeholder per id otherwise,
    which took longer than PostgreSQL took to run the query."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [ids])
    return ids


def _read_steps(practice_ids: set[int], steps_of: dict[int, list[_PlanStep]]) -> None:
    """The active steps of each practice, in sequence order, read once per call."""
    active = (
        Step.objects.filter(sequence__practice_id__in=practice_ids, is_active=True)
        .order_by("sequence", "position", "pk")
        .values_list("sequence__practice_id", *_PLAN_STEP_FIELDS)
    )
    for practice_id, *step in active:
        steps_of.setdefault(practice_id, []).append(_plan_step(step))
    for practice in Practice.objects.filter(pk__in=practice_ids - set(steps_of)):
        steps = sequence_for(practice).steps.filter(is_active=True).values_list(*_PLAN_STEP_FIELDS)
        steps_of[practice.pk] = [_plan_step(step) for step in steps]


def _read_sessions(ids: list[int]) -> tuple[list, dict[int, list[tuple[int, str]]]]:
    """The upcoming appointments among ``ids`` (named rows) and, per appointment, its
    participants as (participant id, client zone) in message_plan_for's order."""
    appointments = list(
        Appointment.objects.filter(pk__in=_ids_in(ids), status__in=UPCOMING_STATUSES)
        .order_by("pk")
        .values_list(
            *("pk", "practice_id", "starts_at", "ends_at", "created_at", "modality"),
            *("practice__timezone", "clinician__timezone"),
            *("series_id", "series__first_starts_at", "rescheduled_from_id", "moved_with_id"),
            named=True,
        )
    )
    participants: dict[int, list[tuple[int, str]]] = {}
    for appointment_id, participant_id, client_zone in (
        AppointmentParticipant.objects.filter(appointment_id__in=_ids_in([a.pk for a in appointments]))
        .order_by("appointment_id", "client__last_name", "client__first_name")
        .values_list("appointment_id", "pk", "client__timezone")
    ):
        participants.setdefault(appointment_id, []).append((participant_id, client_zone))
    return appointments, participants


class _DueTimes:
    """``due_time`` remembered by what it depends on (anchor time, offset, zone): sessions start
    on the hour, so many rows share them, and the wall-clock arithmetic (two zone conversions)
    was most of the Python time per row."""

    def __init__(self) -> None:
        self.known: dict[tuple, datetime] = {}
        self.zones: dict[str, ZoneInfo] = {}

    def __call__(self, step: _PlanStep, session: _Session, booked_at: datetime, zone_name: str) -> datetime:
        key = (anchor_time(step, session, booked_at), step.offset_minutes, zone_name)
        due_at = self.known.get(key)
        if due_at is None:
            if zone_name not in self.zones:
                self.zones[zone_name] = ZoneInfo(zone_name)
            due_at = due_time(step, session, booked_at=booked_at, tz=self.zones[zone_name])
            self.known[key] = due_at
        return due_at


_PASSED_REASON = "Its time had already passed when the session was booked."


def _bulk_rows(ids: list[int], now: datetime, steps_of: dict[int, list[_PlanStep]]) -> list[tuple]:
    """The outbox rows (``_BULK_COLUMNS``) of the upcoming appointments among ``ids``."""
    appointments, participants = _read_sessions(ids)
    _read_steps({a.practice_id for a in appointments} - set(steps_of), steps_of)
    # Whether a step applies depends only on the session's modality: decided once per practice.
    applicable: dict[tuple[int, str], list[_PlanStep]] = {}
    due = _DueTimes()
    rows = []
    for a in appointments:
        session = _Session(a.pk, a.practice_id, a.starts_at, a.ends_at, a.modality)
        booked_at = min(a.created_at, now)
        people = participants.get(a.pk, [])
        steps = applicable.get((a.practice_id, a.modality))
        if steps is None:
            steps = [s for s in steps_of[a.practice_id] if applies_to_session(s, session)]
            applicable[a.practice_id, a.modality] = steps
        recipients: dict[tuple[str, bool], list[tuple]] = {}  # the same for most steps
        not_alone = booking_message_skipped_because(
            series_id=a.series_id,
            series_first_starts_at=a.series__first_starts_at,
            starts_at=a.starts_at,
            rescheduled_from_id=a.rescheduled_from_id,
            moved_with_id=a.moved_with_id,
        )
        for step in steps:
            shape = (step.audience, Condition.NOT_JOINED in step.conditions)
            if shape not in recipients:
                recipients[shape] = _bulk_recipients(step, people, a)
            for recipient_key, participant_id, zone_name in recipients[shape]:
                due_at = due(step, session, booked_at, zone_name)
                key = (a.practice_id, a.pk, participant_id, recipient_key, step.pk, step.key, step.channel)
                if not_alone and step.anchor == Anchor.BOOKING:
                    rows.append((*key, due_at, OutboxState.SKIPPED, not_alone, now))
                elif due_at < booked_at and step.anchor != Anchor.BOOKING:
                    rows.append((*key, due_at, OutboxState.SKIPPED, _PASSED_REASON, now))
                else:
                    rows.append((*key, due_at, OutboxState.PLANNED, "", None))
    return rows


def _bulk_recipients(step: _PlanStep, people: list[tuple[int, str]], a) -> list[tuple]:
    """``_recipient_keys`` with ``_recipient_zone``: (recipient key, participant id, zone name)
    for a session's participants (participant id, client zone) and its row ``a``."""
    clinician_zone = a.clinician__timezone or a.practice__timezone
    if step.audience == Audience.CLIENT:
        return [(f"client:{p}", p, zone or a.practice__timezone) for p, zone in people]
    if Condition.NOT_JOINED in step.conditions:
        return [(f"clinician:{p}", p, clinician_zone) for p, _ in people]
    return [("clinician", people[0][0] if people else None, clinician_zone)]


_BULK_COLUMNS = (
    "practice_id",
    "appointment_id",
    "participant_id",
    "recipient_key",
    "step_id",
    "kind",
    "channel",
    "due_at",
    "state",
    "reason",
    "settled_at",
)
_PRACTICE, _APPOINTMENT, _PARTICIPANT, _STEP, _STATE = (
    _BULK_COLUMNS.index(name)
    for name in ("practice_id", "appointment_id", "participant_id", "step_id", "state")
)
_BULK_TYPES = (
    "int8",
    "int8",
    "int8",
    "text",
    "int8",
    "text",
    "text",
    "timestamptz",
    "text",
    "text",
    "timestamptz",
)


def _insert_planned(rows: list[tuple], now: datetime) -> int:
    """Insert outbox rows, skipping those the unique key already has (idempotent)."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        objects = [OutboxMessage(**dict(zip(_BULK_COLUMNS, row, strict=True))) for row in rows]
        before = OutboxMessage.objects.count()
        OutboxMessage.objects.bulk_create(objects, ignore_conflicts=True, batch_size=500)
        return OutboxMessage.objects.count() - before
    # The rows go to a temporary table by binary COPY, then into the outbox by one INSERT …
    # SELECT: the ORM's bulk_create spends longer building its SQL than PostgreSQL spends
    # running it, and even arrays as parameters cost ~2 µs a value to encode in Python, against
    # ~0.1 µs for psycopg's COPY (written in C).
    table = OutboxMessage._meta.db_table
    columns = ", ".join(_BULK_COLUMNS)
    definition = ", ".join(f"{c} {t}" for c, t in zip(_BULK_COLUMNS, _BULK_TYPES, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        # Dropped at the commit; IF NOT EXISTS and TRUNCATE for a caller's enclosing transaction.
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS outbox_plan ({definition}) ON COMMIT DROP")
        cursor.execute("TRUNCATE outbox_plan")
        with cursor.copy(f"COPY outbox_plan ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_BULK_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f'INSERT INTO "{table}" ({columns}, attempts, claim_token, provider_message_id, created_at, '
            f"updated_at) SELECT {columns}, 0, '', '', %s, %s FROM outbox_plan ON CONFLICT DO NOTHING",
            [now, now],
        )
        return cursor.rowcount


def message_withdraw_for(*, appointment: Appointment, reason: str, now: datetime | None = None) -> int:
    """Withdraw every message of ``appointment`` that has not gone out. Rows a dispatcher has
    already claimed are left to it: it checks the appointment again before sending."""
    return _withdraw(appointment_id=appointment.pk, reason=reason, now=now or timezone.now())


def _withdraw(*, appointment_id: int, reason: str, now: datetime) -> int:
    return OutboxMessage.objects.filter(appointment_id=appointment_id, state=OutboxState.PLANNED).update(
        state=OutboxState.CANCELLED, reason=reason[:300], settled_at=now, updated_at=now
    )


def message_plan_cancellation_notice(*, appointment: Appointment, now: datetime | None = None) -> int:
    """One cancellation notice per client, sent now by their usual channel (SMS if they can get
    texts, else e-mail). Planning it again adds nothing."""
    return _plan_cancellation_notices(appointment_id=appointment.pk, now=now or timezone.now())


def _plan_cancellation_notices(*, appointment_id: int, now: datetime) -> int:
    """A client who gets texts is told by text; one with an e-mail address also gets it by
    e-mail (kind ``cancellation_notice:email``, which a failed text then does not duplicate),
    because only the e-mail's calendar file takes the session out of their calendar."""
    participants = AppointmentParticipant.objects.filter(appointment_id=appointment_id).select_related(
        "client", "appointment"
    )
    rows = []
    for participant in participants:
        client = participant.client
        channels = [Channel.SMS] if client.has_sms_consent else []
        if client.email or not channels:
            channels.append(Channel.EMAIL)
        for channel in channels:
            rows.append(
                OutboxMessage(
                    practice_id=participant.appointment.practice_id,
                    appointment_id=appointment_id,
                    participant=participant,
                    recipient_key=f"client:{participant.pk}",
                    kind=CANCELLATION_NOTICE
                    + (FALLBACK_SUFFIX if len(channels) == 2 and channel == Channel.EMAIL else ""),
                    channel=channel,
                    due_at=now,
                )
            )
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


MOVED = "The session was moved to a new time."
CANCELLED = "The session was cancelled."


def messages_follow_reschedule(*, previous_id: int, appointment_id: int, now: datetime | None = None) -> None:
    """A session moved (the "rescheduled" event): withdraw what is pending for the old time and
    plan the new one, in one transaction — one commit instead of three."""
    now = now or timezone.now()
    with transaction.atomic():
        _withdraw(appointment_id=previous_id, reason=MOVED, now=now)
        _still_withdrawn_if_failing(message_plan_for_id, appointment_id=appointment_id, now=now)


def messages_follow_cancellation(*, appointment_id: int, now: datetime | None = None) -> None:
    """A session was cancelled: withdraw what is pending and plan the cancellation notices, in one
    transaction (one commit instead of two)."""
    now = now or timezone.now()
    with transaction.atomic():
        _withdraw(appointment_id=appointment_id, reason=CANCELLED, now=now)
        _still_withdrawn_if_failing(_plan_cancellation_notices, appointment_id=appointment_id, now=now)


def _still_withdrawn_if_failing(plan, **kwargs) -> None:
    """Run ``plan`` in a savepoint of the withdrawal's transaction: should planning fail, it is
    logged and the withdrawal still commits, as when each ran on its own (the dispatcher's sweep
    plans a session left unplanned; nothing re-sends withdrawn rows)."""
    try:
        with transaction.atomic():
            plan(**kwargs)
    except Exception:
        logger.exception(
            "planning after a withdrawal failed for appointment #%s", kwargs.get("appointment_id")
        )


def message_plan_no_show_notice(*, participant: AppointmentParticipant, now: datetime | None = None) -> bool:
    """The no-show sequence of a participant (SPEC F9 step 7): one notice, due when the session
    ends (a client who turns up late and is un-marked then gets nothing: the dispatcher checks the
    attendance again), by their usual channel. It carries a link to ask for a new time, and the
    fee only if they signed the policy of a practice that charges one. Planning it again adds
    nothing."""
    now = now or timezone.now()
    appointment = participant.appointment
    if now > appointment.ends_at + NO_SHOW_NOTICE_WITHIN:
        return False  # recorded long after the day: a "we missed you today" would be wrong
    _, created = OutboxMessage.objects.get_or_create(
        appointment=appointment,
        recipient_key=f"client:{participant.pk}",
        kind=NO_SHOW_NOTICE["kind"],
        defaults={
            "practice_id": appointment.practice_id,
            "participant": participant,
            "channel": Channel.SMS if participant.client.has_sms_consent else Channel.EMAIL,
            "due_at": max(now, appointment.ends_at),
        },
    )
    return created


class CheckInRefused(Exception):
    """The check-in text cannot be sent for this participant now (the message says why)."""


def message_send_check_in(
    *, participant: AppointmentParticipant, by, now: datetime | None = None
) -> tuple[OutboxMessage, bool]:
    """The clinician's one-tap "Are you OK to continue?" text to a client who has not joined
    (SPEC F9 step 6). One per participant and session, however often it is tapped: a second tap
    returns the first message (created False). It goes through the outbox like every message, so
    consent applies (no consent: e-mail), but quiet hours do not (the clinician is waiting), and it
    is sent right after this commits rather than at the next sweep. The request is on the
    session's timeline (AppointmentActivity, audit-logged) with who asked."""
    from scheduling.client_actions import activity_record

    now = now or timezone.now()
    appointment = participant.appointment
    if appointment.modality != Modality.TELEHEALTH:
        raise CheckInRefused("The check-in text is for video sessions.")
    if appointment.status not in LIVE_STATUSES or not appointment.starts_at <= now < appointment.ends_at:
        raise CheckInRefused("The check-in text can be sent only while the session is running.")
    if participant.joined_at is not None:
        raise CheckInRefused(f"{participant.client.greeting_name} has already joined.")
    with transaction.atomic():
        message, created = OutboxMessage.objects.get_or_create(
            appointment=appointment,
            recipient_key=f"client:{participant.pk}",
            kind=CHECK_IN_TEXT["kind"],
            defaults={
                "practice_id": appointment.practice_id,
                "participant": participant,
                "channel": Channel.SMS,
                "due_at": now,
            },
        )
        if created:
            activity_record(
                participant=participant,
                kind=ActivityKind.CHECK_IN_SENT,
                channel=ActivityChannel.STAFF,
                now=now,
                actor=by,
            )
            transaction.on_commit(lambda: _send_now(message.pk))
    return message, created


def _send_now(message_id: int) -> None:
    try:
        dispatch.dispatch_one(message_id=message_id)
    except Exception:
        # The row stays planned (or its claim lease expires) and the next sweep sends it.
        logger.exception("immediate send of outbox message %s failed; the dispatcher will retry", message_id)


def message_plan_missing(*, now: datetime, horizon_days: int = 8, limit: int = 200) -> int:
    """Catch-up: plan upcoming sessions that have no outbox rows (an event lost to a crash)."""
    upcoming = Appointment.objects.filter(
        status__in=("scheduled", "confirmed"),
        starts_at__gt=now,
        starts_at__lt=now + timedelta(days=horizon_days),
        outbox_messages__isnull=True,
    ).order_by("starts_at")[:limit]
    return sum(message_plan_for(appointment=appointment, now=now) for appointment in upcoming)


def message_plan_link_resend(
    *, participant: AppointmentParticipant, now: datetime | None = None
) -> tuple[OutboxMessage, bool]:
    """Send the client their one-tap join link again, now: a one-off outbox row (kind
    ``link_resend:<n>``) that the dispatcher sends like any other, by text when the client has a
    number and recorded consent (else e-mail; quiet hours and STOP are honoured there too).

    Returns (message, created). A request within LINK_RESEND_COOLDOWN of the previous one returns
    that one: two taps, or two staff members at once, send one message (the outbox's unique key
    settles a true race)."""
    now = now or timezone.now()
    appointment = participant.appointment
    client = participant.client
    if appointment.status not in ("scheduled", "confirmed", "in_progress") or now >= appointment.ends_at:
        raise ValidationError("This session is not on any more, so there is no link to send.")
    channel = Channel.SMS if client.has_sms_consent and client.preferred_channel != "email" else Channel.EMAIL
    if channel == Channel.EMAIL and not client.email:
        raise ValidationError(
            "The client cannot be reached: no consent to texts on record and no e-mail address."
        )
    recipient_key = f"client:{participant.pk}"
    earlier = OutboxMessage.objects.filter(
        appointment=appointment, recipient_key=recipient_key, kind__startswith=LINK_RESEND + ":"
    ).exclude(kind__endswith=FALLBACK_SUFFIX)
    latest = earlier.order_by("-due_at", "-pk").first()
    if latest is not None and now - latest.due_at < LINK_RESEND_COOLDOWN:
        return latest, False
    kind = f"{LINK_RESEND}:{earlier.count() + 1}"
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                practice_id=appointment.practice_id,
                appointment=appointment,
                participant=participant,
                recipient_key=recipient_key,
                kind=kind,
                channel=channel,
                due_at=now,
            )
    except IntegrityError:
        return OutboxMessage.objects.get(
            appointment=appointment, recipient_key=recipient_key, kind=kind
        ), False
    return message, True


# States that need a person: the message did not reach the client, or nobody knows if it did.
PROBLEM_STATES = (OutboxState.FAILED, OutboxState.UNDELIVERED, OutboxState.UNKNOWN)


def follow_ups_raise_for_message_problems(*, now: datetime, lookback: timedelta = timedelta(hours=2)) -> int:
    """Put client messages that failed, were undeliverable or are in doubt into the staff queue,
    once per message (the queue item's ``source`` names it, so resolving it is final). Scans only
    rows changed within ``lookback`` of sessions not yet over; run by the dispatcher's minute loop.
    """
    from scheduling.models import FollowUp, FollowUpKind
    from scheduling.services import follow_up_raise

    problems = (
        OutboxMessage.objects.filter(
            state__in=PROBLEM_STATES,
            updated_at__gte=now - lookback,
            participant__isnull=False,
            recipient_key__startswith="client:",
            appointment__ends_at__gt=now,
        )
        .select_related("appointment", "participant")
        .order_by("pk")[:500]
    )
    problems = list(problems)
    seen = set(
        FollowUp.objects.filter(source__in=[f"outbox:{m.pk}" for m in problems]).values_list(
            "source", flat=True
        )
    )
    raised = 0
    for message in problems:
        source = f"outbox:{message.pk}"
        if source in seen:
            continue
        follow_up_raise(
            appointment=message.appointment,
            participant=message.participant,
            kind=FollowUpKind.UNDELIVERABLE
            if message.state == OutboxState.UNDELIVERED
            else FollowUpKind.MESSAGE_PROBLEM,
            detail=_problem_detail(message),
            source=source,
        )
        raised += 1
    return raised


def _problem_detail(message: OutboxMessage) -> str:
    what = message.step.name if message.step_id and message.step else message.kind.replace("_", " ")
    state = message.get_state_display()
    return f"{what}: {state}." + (f" {message.reason}" if message.reason else "")


def message_states_by_participant(*, participant_ids: list[int]) -> dict[int, dict]:
    """For the staff board: each participant's client messages counted by state, and when the
    next planned one is due. One aggregate query, whatever the number of participants."""
    from django.db.models import Count, Min

    rows = (
        OutboxMessage.objects.filter(participant_id__in=participant_ids, recipient_key__startswith="client:")
        .values("participant_id", "state")
        .annotate(n=Count("pk"), first_due=Min("due_at"))
        .order_by()
    )
    result: dict[int, dict] = {}
    for row in rows:
        entry = result.setdefault(row["participant_id"], {"counts": {}, "next_due_at": None})
        entry["counts"][row["state"]] = row["n"]
        if row["state"] == OutboxState.PLANNED:
            entry["next_due_at"] = row["first_due"]
    return result


NOTE_REMINDER = "note_reminder"


def note_reminders_for(*, appointment_ids: list[int]) -> dict[int, OutboxMessage]:
    """For the clinician's pages: each session's note-reminder message (SPEC F9 step 8), if
    planned. One query."""
    rows = OutboxMessage.objects.filter(appointment_id__in=appointment_ids, kind=NOTE_REMINDER).only(
        "pk", "appointment_id", "state", "due_at", "sent_at"
    )
    return {row.appointment_id: row for row in rows}


# --- Reading ---------------------------------------------------------------------------------


def message_timeline(*, appointment: Appointment) -> list[dict]:
    """Every message of a session — planned, sent, delivered, skipped, failed or unknown — with
    its reason and time, oldest first. Used by the session page and the API."""
    rows = OutboxMessage.objects.filter(appointment=appointment).select_related("step", "participant__client")
    return [timeline_entry(row) for row in rows.order_by("due_at", "pk")]


def timeline_entry(row: OutboxMessage) -> dict:
    """What staff and the API may see of one message: its step, recipient (the clinician, or the
    client's first or preferred name), channel, state and reason, never its text. Load rows with
    ``select_related("step", "participant__client")``."""
    return {
        "id": row.pk,
        "appointment": row.appointment_id,
        "kind": row.kind,
        "step": row.display_name,
        "recipient": "clinician"
        if row.recipient_key.startswith(Audience.CLINICIAN)
        else row.participant.client.greeting_name,
        "channel": row.channel,
        "state": row.state,
        "reason": row.reason,
        "due_at": row.due_at,
        "sent_at": row.sent_at,
        "attempts": row.attempts,
    }


def message_timeline_rows(*, appointment: Appointment) -> list[dict]:
    """The session page's timeline: each outbox row with ``note``, what a clinician override
    will do to it if it is still pending ("Switched off by Dr. Smith for this client.")."""
    from messaging.overrides import OverrideLookup, override_reason

    rows = list(
        OutboxMessage.objects.filter(appointment=appointment)
        .select_related("step", "participant__client", "appointment")
        .order_by("due_at", "pk")
    )
    pending = [row for row in rows if row.state in (OutboxState.PLANNED, OutboxState.CLAIMED)]
    overrides = OverrideLookup.for_messages(pending)
    timeline = []
    for row in rows:
        off = overrides.switched_off(row) if row in pending else None
        timeline.append(
            {"message": row, "note": f"{override_reason(off)} It will not be sent." if off else ""}
        )
    return timeline


# --- Dispatch and provider callbacks ----------------------------------------------------------


def messages_dispatch_due(
    *, now: datetime | None = None, limit: int | None = None, budget_seconds: float | None = None
):
    return dispatch.dispatch_due(now=now, limit=limit, budget_seconds=budget_seconds)


def message_record_status(
    *, provider_message_id: str, status: str, error_code: str = "", now: datetime | None = None
) -> None:
    """Apply a provider status callback once, never moving a message backwards. An SMS that
    ends undelivered (or failed after acceptance) falls back to e-mail."""
    now = now or timezone.now()
    with transaction.atomic():
        _, first_time = DeliveryReport.objects.get_or_create(
            provider_message_id=provider_message_id, status=status, defaults={"error_code": error_code[:20]}
        )
        if not first_time:
            return
        message = (
            OutboxMessage.objects.select_for_update()
            .filter(provider_message_id=provider_message_id)
            .exclude(provider_message_id="")
            .first()
        )
        if message is None:
            logger.info("status %s for unknown provider message %s", status, provider_message_id)
            return
        new_state = _state_after(message, status)
        if new_state is None:
            return
        message.state = new_state
        if error_code:
            message.reason = f"Provider error {error_code}."
        if new_state in FINAL_STATES.values():
            message.settled_at = now
        message.save(update_fields=["state", "reason", "settled_at", "updated_at"])
        if new_state == OutboxState.UNDELIVERED:
            facts.record(Fact(facts.MESSAGE_FAILED, message.practice_id, message.pk, now))
            message_plan_fallback(
                message=message, now=now, why=f"the text could not be delivered ({error_code or status})."
            )


def _state_after(message: OutboxMessage, status: str) -> str | None:
    """The state a callback moves the message to, or None if it would move it backwards."""
    if status not in STATUS_RANK:
        return None
    if message.state in (OutboxState.DELIVERED, OutboxState.UNDELIVERED):
        return None
    if status in FINAL_STATES:
        return FINAL_STATES[status]
    # "sent"/"queued" confirm that a message in doubt did reach the provider.
    if message.state in (OutboxState.UNKNOWN, OutboxState.SENDING):
        return OutboxState.ACCEPTED
    return None
