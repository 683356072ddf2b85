"""Telehealth actions: meetings for appointments, joins, tech-check results.

Provider calls (Zoom's API) never happen inside a transaction or while a row is locked:
a meeting row is claimed with a conditional UPDATE (a short lease), the call is made, and
the outcome is written in a second short transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from practice.models import Modality, TelehealthProvider
from scheduling.models import (
    SLOT_HOLDING_STATUSES,
    Appointment,
    AppointmentParticipant,
    FollowUpKind,
)
from scheduling.services import follow_up_raise, participant_record_join
from telehealth.models import (
    JoinEvent,
    JoinLink,
    Meeting,
    MeetingState,
    TechCheckResult,
)
from telehealth.providers.base import Meeting as ProviderMeeting
from telehealth.providers.base import MeetingRequest, ProviderError
from telehealth.providers.registry import get_provider
from telehealth.rules import join_window, retry_delay

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# While one worker talks to the provider, others leave the meeting alone for this long.
CLAIM_LEASE = timedelta(minutes=2)
MEETING_TOPIC = "Therapy session"  # generic on purpose: providers never see client names


# --- Provider configuration ---------------------------------------------------------------------


def _provider_config(appointment: Appointment, provider_name: str) -> dict:
    """Deployment-wide settings of the provider plus what is specific to the clinician."""
    config = dict(settings.TELEHEALTH_PROVIDERS.get(provider_name, {}))
    clinician = appointment.clinician
    if provider_name == TelehealthProvider.ZOOM:
        config["user_id"] = clinician.telehealth_user_id or clinician.email or config.get("user_id", "me")
    elif provider_name == TelehealthProvider.DOXY:
        config["room_url"] = clinician.telehealth_room_url
    elif provider_name == TelehealthProvider.MANUAL:
        config["join_url"] = clinician.telehealth_room_url
    return config


def _meeting_request(meeting: Meeting) -> MeetingRequest:
    appointment = meeting.appointment
    return MeetingRequest(
        key=meeting.key,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        topic=MEETING_TOPIC,
        host_name=appointment.clinician.display_name,
        host_email=appointment.clinician.email,
        timezone=appointment.practice.timezone,
    )


def _as_provider_meeting(meeting: Meeting) -> ProviderMeeting:
    return ProviderMeeting(
        provider=meeting.provider,
        external_id=meeting.external_id,
        join_url=meeting.join_url,
        host_url=meeting.host_url,
        extra=meeting.extra,
    )


def _provider_for(meeting: Meeting):
    return get_provider(meeting.provider, _provider_config(meeting.appointment, meeting.provider))


# --- Meetings -----------------------------------------------------------------------------------


def needs_meeting(appointment: Appointment) -> bool:
    return appointment.modality == Modality.TELEHEALTH and appointment.status in SLOT_HOLDING_STATUSES


def meeting_create_for(*, appointment: Appointment, now: datetime | None = None) -> Meeting | None:
    """Make sure a telehealth appointment has a meeting, creating it with the practice's
    provider. Safe to call again: an existing meeting is only retried if it is due."""
    now = now or timezone.now()
    if not needs_meeting(appointment):
        return None
    meeting, _ = Meeting.objects.get_or_create(
        appointment=appointment,
        defaults={
            "practice_id": appointment.practice_id,
            "key": Meeting.new_key(),
            "provider": appointment.practice.telehealth_provider,
            "next_attempt_at": now,
        },
    )
    if meeting.state == MeetingState.PENDING:
        meeting_attempt(meeting=meeting, now=now)
        meeting.refresh_from_db()
    return meeting


def _claim(meeting: Meeting, now: datetime) -> bool:
    """Take the meeting for one attempt; False if another worker has it or it is not due."""
    claimed = (
        Meeting.objects.filter(pk=meeting.pk, state=MeetingState.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + CLAIM_LEASE, attempts=meeting.attempts + 1)
    )
    return claimed == 1


def meeting_attempt(*, meeting: Meeting, now: datetime | None = None) -> None:
    """One attempt to create (or, after a reschedule, update) the provider meeting."""
    now = now or timezone.now()
    if not _claim(meeting, now):
        return
    meeting = Meeting.objects.select_related("appointment__practice", "appointment__clinician").get(
        pk=meeting.pk
    )
    provider = _provider_for(meeting)
    request = _meeting_request(meeting)
    try:
        if meeting.external_id:
            result = provider.update(_as_provider_meeting(meeting), request)
        else:
            result = provider.create(request)
    except ProviderError as error:
        _record_failure(meeting, error, now)
        return
    Meeting.objects.filter(pk=meeting.pk).update(
        state=MeetingState.READY,
        external_id=result.external_id,
        join_url=result.join_url,
        host_url=result.host_url,
        extra=result.extra,
        next_attempt_at=None,
        last_error="",
        updated_at=timezone.now(),
    )


def _record_failure(meeting: Meeting, error: ProviderError, now: datetime) -> None:
    message = str(error)[:500]
    logger.warning(
        "meeting %s: %s provider error (permanent=%s): %s",
        meeting.pk,
        meeting.provider,
        error.permanent,
        message,
    )
    appointment = meeting.appointment
    delay = timedelta(seconds=error.retry_after) if error.retry_after else retry_delay(meeting.attempts + 1)
    retry_at = now + delay
    gives_up = error.permanent or meeting.attempts + 1 >= MAX_ATTEMPTS or retry_at >= appointment.ends_at
    if not gives_up:
        Meeting.objects.filter(pk=meeting.pk).update(next_attempt_at=retry_at, last_error=message)
        return
    state = (
        MeetingState.AWAITING_LINK if meeting.provider == TelehealthProvider.MANUAL else MeetingState.FAILED
    )
    Meeting.objects.filter(pk=meeting.pk).update(state=state, next_attempt_at=None, last_error=message)
    follow_up_raise(appointment=appointment, kind=FollowUpKind.MEETING_FAILED, detail=message)


def meeting_set_link(*, appointment: Appointment, join_url: str, host_url: str = "") -> Meeting:
    """Staff or the EHR supply the session link themselves (manual / EHR-native provider)."""
    validate = URLValidator(schemes=["https"])
    errors = {}
    for field, value in (("join_url", join_url), ("host_url", host_url)):
        if value:
            try:
                validate(value)
            except ValidationError:
                errors[field] = ["Enter a full https:// link."]
    if not join_url:
        errors["join_url"] = ["Enter the link clients use to join."]
    if errors:
        raise ValidationError(errors)
    link_fields = {
        "provider": TelehealthProvider.MANUAL,
        "state": MeetingState.READY,
        "join_url": join_url,
        "host_url": host_url or join_url,
        "next_attempt_at": None,
        "last_error": "",
    }
    meeting, created = Meeting.objects.get_or_create(
        appointment=appointment,
        defaults={"practice_id": appointment.practice_id, "key": Meeting.new_key(), **link_fields},
    )
    if not created:
        Meeting.objects.filter(pk=meeting.pk).update(**link_fields, updated_at=timezone.now())
        meeting.refresh_from_db()
    return meeting


def meeting_move_to(*, previous: Appointment, replacement: Appointment, now: datetime | None = None) -> None:
    """After a reschedule the meeting follows the session: the provider meeting is updated
    to the new time (or a new one is created if the old one never existed)."""
    now = now or timezone.now()
    with transaction.atomic():
        meeting = Meeting.objects.select_for_update().filter(appointment=previous).first()
        if meeting is None or meeting.state == MeetingState.CANCELLED:
            meeting = None
        elif needs_meeting(replacement):
            meeting.appointment = replacement
            meeting.state = MeetingState.PENDING
            meeting.next_attempt_at = now
            meeting.attempts = 0
            meeting.save()
    if meeting is None:
        meeting_create_for(appointment=replacement, now=now)
    elif meeting.appointment_id == replacement.pk:
        meeting_attempt(meeting=meeting, now=now)
    else:
        meeting_cancel_for(appointment=previous)


def meeting_cancel_for(*, appointment: Appointment) -> None:
    """Revoke the meeting of a cancelled session. Join links stop working at once (the
    join page checks the appointment); the provider meeting is deleted as well."""
    meeting = Meeting.objects.filter(appointment=appointment).exclude(state=MeetingState.CANCELLED).first()
    if meeting is None:
        return
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.CANCELLED, next_attempt_at=None)
    if not meeting.external_id:
        return
    try:
        _provider_for(meeting).cancel(_as_provider_meeting(meeting))
    except ProviderError as error:
        # The session is cancelled for us either way; a meeting left at the provider is
        # unreachable through Attend and expires with its time.
        logger.warning("meeting %s: could not delete at %s: %s", meeting.pk, meeting.provider, error)
        Meeting.objects.filter(pk=meeting.pk).update(last_error=str(error)[:500])


def meetings_retry_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Sweep: retry pending meetings whose time has come, and create missing meetings for
    upcoming telehealth sessions (a worker may have died between booking and creating)."""
    now = now or timezone.now()
    due = list(Meeting.objects.due_for_attempt(now).order_by("next_attempt_at")[:limit])
    for meeting in due:
        meeting_attempt(meeting=meeting, now=now)
    missing = (
        Appointment.objects.filter(
            modality=Modality.TELEHEALTH,
            status__in=SLOT_HOLDING_STATUSES,
            ends_at__gt=now,
            meeting__isnull=True,
        )
        .select_related("practice", "clinician")
        .order_by("starts_at")[:limit]
    )
    created = 0
    for appointment in missing:
        meeting_create_for(appointment=appointment, now=now)
        created += 1
    return len(due) + created


