"""The dispatcher: claim what is due, commit, send concurrently, record each outcome.

Exactly once (SPEC F11) rests on three rules:
1. A row is claimed by one dispatcher only: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   a conditional ``UPDATE … WHERE state='planned'`` on SQLite (whose writers are serialised),
   with a lease and a claim token naming the claimant.
2. Just before the provider call the row moves ``claimed → sending`` (conditionally, by token).
   A dispatcher that dies before that point leaves a ``claimed`` row whose lease expires and
   which is planned again: it was never handed over. One that dies after it leaves ``sending``:
   the provider may have the message, so the row becomes ``unknown`` and is never resent
   automatically; a status callback can still settle it.
3. No network call happens inside a transaction or while a row lock is held.
"""

from __future__ import annotations

import functools
import heapq
import logging
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Greatest
from django.utils import timezone

from messaging import auto_texts, compose
from messaging.backends import get_email_backend, get_push_backend, get_sms_backend
from messaging.backends.base import ChannelError, EmailMessageData, SendResult, SMSMessage
from messaging.backends.webpush import webpush_configured
from messaging.defaults import (
    CANCELLATION_NOTICE_TEXTS,
    MOVED_CONFIRMATION_TEXTS,
    NO_SHOW_NOTICE,
    ONE_OFF_NOTICES,
)
from messaging.defaults import LINK_RESEND as LINK_RESEND_TEMPLATES
from messaging.fence import Fence
from messaging.kinds import (
    CANCELLATION_NOTICE,
    FALLBACK_REASON,
    FALLBACK_SUFFIX,
    message_is_link_resend,
    message_plan_fallback,
)
from messaging.languages import default_language, message_language, phrase, step_text
from messaging.models import (
    Anchor,
    Audience,
    Channel,
    ClientPreferences,
    Condition,
    DispatcherHeartbeat,
    OutboxMessage,
    OutboxState,
    Sequence,
    Step,
)
from messaging.overrides import OverrideLookup, override_reason
from messaging.planning import retry_delay, send_deadline
from messaging.preferences import preferences_of, step_opted_out
from messaging.push import PushFanOut, PushTarget, push_fan_out, push_fan_out_record, push_targets_for_message
from messaging.quiet_hours import CLIENT, PRACTICE, quiet_spell, window
from practice import facts
from practice.consent import client_sms_opt_out_from_carrier
from practice.facts import Fact
from practice.models import Client, ClinicianProfile, Practice
from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus, Attendance

logger = logging.getLogger(__name__)

# A claimed row is only being prepared (no network): if its dispatcher dies, it is planned
# again after a short lease (settings.DISPATCH_CLAIM_LEASE_SECONDS). A row being handed over gets
# a lease long enough for the slowest batch (settings.DISPATCH_SENDING_LEASE_SECONDS), because
# expiring it early would turn a message still in flight into "unknown".
# Transient failures are retried (messaging.planning.retry_delay: 30 s, 1, 2, 4, 8, 15, 15 min)
# until the message's deadline, at most this many attempts: 8 spans a provider outage of ~45 min
# (5 gave up after 7.5 min, dropping e-mails during a 10-minute SMTP outage: tests/faults).
MAX_ATTEMPTS = 8
HEARTBEAT_NAME = "dispatcher"


@dataclass
class SendJob:
    message_id: int
    channel: str
    payload: SMSMessage | EmailMessageData | list[PushTarget]
    note: str = ""  # why the channel differs from the step's, shown on the timeline


@dataclass(frozen=True)
class Defer:
    """Put the row back to wait until ``until`` (the end of the client's quiet hours)."""

    until: datetime
    reason: str


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    requeued_leases: int = 0
    # Rows decided again at the last check before sending: something they depend on changed
    # after they were prepared (messaging.dispatch.LATE_STATE).
    rechecked: int = 0
    # Rows not sent because their session changed after their chunk was handed over (the fence,
    # messaging.fence, read right before each provider call): given back, decided again.
    fenced: int = 0
    lateness_seconds: list[float] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        """Add another sweep's counts (not its lateness list) to these."""
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)


# --- Claiming ----------------------------------------------------------------------------------


def _claim_lease() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_CLAIM_LEASE_SECONDS)


def claim_due(*, now: datetime, limit: int) -> str:
    """Claim up to ``limit`` due rows under a new claim token and return the token."""
    token = uuid.uuid4().hex
    claim_rows(token=token, now=now, horizon=now, limit=limit)
    return token


def claim_rows(*, token: str, now: datetime, horizon: datetime, limit: int) -> list[int]:
    """Claim up to ``limit`` planned rows due by ``horizon`` (earliest first) for ``token`` and
    return their ids. A row claimed ahead of its due time keeps its lease until the claim lease
    after that time: a dispatcher that dies holding it loses it then, as one that dies preparing."""
    # From the wall clock, not the sweep's ``now``: a batch claimed late in a long sweep must
    # still get a full lease.
    lease_from = max(now, timezone.now())
    with transaction.atomic():
        if connection.vendor == "postgresql":
            table = OutboxMessage._meta.db_table
            with connection.cursor() as cursor:
                # Rows another dispatcher is claiming are skipped, not waited for.
                cursor.execute(
                    f'UPDATE "{table}" SET state = %s, claim_token = %s, '
                    "lease_until = GREATEST(due_at, %s) + %s, updated_at = %s "
                    f'WHERE id IN (SELECT id FROM "{table}" WHERE state = %s AND due_at <= %s '
                    "ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                    [
                        OutboxState.CLAIMED,
                        token,
                        lease_from,
                        _claim_lease(),
                        now,
                        OutboxState.PLANNED,
                        horizon,
                        limit,
                    ],
                )
                return [pk for (pk,) in cursor.fetchall()]
        due = OutboxMessage.objects.filter(state=OutboxState.PLANNED, due_at__lte=horizon).order_by("due_at")
        ids = list(due.values_list("pk", flat=True)[:limit])
        # SQLite serialises writers: the conditional UPDATE is the claim.
        OutboxMessage.objects.filter(pk__in=ids, state=OutboxState.PLANNED).update(
            state=OutboxState.CLAIMED,
            claim_token=token,
            lease_until=Greatest(F("due_at"), Value(lease_from)) + _claim_lease(),
            updated_at=now,
        )
        return list(OutboxMessage.objects.filter(pk__in=ids, claim_token=token).values_list("pk", flat=True))


