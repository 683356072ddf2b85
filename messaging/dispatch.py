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

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from messaging import compose
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
from practice.models import ClinicianProfile, Practice
from scheduling.models import Appointment, AppointmentStatus, Attendance

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
    lateness_seconds: list[float] = field(default_factory=list)


# --- Claiming ----------------------------------------------------------------------------------


def _claim_lease() -> timedelta:
    return timedelta(seconds=settings.DISPATCH_CLAIM_LEASE_SECONDS)


def claim_due(*, now: datetime, limit: int) -> str:
    """Claim up to ``limit`` due rows for this sweep and return the claim token."""
    token = uuid.uuid4().hex
    due = OutboxMessage.objects.filter(state=OutboxState.PLANNED, due_at__lte=now).order_by("due_at")
    claim = {
        "state": OutboxState.CLAIMED,
        "claim_token": token,
        # From the wall clock, not the sweep's ``now``: a batch claimed late in a long sweep must
        # still get a full lease.
        "lease_until": max(now, timezone.now()) + _claim_lease(),
        "updated_at": now,
    }
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Rows another dispatcher holds are skipped, not waited for.
            ids = due.select_for_update(skip_locked=True).values("pk")[:limit]
            OutboxMessage.objects.filter(pk__in=ids).update(**claim)
        else:
            ids = list(due.values_list("pk", flat=True)[:limit])
            OutboxMessage.objects.filter(pk__in=ids, state=OutboxState.PLANNED).update(**claim)
    return token


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
    if notice is not None:
        body_key = "sms_body" if channel == Channel.SMS else "email_body"
        if notice["kind"] == CANCELLATION_NOTICE:
            notice = CANCELLATION_NOTICE_TEXTS.get(language) or notice
        elif notice is NO_SHOW_NOTICE and message.participant.no_show_fee_applies():
            body_key += "_fee"
        return notice["subject"], notice[body_key]
    if message_is_link_resend(message.kind):
        body = LINK_RESEND_TEMPLATES["sms_body" if channel == Channel.SMS else "email_body"]
        return LINK_RESEND_TEMPLATES["subject"], body
    step = message.step
    if step.anchor == Anchor.BOOKING and message.appointment.rescheduled_from_id is not None:
        # A moved session: say so, rather than reading like a second booking.
        moved = MOVED_CONFIRMATION_TEXTS.get(language) or MOVED_CONFIRMATION_TEXTS["en"]
        return moved["subject"], moved["sms_body" if channel == Channel.SMS else "email_body"]
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