# --- Join links and joins -----------------------------------------------------------------------


def join_link_for(participant: AppointmentParticipant) -> JoinLink:
    """The participant's one-tap link, created on first use."""
    link = JoinLink.objects.filter(participant=participant).first()
    if link is not None:
        return link
    with transaction.atomic():
        link, _ = JoinLink.objects.get_or_create(
            participant=participant, defaults=_unsaved_fields(JoinLink.build(participant))
        )
    return link


def _unsaved_fields(link: JoinLink) -> dict:
    return {"nonce": link.nonce, "token_hash": link.token_hash}


def participant_for_token(token: str) -> AppointmentParticipant | None:
    if not token or len(token) > 64:
        return None
    link = (
        JoinLink.objects.by_token(token)
        .select_related(
            "participant__appointment__practice",
            "participant__appointment__clinician",
            "participant__client",
        )
        .first()
    )
    return link.participant if link else None


def current_participant(participant: AppointmentParticipant) -> AppointmentParticipant:
    """Follow reschedules: the same client's place in the session that replaced this one."""
    seen = 0
    while seen < 20:
        appointment = participant.appointment
        replacement = Appointment.objects.filter(rescheduled_from=appointment).first()
        if replacement is None:
            return participant
        following = (
            replacement.participants.filter(client_id=participant.client_id)
            .select_related("appointment__practice", "appointment__clinician", "client")
            .first()
        )
        if following is None:
            return participant
        participant = following
        seen += 1
    return participant