def next_due_at() -> datetime | None:
    """When the earliest planned row falls due (the partial due index answers it)."""
    return (
        OutboxMessage.objects.filter(state=OutboxState.PLANNED)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )


def expire_leases(*, now: datetime) -> int:
    """Rows whose dispatcher died: claimed ones go back to planned (never handed over), rows
    caught while handing over become unknown (never resent automatically)."""
    expired = OutboxMessage.objects.filter(lease_until__lt=now)
    requeued = expired.filter(state=OutboxState.CLAIMED).update(
        state=OutboxState.PLANNED, claim_token="", lease_until=None, updated_at=now
    )
    expired.filter(state=OutboxState.SENDING).update(
        state=OutboxState.UNKNOWN,
        reason="The dispatcher stopped while handing this to the provider; it may or may not have gone "
        "out, so it is not resent automatically.",
        lease_until=None,
        updated_at=now,
    )
    return requeued


# --- Deciding what to do with each claimed row ----------------------------------------------------


def _settle(message: OutboxMessage, state: str, reason: str, now: datetime) -> None:
    OutboxMessage.objects.filter(pk=message.pk, claim_token=message.claim_token).update(
        state=state, reason=reason[:300], settled_at=now, lease_until=None, updated_at=now
    )


def _defer(message: OutboxMessage, defer: Defer) -> None:
    OutboxMessage.objects.filter(pk=message.pk, claim_token=message.claim_token).update(
        state=OutboxState.PLANNED,
        due_at=defer.until,
        reason=defer.reason[:300],
        claim_token="",
        lease_until=None,
        updated_at=timezone.now(),
    )


def _withdrawal_reason(message: OutboxMessage, now: datetime) -> tuple[str, str] | None:
    """(state, reason) if the row must not go out as things stand now, else None."""
    appointment = message.appointment
    # The cancellation notice (and its e-mail copy or fallback) is about the cancelled session.
    if message.kind.removesuffix(FALLBACK_SUFFIX) != CANCELLATION_NOTICE:
        if appointment.status == AppointmentStatus.CANCELLED:
            return OutboxState.CANCELLED, "The session was cancelled."
        if appointment.status == AppointmentStatus.RESCHEDULED:
            return OutboxState.CANCELLED, "The session was moved; the new time has its own reminders."
    if now > send_deadline(due_at=message.due_at, appointment=appointment, step=message.step):
        return OutboxState.SKIPPED, "Too late to be useful by the time it could be sent."
    if message.step is not None and not message.step.is_active:
        return OutboxState.SKIPPED, "The practice switched this step off after it was planned."
    unmet = _unmet_condition(message)
    if unmet:
        return OutboxState.SKIPPED, unmet
    return None


def _one_off(message: OutboxMessage) -> dict | None:
    """The one-off notice (messaging.defaults.ONE_OFF_NOTICES) a row without a step sends, also
    when it is the e-mail fallback of one."""
    if message.step_id is not None:
        return None
    return ONE_OFF_NOTICES.get(message.kind.removesuffix(FALLBACK_SUFFIX))


def _is_urgent(message: OutboxMessage) -> bool:
    if message.step is not None:
        return message.step.urgent
    notice = _one_off(message)
    return bool(notice and notice.get("urgent"))


def _unmet_condition(message: OutboxMessage) -> str:
    conditions = set(message.step.conditions or ()) if message.step else set()
    participant = message.participant
    notice = _one_off(message)
    if notice and notice.get("not_joined"):
        conditions.add(Condition.NOT_JOINED)
    if notice is NO_SHOW_NOTICE and participant is not None and participant.attendance != Attendance.NO_SHOW:
        return "The no-show was reversed."
    if Condition.NOT_JOINED in conditions and participant is not None and participant.joined_at:
        return "The client had already joined."
    if Condition.NOT_CONFIRMED in conditions and message.appointment.status == AppointmentStatus.CONFIRMED:
        return "The session was already confirmed."
    if Condition.NOT_NO_SHOW in conditions and (
        message.appointment.status == AppointmentStatus.NO_SHOW
        or (participant is not None and participant.attendance == Attendance.NO_SHOW)
    ):
        return "The client did not attend (no-show)."
    if (
        Condition.TECH_CHECK_NOT_PASSED in conditions
        and participant is not None
        and participant.tech_checks.filter(passed=True).exists()
    ):
        return "The client's tech check had already passed."
    return ""


def _templates(message: OutboxMessage, channel: str, language: str, default: str) -> tuple[str, str]:
    """(subject, body) templates for the row in ``language``: its step's, or its one-off notice's
    (the no-show notice mentions the fee only when one applies to this client); the practice's
    default text where there is no translation."""
    notice = _one_off(message)
    if notice is NO_SHOW_NOTICE:
        # The practice's own words (Automatic texts, messaging.auto_texts; the defaults when it
        # kept them), for the channel and whether the fee applies to this client.
        key = ("no_show_sms" if channel == Channel.SMS else "no_show_email") + (
            "_fee" if message.participant.no_show_fee_applies() else ""
        )
        words = auto_texts.text_of(auto_texts.stored_texts(message.appointment.practice), key, language)
        return words.get("subject", NO_SHOW_NOTICE["subject"]), words["body"]
    if notice is not None:
        body_key = "sms_body" if channel == Channel.SMS else "email_body"
        if notice["kind"] == CANCELLATION_NOTICE:
            notice = CANCELLATION_NOTICE_TEXTS.get(language) or notice
        return notice["subject"], notice[body_key]
    if message_is_link_resend(message.kind):
        body = LINK_RESEND_TEMPLATES["sms_body" if channel == Channel.SMS else "email_body"]
        return LINK_RESEND_TEMPLATES["subject"], body
    step = message.step
    if step.anchor == Anchor.BOOKING and message.appointment.rescheduled_from_id is not None:
        # A moved session: say so, rather than reading like a second booking.
        moved = MOVED_CONFIRMATION_TEXTS.get(language) or MOVED_CONFIRMATION_TEXTS["en"]
        body = moved["sms_body" if channel == Channel.SMS else "email_body"]
        if message.appointment.series_id is not None:
            # "This and following": the sessions moved with this one are listed here (their own
            # messages were skipped: messaging.services.booking_message_skipped_because); a text
            # says how many, a list of dates would run to many segments.
            body += "{{ moved_count }}" if channel == Channel.SMS else "{{ moved_dates }}"
        return moved["subject"], body
    subject, body = step_text(step, language, default)
    if step.anchor == Anchor.BOOKING and message.appointment.series_id is not None:
        # The series' one confirmation (its later sessions have none: messaging.services).
        body += "{{ series_dates }}"
    if channel == Channel.EMAIL and step.channel == Channel.SMS:
        # A text going out as e-mail: same words, a plain subject.
        return phrase("sms_as_email_subject", language), body
    return subject, body


