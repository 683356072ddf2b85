"""What a client does about a session without an account (SPEC F4): confirm, ask to reschedule,
cancel within the practice policy, or just reply — by text (messaging.twilio_inbound) or on the
session page behind an opaque link (/a/<token>, scheduling.client_views).

Every action is recorded as an ``AppointmentActivity`` with its channel, so staff see on the
session page what the client did and how. Confirming and cancelling go through the ordinary
services (``appointment_confirm``, ``appointment_cancel``); a reschedule request is a front-desk
queue item (``FollowUpKind.RESCHEDULE_REQUESTED``): clients do not pick a new slot themselves.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from scheduling.models import (
    ActivityChannel,
    ActivityKind,
    Appointment,
    AppointmentActivity,
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    FollowUpKind,
    ManageLink,
)
from scheduling.services import appointment_cancel, appointment_confirm, follow_up_raise

TOKEN_BYTES = 24  # 192 bits
MAX_TOKEN_LENGTH = 64
# After a no-show the link offers "request a new time" for this long.
AFTER_NO_SHOW_LIFETIME = timedelta(days=7)
MAX_REPLY_LENGTH = 1600  # Twilio's limit for one inbound message
# A rescheduled session's link follows it to the new time, at most this many moves.
MAX_FOLLOWED_MOVES = 10


# --- Links ------------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def manage_link_for(
    *, participant: AppointmentParticipant, now: datetime, valid_until: datetime | None = None
) -> str:
    """A new /a/<token> for the participant's session, valid until the session ends (or
    ``valid_until``). Only the hash is stored, so each message gets its own link."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = valid_until or participant.appointment.ends_at
    ManageLink.objects.create(
        participant=participant, token_hash=_hash(token), created_at=now, expires_at=max(expires_at, now)
    )
    return token


def _follow_moves(participant: AppointmentParticipant) -> AppointmentParticipant:
    """The same client's place in the session this one was moved to, if it was rescheduled."""
    for _ in range(MAX_FOLLOWED_MOVES):
        appointment = participant.appointment
        if appointment.status != AppointmentStatus.RESCHEDULED:
            break
        following = (
            AppointmentParticipant.objects.filter(
                appointment__rescheduled_from=appointment, client_id=participant.client_id
            )
            .select_related("appointment__practice", "appointment__clinician", "client")
            .first()
        )
        if following is None:
            break
        participant = following
    return participant