def join_record(
    *,
    participant: AppointmentParticipant,
    source: str,
    dedupe_key: str = "",
    at: datetime | None = None,
) -> bool:
    """Record a join and mark the participant joined. False if this delivery was seen before."""
    at = at or timezone.now()
    appointment = participant.appointment
    event_fields = {
        "practice_id": appointment.practice_id,
        "appointment": appointment,
        "participant": participant,
        "occurred_at": at,
    }
    with transaction.atomic():
        if dedupe_key:
            _, created = JoinEvent.objects.get_or_create(
                source=source, dedupe_key=dedupe_key, defaults=event_fields
            )
        else:
            JoinEvent.objects.create(source=source, **event_fields)
            created = True
        if created:
            participant_record_join(participant=participant, at=at)
    return created


def participant_join_url(*, participant: AppointmentParticipant, now: datetime | None = None) -> str | None:
    """The provider URL this participant is sent to now, or None if the meeting is not ready."""
    appointment = participant.appointment
    meeting = Meeting.objects.filter(appointment=appointment, state=MeetingState.READY).first()
    if meeting is None:
        return None
    window = join_window(appointment)
    return _provider_for(meeting).participant_url(
        _as_provider_meeting(meeting),
        display_name=participant.client.greeting_name,
        moderator=False,
        valid_from=window.opens_at,
        valid_until=window.closes_at,
    )


def host_join_url(*, appointment: Appointment) -> str | None:
    meeting = Meeting.objects.filter(appointment=appointment, state=MeetingState.READY).first()
    if meeting is None:
        return None
    window = join_window(appointment)
    return _provider_for(meeting).participant_url(
        _as_provider_meeting(meeting),
        display_name=appointment.clinician.display_name,
        moderator=True,
        valid_from=window.opens_at,
        valid_until=window.closes_at,
    )


# --- Tech check ----------------------------------------------------------------------------------


def tech_check_record(
    *,
    participant: AppointmentParticipant,
    camera_ok: bool,
    microphone_ok: bool,
    browser_ok: bool,
    network_ok: bool,
    problems: list[str],
    details: dict,
    user_agent: str = "",
) -> TechCheckResult:
    """Store a tech-check run; a failure puts "client may need help" in the staff queue."""
    passed = camera_ok and microphone_ok and browser_ok and network_ok
    appointment = participant.appointment
    with transaction.atomic():
        result = TechCheckResult.objects.create(
            practice_id=appointment.practice_id,
            participant=participant,
            passed=passed,
            camera_ok=camera_ok,
            microphone_ok=microphone_ok,
            browser_ok=browser_ok,
            network_ok=network_ok,
            problems=problems,
            details=details,
            user_agent=user_agent[:300],
        )
        if not passed:
            follow_up_raise(
                appointment=appointment,
                participant=participant,
                kind=FollowUpKind.TECH_CHECK_FAILED,
                detail="Problems: " + ", ".join(problems) if problems else "",
            )
    return result