def _sequence_of(message: OutboxMessage) -> Sequence:
    """The practice's sequence (loaded with the row); an unsaved one with the defaults if the
    practice has none yet."""
    practice = message.appointment.practice
    try:
        return practice.sequence
    except Sequence.DoesNotExist:
        return Sequence(practice=practice)


def _language_of(client, sequence: Sequence) -> tuple[str, str]:
    """(language of the message, the practice's default): clinicians get the default."""
    default = default_language(sequence)
    if client is None:
        return default, default
    preferences = preferences_of(client)
    return message_language(sequence, preferences.language if preferences else ""), default


def _client_of(message: OutboxMessage):
    """The client a message goes to, or None for a message to the clinician."""
    if message.recipient_key.startswith(Audience.CLINICIAN) or message.participant is None:
        return None
    return message.participant.client


def _prepare(
    message: OutboxMessage, now: datetime, overrides: OverrideLookup | None = None
) -> SendJob | Defer | tuple[str, str]:
    """A job to send, a deferral, or (state, reason) to settle the row without sending."""
    withdrawn = _withdrawal_reason(message, now)
    if withdrawn:
        return withdrawn
    client = _client_of(message)
    if client is not None and message.step and step_opted_out(client, message.step.key):
        return OutboxState.SKIPPED, "The client switched this reminder off on their preference page."
    overrides = overrides if overrides is not None else OverrideLookup.for_messages([message])
    switched_off = overrides.switched_off(message)
    if switched_off is not None:
        return OutboxState.SKIPPED, override_reason(switched_off)
    sequence = _sequence_of(message)
    language, default = _language_of(client, sequence)
    recipient = compose.recipient_for(message)
    channel, note = _resolve_channel(message.channel, recipient, message)
    if channel in (Channel.SMS, Channel.PUSH) and client is not None and not _is_urgent(message):
        channel, note, defer = _respect_quiet_hours(message, client, sequence, recipient, channel, note, now)
        if defer is not None:
            return defer
    if channel is None:
        return OutboxState.SKIPPED, note
    if channel == Channel.PUSH:
        subject, body = _templates(message, channel, language, default)
        targets = push_targets_for_message(
            message=message, now=now, language=language, subject=subject, body=body
        )
        if not targets:
            return OutboxState.SKIPPED, "The client has not subscribed to web push notifications."
        if not webpush_configured():
            return OutboxState.SKIPPED, "Web push is not set up on this server (WEBPUSH_VAPID_PRIVATE_KEY)."
        return SendJob(message_id=message.pk, channel=Channel.PUSH, payload=targets)
    subject, body = _templates(message, channel, language, default)
    if channel == Channel.SMS:
        deadline = send_deadline(due_at=message.due_at, appointment=message.appointment, step=message.step)
        payload = compose.sms_for(message, body, recipient, valid_until=deadline, language=language)
    else:
        # The confirmation's calendar file adds the event; the cancellation's removes it.
        attach = bool(message.step and message.step.attach_calendar) or (
            message.kind.removesuffix(FALLBACK_SUFFIX) == CANCELLATION_NOTICE
        )
        payload = compose.email_for(
            message,
            subject=subject,
            body_template=body,
            recipient=recipient,
            attach_calendar=attach,
            language=language,
        )
    if message.fallback_of_id is not None and not note:
        # Kept on the timeline once sent: the e-mail went out because the text did not.
        note = message.reason if message.reason.startswith(FALLBACK_REASON) else FALLBACK_REASON + "."
    return SendJob(message_id=message.pk, channel=channel, payload=payload, note=note)


def _respect_quiet_hours(message, client, sequence, recipient, channel, note, now):
    """(channel, note, deferral): during quiet hours (the practice's or the client's own, on the
    client's clock; messaging.quiet_hours) a text or push waits until they end if it still makes
    sense then; otherwise it goes by e-mail, or not at all. The note names the rule."""
    preferences = preferences_of(client)
    windows = [window(sequence.quiet_start, sequence.quiet_end, PRACTICE)]
    if preferences is not None:
        windows.append(window(preferences.quiet_start, preferences.quiet_end, CLIENT))
    spell = quiet_spell(now, recipient.tz, windows)
    if spell is None:
        return channel, note, None
    rule = spell.description
    if spell.rules == (PRACTICE,):
        rule += f" ({windows[0].label})"
    local_end = spell.until.astimezone(recipient.tz).strftime("%-I:%M %p %Z")
    deadline = send_deadline(due_at=message.due_at, appointment=message.appointment, step=message.step)
    if spell.until < deadline:
        return channel, note, Defer(spell.until, f"Held for {rule}, until {local_end}.")
    if recipient.email and channel == Channel.SMS:
        return Channel.EMAIL, f"Sent by e-mail: {rule} last past the time this was useful.", None
    return None, f"Skipped: {rule} last past the time this was useful.", None


def _resolve_channel(channel: str, recipient: compose.Recipient, message: OutboxMessage):
    """(channel to use, why it differs) — SMS only with a number and recorded consent, else e-mail."""
    if channel == Channel.PUSH:
        if message.recipient_key.startswith(Audience.CLINICIAN):
            return None, "Web push goes to clients only."
        return Channel.PUSH, ""  # whether the client subscribed is checked in _prepare
    if channel == Channel.SMS:
        if recipient.sms_allowed and not recipient.prefers_email:
            return Channel.SMS, ""
        why = "prefers e-mail" if recipient.prefers_email else "no consent to texts on record"
        if message.recipient_key.startswith(Audience.CLINICIAN):
            why = "no mobile number on the clinician's profile"
        if recipient.email:
            return Channel.EMAIL, f"Sent by e-mail: {why}."
        return None, f"No way to reach the recipient: {why}, and no e-mail address."
    if recipient.email:
        return Channel.EMAIL, ""
    return None, "No e-mail address on file."