def manage_link_participant(token: str, now: datetime) -> AppointmentParticipant | None:
    """The participant a token belongs to (following reschedules) while the link is valid: until
    its expiry, or, for a session that was moved, until the new time ends. Else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    link = (
        ManageLink.objects.filter(token_hash=_hash(token))
        .select_related(
            "participant__appointment__practice", "participant__appointment__clinician", "participant__client"
        )
        .first()
    )
    if link is None:
        return None
    participant = _follow_moves(link.participant)
    moved = participant.pk != link.participant_id
    if now < link.expires_at or (moved and now < participant.appointment.ends_at):
        return participant
    return None


# --- What the page may offer --------------------------------------------------------------------


@dataclass(frozen=True)
class ClientOptions:
    can_confirm: bool
    can_request_reschedule: bool
    can_cancel: bool
    cancel_is_late: bool
    is_no_show: bool


def client_options(participant: AppointmentParticipant, now: datetime) -> ClientOptions:
    """What the client may do about the session right now. Cancelling online is for one-to-one
    sessions: in a group, one client's cancellation must not cancel everyone's session, so a
    group client asks the front desk instead."""
    appointment = participant.appointment
    upcoming = appointment.is_upcoming and now < appointment.starts_at
    is_no_show = participant.attendance == Attendance.NO_SHOW
    group = appointment.participants.count() > 1
    return ClientOptions(
        can_confirm=upcoming and appointment.status == AppointmentStatus.SCHEDULED,
        can_request_reschedule=upcoming or is_no_show,
        can_cancel=upcoming and not group,
        cancel_is_late=appointment.is_late_cancel_at(now),
        is_no_show=is_no_show,
    )


# --- Actions -----------------------------------------------------------------------------------


def _record(
    *,
    participant: AppointmentParticipant,
    kind: str,
    channel: str,
    now: datetime,
    body: str = "",
    detail: str = "",
    external_id: str = "",
    actor=None,
) -> AppointmentActivity:
    return AppointmentActivity.objects.create(
        practice_id=participant.appointment.practice_id,
        appointment_id=participant.appointment_id,
        participant=participant,
        kind=kind,
        channel=channel,
        body=body[:MAX_REPLY_LENGTH],
        detail=detail[:300],
        external_id=external_id,
        actor=actor,
        at=now,
    )


def _seen(external_id: str, participant: AppointmentParticipant) -> bool:
    return (
        bool(external_id)
        and AppointmentActivity.objects.filter(external_id=external_id, participant=participant).exists()
    )


def _once(action):
    """Run ``action`` once per inbound message id: a re-delivered webhook records nothing twice
    (the unique constraint catches a concurrent re-delivery). Returns False for a duplicate."""
    try:
        with transaction.atomic():
            action()
    except IntegrityError:
        return False
    return True


def appointment_client_confirm(
    *, participant: AppointmentParticipant, channel: str, now: datetime, external_id: str = ""
) -> Appointment:
    """The client confirmed the session (texted C, or tapped Confirm). Confirming a confirmed
    session changes nothing but is still shown on the timeline."""
    if _seen(external_id, participant):
        return participant.appointment

    def confirm():
        appointment_confirm(appointment=participant.appointment, now=now)
        _record(
            participant=participant,
            kind=ActivityKind.CONFIRMED,
            channel=channel,
            now=now,
            external_id=external_id,
        )

    _once(confirm)
    return Appointment.objects.get(pk=participant.appointment_id)


def appointment_client_request_reschedule(
    *, participant: AppointmentParticipant, channel: str, now: datetime, external_id: str = ""
) -> None:
    """The client asked for another time (texted R, tapped "I need to reschedule", or asked for a
    new time after a no-show): a front-desk queue item, and an entry on the timeline. Picking the
    new slot is the front desk's job; the session stays booked until they move or cancel it."""
    appointment = participant.appointment
    options = client_options(participant, now)
    if not options.can_request_reschedule:
        raise ValidationError(
            f"This session is {appointment.get_status_display().lower()}; please call the practice."
        )
    if _seen(external_id, participant):
        return
    how = "by text" if channel == ActivityChannel.SMS else "on their session page"
    after_no_show = " after a no-show" if options.is_no_show else ""

    def request():
        follow_up_raise(
            appointment=appointment,
            participant=participant,
            kind=FollowUpKind.RESCHEDULE_REQUESTED,
            detail=f"The client asked {how} for a new time{after_no_show}.",
        )
        _record(
            participant=participant,
            kind=ActivityKind.RESCHEDULE_REQUESTED,
            channel=channel,
            now=now,
            external_id=external_id,
            detail="After a no-show" if options.is_no_show else "",
        )

    _once(request)


def appointment_client_cancel(*, participant: AppointmentParticipant, now: datetime) -> Appointment:
    """The client cancelled on their session page, within the practice policy: the cancellation
    is recorded as the client's, and as late if it falls inside the late-cancel window."""
    if not client_options(participant, now).can_cancel:
        raise ValidationError("This session can no longer be cancelled online; please call the practice.")
    with transaction.atomic():
        appointment = appointment_cancel(
            appointment=participant.appointment,
            by_client=True,
            reason="Cancelled by the client on their session page.",
            now=now,
        )
        _record(
            participant=participant,
            kind=ActivityKind.CANCELLED,
            channel=ActivityChannel.LINK,
            now=now,
            detail="Late cancellation" if appointment.is_late_cancel else "",
        )
    return appointment


def appointment_client_reply(
    *, participant: AppointmentParticipant, body: str, now: datetime, external_id: str = ""
) -> bool:
    """A text from the client that is not a keyword: kept on the session's timeline so staff see
    "client replied" (the words stay in our database, never in logs). False for a re-delivery."""
    if _seen(external_id, participant):
        return False
    return _once(
        lambda: _record(
            participant=participant,
            kind=ActivityKind.REPLIED,
            channel=ActivityChannel.SMS,
            now=now,
            body=body.strip(),
            external_id=external_id,
        )
    )


def activity_record(
    *,
    participant: AppointmentParticipant,
    kind: str,
    channel: str,
    now: datetime,
    actor=None,
    detail: str = "",
) -> AppointmentActivity:
    """A staff or system entry on the session's timeline (check-in text sent, no-show marked or
    reversed). The caller holds the transaction."""
    return _record(participant=participant, kind=kind, channel=channel, now=now, actor=actor, detail=detail)


# --- Reading -------------------------------------------------------------------------------------


def appointment_activity(*, appointment: Appointment) -> list[AppointmentActivity]:
    """The session's client timeline, oldest first (session page and operator console)."""
    return list(
        AppointmentActivity.objects.filter(appointment=appointment)
        .select_related("participant__client", "actor")
        .order_by("at", "pk")
    )
