"""What a client does about a session without an account (SPEC F4): confirm, ask to reschedule,
cancel within the practice policy, or just reply — by text (messaging.twilio_inbound) or on the
session page behind an opaque link (/a/<token>, scheduling.client_views).

Every action is recorded as an ``AppointmentActivity`` with its channel, so staff see on the
session page what the client did and how. Confirming and cancelling go through the ordinary
services (``appointment_confirm``, ``appointment_cancel``). To reschedule, a client picks a new
time of the same clinician (``client_move_slots``, from the open-slot selector) and confirms it
(``appointment_client_move``, through ``appointment_reschedule``) while the practice's
``BookingPolicy`` allows (``client_move_check``); otherwise a reschedule request is a front-desk
queue item (``FollowUpKind.RESCHEDULE_REQUESTED``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from practice.models import ClinicianProfile
from scheduling.availability import Audience, Slot, local_label, open_slots, slot_rules, upcoming_slots
from scheduling.models import (
    ActivityChannel,
    ActivityKind,
    Appointment,
    AppointmentActivity,
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    BookingPolicy,
    FollowUpKind,
    ManageLink,
)
from scheduling.services import (
    _hold_calendars,
    appointment_cancel,
    appointment_confirm,
    appointment_reschedule,
    follow_up_raise,
)

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
    for _step in range(MAX_FOLLOWED_MOVES):
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
        raise ValidationError(_("This session can no longer be cancelled online; please call the practice."))
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


# --- Picking a new time ---------------------------------------------------------------------------

# A client's own moves are counted over this many days (BookingPolicy.max_moves_per_client).
MOVES_COUNTED_OVER = timedelta(days=30)
# The "pick a new time" page lists the open slots of this many days (the next ones that have any).
MOVE_DAYS_SHOWN = 5
CLIENT_BUSY_MESSAGE = gettext_lazy("You have another session at that time. Please pick another time.")
SLOT_TAKEN_MESSAGE = gettext_lazy(
    "Sorry, that time was just taken by someone else. Here are the times still open."
)


@dataclass(frozen=True)
class MoveCheck:
    allowed: bool
    reason: str = ""


def _moves_of_session(appointment: Appointment) -> int:
    """How often the client moved this session themselves: their moves along its chain of
    reschedules (a staff move does not count)."""
    chain = [appointment.pk]
    previous = appointment.rescheduled_from_id
    while previous is not None and len(chain) <= MAX_FOLLOWED_MOVES:
        chain.append(previous)
        previous = (
            Appointment.objects.filter(pk=previous).values_list("rescheduled_from_id", flat=True).first()
        )
    return AppointmentActivity.objects.filter(appointment_id__in=chain, kind=ActivityKind.MOVED).count()


def client_move_check(
    participant: AppointmentParticipant, now: datetime, policy: BookingPolicy | None = None
) -> MoveCheck:
    """May the client pick a new time for this session themselves, now? Until the late-cancel
    window starts (the same instant from which cancelling would be late), one-to-one sessions
    only, within the practice's limits on moves. Otherwise the request path stays."""
    appointment = participant.appointment
    policy = policy or BookingPolicy.for_practice(appointment.practice)
    # Worded in the language of the page that asks (practice.client_language).
    call = _("please use “I need to reschedule” or call the practice.")
    if not policy.clients_may_reschedule:
        return MoveCheck(False, _("Sessions can't be moved online here; %(call)s") % {"call": call})
    if not appointment.is_upcoming or now >= appointment.starts_at:
        return MoveCheck(False, _("This session can no longer be moved."))
    if appointment.service_type.is_group or appointment.participants.count() > 1:
        return MoveCheck(
            False, _("This is a group session, so it can't be moved online; %(call)s") % {"call": call}
        )
    if appointment.is_late_cancel_at(now):
        hours = appointment.practice.late_cancel_window_hours
        return MoveCheck(
            False,
            _("It is less than %(hours)s hours before your session, so it can't be moved online; %(call)s")
            % {"hours": hours, "call": call},
        )
    if _moves_of_session(appointment) >= policy.max_moves_per_session:
        return MoveCheck(
            False,
            _("This session has already been moved %(times)s times; %(call)s")
            % {"times": policy.max_moves_per_session, "call": call},
        )
    recent = AppointmentActivity.objects.filter(
        participant__client_id=participant.client_id, kind=ActivityKind.MOVED, at__gt=now - MOVES_COUNTED_OVER
    ).count()
    if recent >= policy.max_moves_per_client:
        return MoveCheck(
            False,
            _("You have moved %(count)s sessions in the last 30 days; %(call)s")
            % {"count": recent, "call": call},
        )
    return MoveCheck(True)