# --- Sending and recording -----------------------------------------------------------------------


# What a thread returns for a row it did not send because the fence was up for its session.
FENCED = object()


def _send_unless_fenced(fence: Fence, handed_at: float, row: HeldRow, job: SendJob, *backends):
    """The last check, right before the provider call: neither the session nor the client
    changed since the chunk was handed over (messaging.fence)."""
    if fence.blocks(row.appointment_id, row.client_id, since=handed_at):
        return FENCED
    return _send(job, *backends)


def _give_back_fenced(ids: list[int], token: str) -> None:
    """Rows marked "sending" whose call was never made (the fence stopped it): planned again, so
    the next sweep decides them by the same rules as any row (a cancelled session's is withdrawn).
    Safe to undo "sending" only because no provider call was made."""
    OutboxMessage.objects.filter(pk__in=ids, claim_token=token, state=OutboxState.SENDING).update(
        state=OutboxState.PLANNED, claim_token="", lease_until=None, updated_at=timezone.now()
    )


def _send(job: SendJob, sms_backend, email_backend, push_backend=None):
    try:
        if job.channel == Channel.PUSH:
            return push_fan_out(backend=push_backend, targets=job.payload)
        backend = sms_backend if job.channel == Channel.SMS else email_backend
        return backend.send(job.payload)
    except ChannelError as error:
        return error
    except Exception as error:  # a bug in a backend must not lose the other results
        logger.exception("backend error for outbox message %s", job.message_id)
        return ChannelError(f"Unexpected error: {type(error).__name__}", permanent=False, ambiguous=True)


def _record(
    job: SendJob,
    outcome,
    message: OutboxMessage,
    now: datetime,
    report: DispatchReport,
    *,
    token: str | None = None,
) -> None:
    """Record one outcome, if the row is still this dispatcher's (``token``, else the row's own
    claim token) and still "sending"."""
    mine = OutboxMessage.objects.filter(
        pk=job.message_id,
        claim_token=message.claim_token if token is None else token,
        state=OutboxState.SENDING,
    )
    attempts = F("attempts") + 1
    if isinstance(outcome, PushFanOut):
        # Subscriptions the push service called gone are revoked whatever the row's outcome.
        push_fan_out_record(fan_out=outcome, now=now)
        outcome = outcome.outcome()
    if not isinstance(outcome, ChannelError):
        mine.update(
            state=OutboxState.ACCEPTED,
            channel=job.channel,
            provider_message_id=outcome.provider_message_id,
            sent_at=now,
            attempts=attempts,
            reason=job.note,
            lease_until=None,
            updated_at=now,
        )
        report.sent += 1
        report.lateness_seconds.append((now - message.due_at).total_seconds())
        return
    reason = f"{outcome} (code {outcome.code})" if outcome.code else str(outcome)
    if outcome.ambiguous:
        mine.update(
            state=OutboxState.UNKNOWN,
            reason=reason[:300],
            attempts=attempts,
            lease_until=None,
            updated_at=now,
        )
        report.unknown += 1
        return
    retry_at = now + retry_delay(message.attempts + 1)
    deadline = send_deadline(due_at=message.due_at, appointment=message.appointment, step=message.step)
    if not outcome.permanent and message.attempts + 1 < MAX_ATTEMPTS and retry_at < deadline:
        mine.update(
            state=OutboxState.PLANNED,
            due_at=retry_at,
            attempts=attempts,
            claim_token="",
            reason=f"Retrying after: {reason}"[:300],
            lease_until=None,
            updated_at=now,
        )
        report.retried += 1
        return
    # Say why it was not tried again as well as what the provider answered.
    settled_reason = reason
    if not outcome.permanent:
        if message.attempts + 1 >= MAX_ATTEMPTS:
            gave_up = f"after {MAX_ATTEMPTS} attempts"
        elif deadline == message.appointment.starts_at:
            gave_up = "the session starts before the next try"
        else:
            gave_up = "the next try would come too late to be useful"
        settled_reason = f"Gave up ({gave_up}). Last error: {reason}"
    if job.channel == Channel.SMS and outcome.code == "21610":
        # The number replied STOP to our sender (or the carrier blocks it): no more texts to it.
        client_sms_opt_out_from_carrier(phone=job.payload.to, from_number=job.payload.from_number, now=now)
    with transaction.atomic():
        failed = mine.update(
            state=OutboxState.FAILED,
            reason=settled_reason[:300],
            attempts=attempts,
            settled_at=now,
            lease_until=None,
            updated_at=now,
        )
        if failed:
            facts.record(Fact(facts.MESSAGE_FAILED, message.practice_id, message.pk, now))
    report.failed += 1
    if job.channel == Channel.SMS:
        message_plan_fallback(message=message, now=now, why=f"the text failed ({reason}).")


def _claimed_rows(token: str, ids: list[int] | None = None) -> list[OutboxMessage]:
    """The rows ``token`` holds (of ``ids``), with what deciding them reads, and each row's
    LATE_STATE as it was read with them."""
    rows = OutboxMessage.objects.filter(claim_token=token, state=OutboxState.CLAIMED)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    rows = list(
        rows.select_related(
            "appointment",
            "participant__client__message_preferences",
            "participant__join_link",
        )
        .annotate(late_state=RawSQL(late_state_sql(), ()))
        .order_by("due_at", "pk")
    )
    _attach_shared(rows)
    return rows


def _attach_shared(rows: list[OutboxMessage]) -> None:
    """Give the batch's rows their practices, steps and clinicians, each loaded once per batch
    rather than once per row through a wider join: a burst has far fewer of them than rows,
    and every practice row loaded costs two phone numbers parsed."""
    if not rows:
        return

    appointments = [row.appointment for row in rows]
    clients = [row.participant.client for row in rows if row.participant is not None]
    # With each practice's sequence: its quiet hours and languages decide every row.
    practices = Practice.objects.select_related("sequence").in_bulk(
        {a.practice_id for a in appointments} | {c.practice_id for c in clients}
    )
    clinicians = ClinicianProfile.objects.select_related("user").in_bulk(
        {a.clinician_id for a in appointments}
    )
    steps = Step.objects.in_bulk({row.step_id for row in rows if row.step_id is not None})
    for appointment in appointments:
        appointment.practice = practices[appointment.practice_id]
        appointment.clinician = clinicians[appointment.clinician_id]
    for client in clients:
        client.practice = practices[client.practice_id]
    for row in rows:
        if row.step_id is not None:
            row.step = steps[row.step_id]