def _record(job: SendJob, outcome, message: OutboxMessage, now: datetime, report: DispatchReport) -> None:
    mine = OutboxMessage.objects.filter(
        pk=job.message_id, claim_token=message.claim_token, state=OutboxState.SENDING
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


def _claimed_rows(token: str) -> list[OutboxMessage]:
    rows = list(
        OutboxMessage.objects.filter(claim_token=token, state=OutboxState.CLAIMED)
        .select_related(
            "appointment",
            "participant__client__message_preferences",
            "participant__join_link",
        )
        .order_by("due_at")
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


def dispatch_due(
    *, now: datetime | None = None, limit: int | None = None, budget_seconds: float | None = None
) -> DispatchReport:
    """One sweep: everything due up to ``now`` (in batches of ``limit``) is decided and sent.
    With ``budget_seconds`` no new batch is claimed once that much time has passed, so a caller
    with a hard time limit (the django-q2 task) is never killed in the middle of a hand-over;
    what is left stays planned for the next sweep."""
    started = time.monotonic()
    now = now or timezone.now()
    limit = limit or settings.DISPATCH_BATCH_SIZE
    report = DispatchReport(requeued_leases=expire_leases(now=now))
    with _Sender(get_sms_backend(), get_email_backend(), report) as sender:
        while True:
            # The previous batch's last chunk is still with the provider while this one is
            # claimed and prepared.
            rows = _claimed_rows(claim_due(now=now, limit=limit))
            if not rows:
                break
            report.claimed += len(rows)
            _dispatch_batch(rows, now, report, sender)
            if len(rows) < limit or (
                budget_seconds is not None and time.monotonic() - started >= budget_seconds
            ):
                break
    DispatcherHeartbeat.objects.update_or_create(
        name=HEARTBEAT_NAME, defaults={"last_sweep_at": timezone.now(), "last_sweep_sent": report.sent}
    )
    return report


def dispatch_one(*, message_id: int, now: datetime | None = None) -> DispatchReport:
    """Send one due message now (the clinician's one-tap check-in text) instead of waiting for the
    next sweep. The same claim as a sweep's, so it goes out once whoever gets to it first; if this
    process dies, the row's lease expires and the dispatcher sends it."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    claimed = OutboxMessage.objects.filter(pk=message_id, state=OutboxState.PLANNED, due_at__lte=now).update(
        state=OutboxState.CLAIMED,
        claim_token=token,
        lease_until=max(now, timezone.now()) + _claim_lease(),
        updated_at=now,
    )
    report = DispatchReport(claimed=claimed)
    if claimed:
        with _Sender(get_sms_backend(), get_email_backend(), report) as sender:
            _dispatch_batch(_claimed_rows(token), now, report, sender)
    return report


def _dispatch_batch(rows, now, report, sender: _Sender) -> None:
    jobs: list[tuple[SendJob, OutboxMessage]] = []
    overrides = OverrideLookup.for_messages(rows)
    for message in rows:
        decision = _prepare(message, now, overrides)
        if isinstance(decision, SendJob):
            jobs.append((decision, message))
        elif isinstance(decision, Defer):
            _defer(message, decision)
            report.deferred += 1
        else:
            _settle(message, *decision, now)
            report.skipped += 1
    token = rows[0].claim_token
    width = settings.DISPATCH_HANDOVER_CHUNK
    for first in range(0, len(jobs), width):
        sender.send(_hand_over(jobs[first : first + width], token), token)


class _Sender:
    """Sends handed-over chunks on a pool of DISPATCH_CONCURRENCY threads and records them.

    Two chunks at most are with the provider at once: chunk k+1 is handed over and queued
    behind chunk k's requests before chunk k is waited for and recorded, so the threads are
    never idle while the database work of a chunk is done (with a provider answering in
    150 ms, that idle time was ~40 % of the hand-off). A dispatcher killed mid-burst therefore
    leaves at most two chunks "unknown"; the rest of its claim expires and is sent by another."""

    def __init__(self, sms_backend, email_backend, report: DispatchReport):
        self._backends = (sms_backend, email_backend)
        self._push_backend = None
        self._report = report
        workers = min(settings.DISPATCH_CONCURRENCY, 2 * settings.DISPATCH_HANDOVER_CHUNK)
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._in_flight: tuple[list[tuple[SendJob, OutboxMessage]], list, str] | None = None

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self._record_in_flight()
        finally:
            self._pool.shutdown(wait=True)

    def send(self, chunk: list[tuple[SendJob, OutboxMessage]], token: str) -> None:
        """Start the chunk's provider calls, then wait for and record the previous chunk's."""
        if not chunk:
            return
        if self._push_backend is None and any(job.channel == Channel.PUSH for job, _ in chunk):
            # Made only when needed: a development setup without VAPID keys never gets here.
            self._push_backend = get_push_backend()
        futures = [self._pool.submit(_send, job, *self._backends, self._push_backend) for job, _ in chunk]
        self._record_in_flight()
        self._in_flight = (chunk, futures, token)

    def _record_in_flight(self) -> None:
        if self._in_flight is None:
            return
        chunk, futures, token = self._in_flight
        self._in_flight = None
        outcomes = [future.result() for future in futures]
        sent_at = timezone.now()
        accepted = [
            (job, message, outcome)
            for (job, message), outcome in zip(chunk, outcomes, strict=True)
            if isinstance(outcome, SendResult)
        ]
        _record_accepted(accepted, token, sent_at, self._report)
        for (job, message), outcome in zip(chunk, outcomes, strict=True):
            if not isinstance(outcome, SendResult):
                _record(job, outcome, message, sent_at, self._report)


def _record_accepted(accepted, token: str, now: datetime, report: DispatchReport) -> None:
    """Record a chunk's accepted sends in one UPDATE (the common case, and the dispatcher's main
    cost when done row by row), with the same conditions as one by one: still ours, still sending."""
    if not accepted:
        return
    if connection.vendor == "postgresql":
        _record_accepted_postgresql(accepted, token, now)
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
    report.sent += len(accepted)
    report.lateness_seconds.extend((now - message.due_at).total_seconds() for _, message, _ in accepted)


def _record_accepted_postgresql(accepted, token: str, now: datetime) -> None:
    """The same UPDATE with the per-row values as arrays: one fixed statement whatever the chunk
    (the ORM's CASE … WHEN took longer to build than PostgreSQL took to run it).

    Committed without waiting for the WAL flush (``synchronous_commit`` off for this transaction
    only): if PostgreSQL itself crashed and lost this commit, the rows would still say "sending",
    become "unknown" when their lease ends and never be resent; exactly once is kept. The
    hand-over, which decides whether a row may be resent, is always committed durably."""
    table = OutboxMessage._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(
            f'UPDATE "{table}" AS o SET state = %s, channel = v.channel, '
            "provider_message_id = v.provider_id, reason = v.reason, sent_at = %s, "
            "attempts = o.attempts + 1, lease_until = NULL, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) "
            "AS v(id, channel, provider_id, reason) "
            "WHERE o.id = v.id AND o.claim_token = %s AND o.state = %s",
            [
                OutboxState.ACCEPTED,
                now,
                now,
                [job.message_id for job, _, _ in accepted],
                [job.channel for job, _, _ in accepted],
                [result.provider_message_id for _, _, result in accepted],
                [job.note for job, _, _ in accepted],
                token,
                OutboxState.SENDING,
            ],
        )


def _hand_over(chunk: list[tuple[SendJob, OutboxMessage]], token: str) -> list[tuple[SendJob, OutboxMessage]]:
    """Mark the chunk "sending" and keep only the rows this dispatcher still holds: if its claim
    lease ran out meanwhile, another dispatcher may have taken a row, and it must not go twice.
    The same statement checks the session once more: one cancelled or moved since the batch was
    prepared (a whole batch can take seconds in a burst) is not handed over, so no reminder goes
    out for a time that was already changed. One statement: the conditional UPDATE returns the
    rows it moved (PostgreSQL, SQLite ≥ 3.35)."""
    now = timezone.now()
    ids = [job.message_id for job, _ in chunk]
    table = OutboxMessage._meta.db_table
    appointments = Appointment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" SET state = %s, lease_until = %s, updated_at = %s '
            f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND claim_token = %s AND state = %s "
            f'AND (kind IN (%s, %s) OR NOT EXISTS (SELECT 1 FROM "{appointments}" a '
            f'WHERE a.id = "{table}".appointment_id AND a.status IN (%s, %s))) RETURNING id',
            [
                OutboxState.SENDING,
                now + timedelta(seconds=settings.DISPATCH_SENDING_LEASE_SECONDS),
                now,
                *ids,
                token,
                OutboxState.CLAIMED,
                CANCELLATION_NOTICE,
                CANCELLATION_NOTICE + FALLBACK_SUFFIX,
                AppointmentStatus.CANCELLED,
                AppointmentStatus.RESCHEDULED,
            ],
        )
        held = {pk for (pk,) in cursor.fetchall()}
    if len(held) < len(ids):
        _withdraw_overtaken([pk for pk in ids if pk not in held], token, now)
    return [(job, message) for job, message in chunk if job.message_id in held]


def _withdraw_overtaken(ids: list[int], token: str, now: datetime) -> None:
    """Rows still claimed by this dispatcher that the hand-over refused: their session was
    cancelled or moved after they were prepared. (Rows another dispatcher took are not ours.)"""
    OutboxMessage.objects.filter(pk__in=ids, claim_token=token, state=OutboxState.CLAIMED).update(
        state=OutboxState.CANCELLED,
        reason="The session was cancelled or moved while this was being sent.",
        settled_at=now,
        lease_until=None,
        updated_at=now,
    )