def client_move_clinicians(
    participant: AppointmentParticipant, policy: BookingPolicy
) -> list[ClinicianProfile]:
    """Whose times the client may pick: their clinician, and the practice's other active
    clinicians when the policy allows moving to another clinician."""
    appointment = participant.appointment
    if not policy.clients_may_change_clinician:
        return [appointment.clinician]
    others = ClinicianProfile.objects.for_practice(appointment.practice).filter(is_active=True)
    return [appointment.clinician, *others.exclude(pk=appointment.clinician_id).order_by("display_name")]


def client_move_slots(
    participant: AppointmentParticipant,
    now: datetime,
    *,
    clinician: ClinicianProfile | None = None,
    policy: BookingPolicy | None = None,
) -> list[Slot]:
    """Open slots the session can move to: the same length, the next days that have any (on the
    client's clock), under the practice's rules for moves (notice, horizon, buffer)."""
    appointment = participant.appointment
    policy = policy or BookingPolicy.for_practice(appointment.practice)
    slots = upcoming_slots(
        clinician=clinician or appointment.clinician,
        minutes=int(appointment.duration.total_seconds() // 60),
        now=now,
        rules=slot_rules(policy, Audience.MOVE),
        days=MOVE_DAYS_SHOWN,
        tz=participant.client.zoneinfo(appointment.practice),
        ignore_appointment_id=appointment.pk,
    )
    return [slot for slot in slots if slot.starts_at != appointment.starts_at]


def _is_open(
    *, appointment: Appointment, clinician: ClinicianProfile, starts_at: datetime, now, policy
) -> bool:
    """Is ``starts_at`` one of the selector's open starts (its whole day is searched, so the
    starts are aligned exactly as they were offered)."""
    tz = clinician.zoneinfo
    day = starts_at.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    found = open_slots(
        clinician=clinician,
        starts=day,
        ends=day + timedelta(days=1, hours=1),
        minutes=int(appointment.duration.total_seconds() // 60),
        now=now,
        rules=slot_rules(policy, Audience.MOVE),
        ignore_appointment_id=appointment.pk,
    )
    return any(slot.starts_at == starts_at for slot in found)


def appointment_client_move(
    *,
    participant: AppointmentParticipant,
    starts_at: datetime,
    now: datetime,
    clinician: ClinicianProfile | None = None,
) -> Appointment:
    """The client moved their session to ``starts_at`` on their session page. One transaction
    under the calendar lock: the time must still be an open slot for the selector, then the move
    goes through ``appointment_reschedule`` (meeting, reminders and events follow). A time taken
    meanwhile raises ValidationError with code ``slot_taken``."""
    appointment = participant.appointment
    policy = BookingPolicy.for_practice(appointment.practice)
    check = client_move_check(participant, now, policy)
    if not check.allowed:
        raise ValidationError(check.reason, code="not_allowed")
    target = clinician or appointment.clinician
    if target.pk not in {c.pk for c in client_move_clinicians(participant, policy)}:
        raise ValidationError(
            _("You can move this session to a time with the same clinician only."), code="not_allowed"
        )
    old_label = local_label(appointment.starts_at, appointment.practice.zoneinfo)
    try:
        with transaction.atomic():
            _hold_calendars(appointment.clinician_id, target.pk)
            if not _is_open(
                appointment=appointment, clinician=target, starts_at=starts_at, now=now, policy=policy
            ):
                raise ValidationError(SLOT_TAKEN_MESSAGE, code="slot_taken")
            new = appointment_reschedule(
                appointment=appointment, starts_at=starts_at, clinician=target, now=now
            )
            moved = new.participants.get(client_id=participant.client_id)
            _record(
                participant=moved,
                kind=ActivityKind.MOVED,
                channel=ActivityChannel.LINK,
                now=now,
                detail=f"Moved from {old_label} to {local_label(starts_at, appointment.practice.zoneinfo)}",
            )
    except ValidationError as error:
        codes = (
            {getattr(e, "code", None) for e in error.error_list}
            if not hasattr(error, "error_dict")
            else {e.code for errors in error.error_dict.values() for e in errors}
        )
        if codes & {"double_booking", "held"}:
            # Another booking won the slot between the check and the insert.
            raise ValidationError(SLOT_TAKEN_MESSAGE, code="slot_taken") from error
        if "client_double_booking" in codes:
            raise ValidationError(CLIENT_BUSY_MESSAGE, code="client_busy") from error
        raise
    return new


# --- Reading -------------------------------------------------------------------------------------


def appointment_activity(*, appointment: Appointment) -> list[AppointmentActivity]:
    """The session's client timeline, oldest first (session page and operator console)."""
    return list(
        AppointmentActivity.objects.filter(appointment=appointment)
        .select_related("participant__client", "actor")
        .order_by("at", "pk")
    )