# --- What can change in the last minute ----------------------------------------------------------


@functools.cache
def late_state_sql() -> str:
    """A SQL expression, per outbox row, of everything about it that can change in the minute
    between its preparation and its hand-over: the session's status (cancelled, moved,
    confirmed, no-show), the participant's attendance and join, the client's consent to texts
    (STOP), contact details and channel, and their preferences (reminders switched off, quiet
    hours, language). The row is prepared with the value read alongside; the hand-over marks it
    "sending" only if the value is still the same, in the same statement, so a change committed
    before then is never sent past — the row is decided again by the same rules instead.

    Read at preparation only (at most DISPATCH_LOOKAHEAD_SECONDS old when sent): the practice's
    steps, texts, quiet hours and overrides, tech checks, push subscriptions."""
    outbox = OutboxMessage._meta.db_table
    appointment = Appointment._meta.db_table
    participant = AppointmentParticipant._meta.db_table
    client = Client._meta.db_table
    preferences = ClientPreferences._meta.db_table
    columns = [
        "a.status",
        "p.attendance",
        "p.joined_at",
        "c.status",
        "c.phone",
        "c.email",
        "c.preferred_channel",
        "c.sms_consent_at",
        "cp.opted_out_steps",
        "cp.quiet_start",
        "cp.quiet_end",
        "cp.language",
    ]
    joined = " || '|' || ".join(f"COALESCE(CAST({column} AS TEXT), '')" for column in columns)
    return (
        f'(SELECT {joined} FROM "{appointment}" a '
        f'LEFT JOIN "{participant}" p ON p.id = "{outbox}".participant_id '
        f'LEFT JOIN "{client}" c ON c.id = p.client_id '
        f'LEFT JOIN "{preferences}" cp ON cp.client_id = c.id '
        f'WHERE a.id = "{outbox}".appointment_id)'
    )


# --- Preparing ahead and handing over at the due second -------------------------------------------


@dataclass(eq=False)
class Prepared:
    """A claimed row, decided ahead of its due time and held until then."""

    message: HeldRow
    job: SendJob | None  # None: it was not going out; decided again when due
    late_state: str
    deadline: datetime  # past this, it is decided again (and skipped as too late)
    decided_again: bool = False

    @classmethod
    def of(cls, message: OutboxMessage, job: SendJob | None, **kwargs) -> Prepared:
        return cls(HeldRow.of(message), job, message.late_state, **kwargs)


@dataclass(eq=False, slots=True)
class HeldRow:
    """What the hand-over needs of a prepared row, instead of the row's model instances (the
    row, its session, participant, client, preferences and join link: ~8 KB a held row, 342 MB
    for a burst of 30,000). A row whose call fails is read again to be recorded (_record)."""

    pk: int
    appointment_id: int
    client_id: int | None  # the client it goes to (messaging.fence fences clients too)
    due_at: datetime
    claim_token: str

    @classmethod
    def of(cls, message: OutboxMessage) -> HeldRow:
        client_id = None
        if message.participant_id is not None and not message.recipient_key.startswith(Audience.CLINICIAN):
            client_id = message.participant.client_id
        return cls(message.pk, message.appointment_id, client_id, message.due_at, message.claim_token)


class Dispatcher:
    """Claims what falls due within DISPATCH_LOOKAHEAD_SECONDS, decides and renders it ahead
    (the same rules as ever: ``_prepare`` at the moment the row falls due), holds it ready, and
    at the due second only hands it over: one statement per chunk marks it "sending" if nothing
    in LATE_STATE changed, and the chunk's provider calls start right then.

    Exactly once is unchanged: rows are held under a claim lease that ends the claim lease
    after their due time (a dispatcher that dies holding them loses them then, and they are
    planned again), "sending" is committed before any provider call, and a "sending" row whose
    dispatcher died becomes "unknown". Used as a context manager: on leaving, rows still held
    are given back (planned again) and the last chunk is recorded."""

    def __init__(self, *, lookahead_seconds: float | None = None, token: str | None = None):
        seconds = settings.DISPATCH_LOOKAHEAD_SECONDS if lookahead_seconds is None else lookahead_seconds
        self.lookahead = timedelta(seconds=seconds)
        self.token = token or uuid.uuid4().hex
        self._held: dict[int, Prepared] = {}
        # A heap of (due_at, id, Prepared): plain tuples, so ordering 30,000 held rows at the due
        # second compares datetimes and ints in C (a Python __lt__ per comparison took 2.5 s of
        # the hand-over, docs/benchmarks.md). Entries no longer held are skipped.
        self._queue: list[tuple[datetime, int, Prepared]] = []
        self._sender: _Sender | None = None

    def __enter__(self) -> Dispatcher:
        self._sender = _Sender(get_sms_backend(), get_email_backend(), self.token)
        return self

    def __exit__(self, *exc) -> None:
        sender, self._sender = self._sender, None
        try:
            if exc[0] is None:
                sender.finish(DispatchReport())
        finally:
            sender.close()
            self.release()

    # --- the loop's view

    @property
    def held(self) -> int:
        return len(self._held)

    def next_wake(self) -> datetime | None:
        """When this dispatcher next has work: its first held row falls due, or the first
        planned row comes within the look-ahead."""
        moments = []
        if self._queue:
            self._drop_stale_heads()
        if self._queue:
            moments.append(self._queue[0][0])
        due = next_due_at()
        if due is not None:
            moments.append(due - self.lookahead)
        return min(moments) if moments else None

    def release(self) -> int:
        """Give back the rows held and not sent (planned again, for any dispatcher)."""
        ids = list(self._held)
        self._held.clear()
        self._queue.clear()
        if not ids:
            return 0
        try:
            return OutboxMessage.objects.filter(
                pk__in=ids, claim_token=self.token, state=OutboxState.CLAIMED
            ).update(state=OutboxState.PLANNED, claim_token="", lease_until=None, updated_at=timezone.now())
        except DatabaseError:
            logger.warning("could not give back %s held rows; their leases will expire", len(ids))
            return 0

    # --- one sweep

    def sweep(
        self,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        budget_seconds: float | None = None,
        until: datetime | None = None,
    ) -> DispatchReport:
        """Hand over what is due, claim and prepare what falls due within the look-ahead (in
        batches of ``limit``; handing over between batches whatever fell due meanwhile), and
        hand over again. With ``budget_seconds`` no new batch is claimed once that much time has
        passed, so a caller with a hard time limit (the django-q2 task) is never killed in the
        middle of a hand-over. Nothing due after ``until`` is claimed (the caller stops then)."""
        started = time.monotonic()
        fixed_now = now
        now = now or timezone.now()
        limit = limit or settings.DISPATCH_BATCH_SIZE
        report = DispatchReport()
        # A chunk left with the provider by a failed sweep is recorded before leases expire.
        self._sender.finish(report)
        report.requeued_leases = expire_leases(now=now)
        while True:
            self._hand_over_due(report, fixed_now)
            clock = fixed_now or timezone.now()
            horizon = clock + self.lookahead
            if until is not None:
                horizon = min(horizon, until)
            ids = claim_rows(token=self.token, now=clock, horizon=horizon, limit=limit)
            if not ids:
                break
            report.claimed += len(ids)
            self._prepare_batch(_claimed_rows(self.token, ids), clock, report)
            if len(ids) < limit or (
                budget_seconds is not None and time.monotonic() - started >= budget_seconds
            ):
                self._hand_over_due(report, fixed_now)
                break
        self._sender.finish(report)
        DispatcherHeartbeat.objects.update_or_create(
            name=HEARTBEAT_NAME, defaults={"last_sweep_at": timezone.now(), "last_sweep_sent": report.sent}
        )
        return report

    def _prepare_batch(self, rows: list[OutboxMessage], now: datetime, report: DispatchReport) -> None:
        """Decide every row at the moment it falls due (or now, if it already has). What is due
        goes into the hold too, and out again at once."""
        overrides = OverrideLookup.for_messages(rows)
        for message in rows:
            at = max(message.due_at, now)
            decision = _prepare(message, at, overrides)
            deadline = send_deadline(
                due_at=message.due_at, appointment=message.appointment, step=message.step
            )
            if isinstance(decision, SendJob):
                self._hold(Prepared.of(message, decision, deadline=deadline))
            elif message.due_at > now:
                # Not going out as things stand: decided again when due, in case they change.
                self._hold(Prepared.of(message, None, deadline=deadline))
            else:
                _apply(message, decision, now, report)

    def _hold(self, prepared: Prepared) -> None:
        self._held[prepared.message.pk] = prepared
        heapq.heappush(self._queue, (prepared.message.due_at, prepared.message.pk, prepared))

    def _drop_stale_heads(self) -> None:
        while self._queue and self._held.get(self._queue[0][1]) is not self._queue[0][2]:
            heapq.heappop(self._queue)

    def _take_due(self, clock: datetime) -> list[Prepared]:
        due = []
        while self._queue:
            self._drop_stale_heads()
            if not self._queue or self._queue[0][0] > clock:
                break
            _, pk, prepared = heapq.heappop(self._queue)
            del self._held[pk]
            due.append(prepared)
        return due

    def _hand_over_due(self, report: DispatchReport, fixed_now: datetime | None) -> None:
        """Everything held that is due by now: handed over chunk by chunk, each chunk at the
        moment its provider calls can start (not queued behind another chunk's), so the last
        check of LATE_STATE comes right before the calls."""
        clock = fixed_now or timezone.now()
        due = self._take_due(clock)
        if not due:
            return
        # Rows that were not going out, or whose moment has passed, are decided again now.
        undecided = [p for p in due if p.job is None or clock > p.deadline]
        pending = deque(p for p in due if p.job is not None and clock <= p.deadline)
        if undecided:
            pending.extend(self._decide_again(undecided, report, fixed_now))
        width = settings.DISPATCH_HANDOVER_CHUNK
        while pending:
            chunk = [pending.popleft() for _ in range(min(width, len(pending)))]
            refused = self._sender.hand_over_and_start(chunk, report)
            if refused:
                report.rechecked += len(refused)
                pending.extend(self._decide_again(refused, report, fixed_now))

    def _decide_again(
        self, stale: list[Prepared], report: DispatchReport, fixed_now: datetime | None = None
    ) -> list[Prepared]:
        """Read the rows again and decide them now, by the same rules; what is to be sent comes
        back for a hand-over of its own. A row found changed a second time is given back (planned
        again) rather than chased; one no longer ours (its lease ran out) is dropped."""
        now = fixed_now or timezone.now()
        fresh = {row.pk: row for row in _claimed_rows(self.token, [p.message.pk for p in stale])}
        again: list[Prepared] = []
        overrides = OverrideLookup.for_messages(list(fresh.values()))
        for prepared in stale:
            message = fresh.get(prepared.message.pk)
            if message is None:
                continue
            if prepared.decided_again:
                OutboxMessage.objects.filter(
                    pk=message.pk, claim_token=self.token, state=OutboxState.CLAIMED
                ).update(state=OutboxState.PLANNED, claim_token="", lease_until=None, updated_at=now)
                continue
            decision = _prepare(message, max(message.due_at, now), overrides)
            if isinstance(decision, SendJob):
                deadline = send_deadline(
                    due_at=message.due_at, appointment=message.appointment, step=message.step
                )
                again.append(Prepared.of(message, decision, deadline=deadline, decided_again=True))
            else:
                _apply(message, decision, now, report)
        return again


def _apply(
    message: OutboxMessage, decision: Defer | tuple[str, str], now: datetime, report: DispatchReport
) -> None:
    if isinstance(decision, Defer):
        _defer(message, decision)
        report.deferred += 1
    else:
        _settle(message, *decision, now)
        report.skipped += 1


def dispatch_due(
    *, now: datetime | None = None, limit: int | None = None, budget_seconds: float | None = None
) -> DispatchReport:
    """One sweep with nothing prepared ahead: everything due up to ``now`` (in batches of
    ``limit``) is decided and sent (``manage.py dispatch_due``, tests). The long-running loops
    (messaging.tasks) keep a ``Dispatcher`` that prepares ahead."""
    with Dispatcher(lookahead_seconds=0) as dispatcher:
        return dispatcher.sweep(now=now, limit=limit, budget_seconds=budget_seconds)


def dispatch_one(*, message_id: int, now: datetime | None = None) -> DispatchReport:
    """Send one due message now (the clinician's one-tap check-in text) instead of waiting for the
    next sweep. The same claim as a sweep's, so it goes out once whoever gets to it first; if this
    process dies, the row's lease expires and the dispatcher sends it."""
    now = now or timezone.now()
    with Dispatcher(lookahead_seconds=0) as dispatcher:
        claimed = OutboxMessage.objects.filter(
            pk=message_id, state=OutboxState.PLANNED, due_at__lte=now
        ).update(
            state=OutboxState.CLAIMED,
            claim_token=dispatcher.token,
            lease_until=max(now, timezone.now()) + _claim_lease(),
            updated_at=now,
        )
        report = DispatchReport(claimed=claimed)
        if claimed:
            dispatcher._prepare_batch(_claimed_rows(dispatcher.token, [message_id]), now, report)
            dispatcher._hand_over_due(report, now)
            dispatcher._sender.finish(report)
    return report


class _Sender:
    """Sends handed-over chunks on a pool of DISPATCH_CONCURRENCY threads and records them.

    A chunk is handed over (re-checked and marked "sending") only once the previous chunk's
    provider calls have all answered, so its calls start right after its last check (issue #19:
    a chunk queued behind another's calls was checked too early). On PostgreSQL the previous
    chunk's accepted sends are recorded in the same statement string as the next hand-over: one
    round trip and one commit a chunk. A dispatcher killed mid-burst therefore leaves at most one
    chunk "unknown" (the one with the provider); the rest of its claim expires and is sent by
    another."""

    def __init__(self, sms_backend, email_backend, token: str):
        self._backends = (sms_backend, email_backend)
        self._push_backend = None
        self._token = token
        self._pool = ThreadPoolExecutor(
            max_workers=min(settings.DISPATCH_CONCURRENCY, settings.DISPATCH_HANDOVER_CHUNK)
        )
        self._in_flight: tuple[list[Prepared], list] | None = None
        self._fence = Fence().open()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._fence.close()

    def hand_over_and_start(self, chunk: list[Prepared], report: DispatchReport) -> list[Prepared]:
        """Once the chunk with the provider has had its answers, hand this one over and start
        its calls; returns the rows refused by the hand-over. On PostgreSQL the previous chunk's
        accepted sends are recorded in the same round trip and commit as this hand-over (which
        is durable, as a hand-over must be); its failures, rare, are recorded while this chunk
        is with the provider."""
        previous = self._collect(report)
        accepted = previous[0] if previous else []
        then = None
        if accepted and connection.vendor == "postgresql":
            then = _accepted_update(accepted, self._token, previous[2])
        # Changes fenced up to now are seen by the hand-over's own check; later ones by the fence.
        handed_at = self._fence.read()
        started, refused = _hand_over(chunk, self._token, then=then)
        if then is not None:
            _count_accepted(accepted, previous[2], report)
        elif accepted:
            _record_accepted(accepted, self._token, previous[2], report)
        if started:
            if self._push_backend is None and any(p.job.channel == Channel.PUSH for p in started):
                # Made only when needed: a development setup without VAPID keys never gets here.
                self._push_backend = get_push_backend()
            self._in_flight = self._start_calls(started, handed_at)
        if previous:
            self._record_failures(previous[1], previous[2], report)
        return refused

    def finish(self, report: DispatchReport) -> None:
        """Wait for and record the chunk with the provider."""
        previous = self._collect(report)
        if previous:
            accepted, failures, sent_at = previous
            _record_accepted(accepted, self._token, sent_at, report)
            self._record_failures(failures, sent_at, report)

    def _start_calls(self, started: list[Prepared], handed_at: float):
        """Start the chunk's provider calls: DISPATCH_CONCURRENCY threads take its rows one at a
        time, each the next not yet taken (balanced as one task per row would be, without a
        future per row: 15 µs a row of the hand-over's Python). Each call is preceded by its own
        read of the fence."""
        outcomes: list = [None] * len(started)
        rows = iter(range(len(started)))  # shared: next() on it is atomic under the GIL
        fence, backends = self._fence, (*self._backends, self._push_backend)

        def calls() -> None:
            for i in rows:
                p = started[i]
                try:
                    outcomes[i] = _send_unless_fenced(fence, handed_at, p.message, p.job, *backends)
                except BaseException:  # never lose an outcome: a call that may have gone is unknown
                    outcomes[i] = ChannelError(
                        "Unexpected error in the sending thread", permanent=False, ambiguous=True
                    )
                    raise

        workers = min(len(started), self._pool._max_workers)
        return started, outcomes, [self._pool.submit(calls) for _ in range(workers)]

    def _collect(self, report: DispatchReport):
        """(accepted, failures, when) of the chunk with the provider, once it has all its answers."""
        if self._in_flight is None:
            return None
        chunk, outcomes, futures = self._in_flight
        self._in_flight = None
        for future in futures:
            if future.exception() is not None:
                logger.error("a sending thread failed", exc_info=future.exception())
        sent_at = timezone.now()
        accepted, failures, fenced = [], [], []
        for p, outcome in zip(chunk, outcomes, strict=True):
            if isinstance(outcome, SendResult):
                accepted.append((p.job, p.message, outcome))
            elif outcome is FENCED or outcome is None:
                # Fenced, or never taken by a thread (every one failed first): no call was made.
                fenced.append(p.message.pk)
            else:
                failures.append((p, outcome))
        if fenced:
            _give_back_fenced(fenced, self._token)
            report.fenced += len(fenced)
        return accepted, failures, sent_at

    def _record_failures(self, failures, sent_at: datetime, report: DispatchReport) -> None:
        """Failures are rare: their rows are read again, whole, to be retried, settled or given
        an e-mail fallback by the same rules as ever."""
        if not failures:
            return
        rows = OutboxMessage.objects.select_related("appointment", "step").in_bulk(
            [p.message.pk for p, _ in failures]
        )
        for p, outcome in failures:
            message = rows.get(p.message.pk)
            if message is not None:
                _record(p.job, outcome, message, sent_at, report, token=p.message.claim_token)


def _record_accepted(accepted, token: str, now: datetime, report: DispatchReport) -> None:
    """Record a chunk's accepted sends in one UPDATE (the common case, and the dispatcher's main
    cost when done row by row), with the same conditions as one by one: still ours, still sending.

    On PostgreSQL committed without waiting for the WAL flush (``synchronous_commit`` off for this
    transaction only, set in the same round trip): if PostgreSQL itself crashed and lost this
    commit, the rows would still say "sending", become "unknown" when their lease ends and never
    be resent; exactly once is kept. The hand-over, which decides whether a row may be resent, is
    always committed durably."""
    if not accepted:
        return
    if connection.vendor == "postgresql":
        statement, params = _accepted_update(accepted, token, now)
        if connection.get_autocommit():
            # One round trip: Django's psycopg cursor binds parameters client-side, so one string
            # may hold the transaction, its asynchronous commit and the UPDATE.
            statement = f"BEGIN; SET LOCAL synchronous_commit TO OFF; {statement}; COMMIT"
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
    else:
        per_row = {
            "channel": [(job.message_id, job.channel) for job, _, _ in accepted],
            "provider_message_id": [
                (job.message_id, result.provider_message_id) for job, _, result in accepted
            ],
            "reason": [(job.message_id, job.note) for job, _, _ in accepted],
        }
        OutboxMessage.objects.filter(
            pk__in=[job.message_id for job, _, _ in accepted], claim_token=token, state=OutboxState.SENDING
        ).update(
            **{
                field: Case(*(When(pk=pk, then=Value(value)) for pk, value in pairs))
                for field, pairs in per_row.items()
            },
            state=OutboxState.ACCEPTED,
            sent_at=now,
            attempts=F("attempts") + 1,
            lease_until=None,
            updated_at=now,
        )
    _count_accepted(accepted, now, report)


def _count_accepted(accepted, now: datetime, report: DispatchReport) -> None:
    report.sent += len(accepted)
    report.lateness_seconds.extend((now - message.due_at).total_seconds() for _, message, _ in accepted)


def _accepted_update(accepted, token: str, now: datetime) -> tuple[str, list]:
    """PostgreSQL: the UPDATE recording accepted sends, the per-row values as arrays: one fixed
    statement whatever the chunk (the ORM's CASE … WHEN took longer to build than PostgreSQL took
    to run it)."""
    table = OutboxMessage._meta.db_table
    statement = (
        f'UPDATE "{table}" AS o SET state = %s, channel = v.channel, '
        "provider_message_id = v.provider_id, reason = v.reason, sent_at = %s, "
        "attempts = o.attempts + 1, lease_until = NULL, updated_at = %s "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) "
        "AS v(id, channel, provider_id, reason) "
        f"WHERE o.id = v.id AND o.claim_token = %s AND {_NOT_BY_LEASE_INDEX.format('o.state')} = %s"
    )
    params = [
        OutboxState.ACCEPTED,
        now,
        now,
        [job.message_id for job, _, _ in accepted],
        [job.channel for job, _, _ in accepted],
        [result.provider_message_id for _, _, result in accepted],
        [job.note for job, _, _ in accepted],
        token,
        OutboxState.SENDING,
    ]
    return statement, params


# The rows of a chunk are found by their ids (the primary key). Written as ``state || ''`` the
# state condition cannot use the partial index of leased rows (outbox_leased), which the planner
# would otherwise prefer whenever its statistics say few rows are claimed (after a burst was
# planned, always), scanning every claimed row of the burst for each chunk.
_NOT_BY_LEASE_INDEX = "({} || '')"


def _hand_over(
    chunk: list[Prepared], token: str, *, then: tuple[str, list] | None = None
) -> tuple[list[Prepared], list[Prepared]]:
    """(started, refused): mark the chunk "sending" — one statement, committed before any of its
    provider calls — keeping only the rows this dispatcher still holds whose LATE_STATE is what
    they were prepared with. Refused rows changed since (to be decided again), or were lost with
    the claim lease (another dispatcher may have them: they must not go twice). One statement:
    the conditional UPDATE returns the rows it moved (PostgreSQL, SQLite >= 3.35). ``then``: a
    statement run after it in the same round trip and transaction (PostgreSQL, which runs the
    statements of one string as one transaction)."""
    now = timezone.now()
    table = OutboxMessage._meta.db_table
    then_sql, then_params = then or ("", [])
    ids = [p.message.pk for p in chunk]
    marked = [OutboxState.SENDING, now + timedelta(seconds=settings.DISPATCH_SENDING_LEASE_SECONDS), now]
    if connection.vendor == "postgresql":
        # The rows as two arrays (one parameter each, not two per row), and LATE_STATE computed
        # once per row, in the statement's snapshot as before (written in the UPDATE's join, the
        # planner evaluated it twice per row, in the hash condition: 5 of the 8 ms a chunk).
        statement = (
            f'WITH unchanged(id) AS (SELECT "{table}".id FROM unnest(%s::bigint[], %s::text[]) '
            f'AS ready(id, late_state) JOIN "{table}" ON "{table}".id = ready.id '
            f"WHERE {late_state_sql()} = ready.late_state) "
            f'UPDATE "{table}" SET state = %s, lease_until = %s, updated_at = %s '
            f'WHERE "{table}".id = ANY(%s::bigint[]) AND "{table}".id IN (SELECT id FROM unchanged) '
            f"AND claim_token = %s AND {_NOT_BY_LEASE_INDEX.format('state')} = %s "
            f'RETURNING "{table}".id'
        )
        params = [ids, [p.late_state for p in chunk], *marked, ids, token, OutboxState.CLAIMED]
    else:
        ready = ", ".join(["(%s, %s)"] * len(chunk))
        statement = (
            f"WITH ready(id, late_state) AS (VALUES {ready}) "
            f'UPDATE "{table}" SET state = %s, lease_until = %s, updated_at = %s FROM ready '
            f'WHERE "{table}".id IN ({", ".join(["%s"] * len(chunk))}) AND "{table}".id = ready.id '
            f"AND claim_token = %s AND {_NOT_BY_LEASE_INDEX.format('state')} = %s "
            f'AND {late_state_sql()} = ready.late_state RETURNING "{table}".id'
        )
        params = [
            *(value for p in chunk for value in (p.message.pk, p.late_state)),
            *marked,
            *ids,
            token,
            OutboxState.CLAIMED,
        ]
    with connection.cursor() as cursor:
        cursor.execute(statement + (f"; {then_sql}" if then_sql else ""), [*params, *then_params])
        moved = {pk for (pk,) in cursor.fetchall()}
    started = [p for p in chunk if p.message.pk in moved]
    refused = [p for p in chunk if p.message.pk not in moved]
    return started, refused
