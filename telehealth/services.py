"""Telehealth actions: meetings for appointments, joins, tech-check results.

Provider calls (Zoom's API) never happen inside a transaction or while a row is locked:
a meeting row is claimed with a conditional UPDATE (a short lease), the call is made, and
the outcome is written in a second short transaction.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from practice import facts
from practice.credentials import provider_overrides
from practice.facts import Fact
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
    JoinSource,
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
    # The practice's own credentials (practice settings page), if it stored any, come first.
    config.update(provider_overrides(appointment.practice, provider_name))
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
    provider. Safe to call again: an existing meeting is only retried if it is due.
    Call it outside any transaction (it talks to the provider)."""
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


def _claim(meeting: Meeting, now: datetime) -> datetime | None:
    """Take the meeting for one attempt. Returns the lease (stored in next_attempt_at) that
    identifies this attempt, or None if another worker has it or it is not due.

    ``durable=True`` makes a caller that holds a transaction fail loudly here, before any
    provider call: the call could take seconds and must not run while rows are locked."""
    lease = now + CLAIM_LEASE
    with transaction.atomic(durable=True):
        claimed = (
            Meeting.objects.filter(pk=meeting.pk, state=MeetingState.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .update(next_attempt_at=lease, attempts=F("attempts") + 1, updated_at=timezone.now())
        )
    return lease if claimed == 1 else None


def _still_claimed(meeting: Meeting, lease: datetime):
    """The meeting row, if nothing (a cancel, a reschedule, another worker after the lease
    ran out) changed it since this attempt claimed it. Outcomes are written through this."""
    return Meeting.objects.filter(pk=meeting.pk, state=MeetingState.PENDING, next_attempt_at=lease)


def meeting_attempt(*, meeting: Meeting, now: datetime | None = None) -> None:
    """One attempt to create (or, after a reschedule, update) the provider meeting."""
    now = now or timezone.now()
    lease = _claim(meeting, now)
    if lease is None:
        return
    meeting = Meeting.objects.select_related("appointment__practice", "appointment__clinician").get(
        pk=meeting.pk
    )
    request = _meeting_request(meeting)
    try:
        provider = _provider_for(meeting)
        # A meeting that exists at the provider is moved, not created again (a pasted
        # manual link has a URL but no provider id).
        if meeting.external_id or meeting.join_url:
            result = provider.update(_as_provider_meeting(meeting), request)
        else:
            result = provider.create(request)
    except ProviderError as error:
        _record_failure(meeting, error, now, lease)
        return
    _record_success(meeting, result, lease)


def _record_success(meeting: Meeting, result: ProviderMeeting, lease: datetime) -> None:
    link_fields = {
        "external_id": result.external_id,
        "join_url": result.join_url,
        "host_url": result.host_url,
        "extra": result.extra,
    }
    stored = _still_claimed(meeting, lease).update(
        state=MeetingState.READY,
        next_attempt_at=None,
        last_error="",
        updated_at=timezone.now(),
        **link_fields,
    )
    if stored:
        return
    # The meeting changed while the provider was working on it.
    current = Meeting.objects.get(pk=meeting.pk)
    if current.state == MeetingState.PENDING:
        # Moved to a new time meanwhile: keep the provider's meeting so the next attempt
        # updates it instead of creating a second one.
        Meeting.objects.filter(pk=meeting.pk, external_id="", join_url="").update(**link_fields)
    elif current.state == MeetingState.CANCELLED and result.external_id != current.external_id:
        # Cancelled meanwhile, and the cancel could not know this provider meeting: revoke it.
        try:
            _provider_for(meeting).cancel(result)
        except ProviderError as error:
            logger.warning("meeting %s: could not revoke at %s: %s", meeting.pk, meeting.provider, error)


def _record_failure(meeting: Meeting, error: ProviderError, now: datetime, lease: datetime) -> None:
    message = str(error)[:500]
    logger.warning(
        "meeting %s: %s provider error (permanent=%s, attempt %s): %s",
        meeting.pk,
        meeting.provider,
        error.permanent,
        meeting.attempts,
        message,
    )
    appointment = meeting.appointment
    # meeting.attempts already counts this attempt (the claim incremented it).
    delay = retry_delay(meeting.attempts)
    if error.retry_after:
        delay = max(delay, timedelta(seconds=error.retry_after))
    retry_at = now + delay
    gives_up = error.permanent or meeting.attempts >= MAX_ATTEMPTS or retry_at >= appointment.ends_at
    if not gives_up:
        _still_claimed(meeting, lease).update(
            next_attempt_at=retry_at, last_error=message, updated_at=timezone.now()
        )
        return
    state = (
        MeetingState.AWAITING_LINK if meeting.provider == TelehealthProvider.MANUAL else MeetingState.FAILED
    )
    gave_up = _still_claimed(meeting, lease).update(
        state=state, next_attempt_at=None, last_error=message, updated_at=timezone.now()
    )
    if gave_up:
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
    """After a reschedule the meeting follows the session: the same meeting row (and so the
    same room / provider meeting) is attached to the replacement and updated to the new time.
    Without a usable meeting to move, the replacement gets a new one."""
    now = now or timezone.now()
    with transaction.atomic():
        meeting = (
            Meeting.objects.select_for_update()
            .filter(appointment=previous)
            .exclude(state=MeetingState.CANCELLED)
            .first()
        )
        # The sweep may already have given the replacement a meeting of its own.
        can_move = (
            meeting is not None
            and needs_meeting(replacement)
            and not Meeting.objects.filter(appointment=replacement).exists()
        )
        if can_move:
            Meeting.objects.filter(pk=meeting.pk).update(
                appointment=replacement,
                state=MeetingState.PENDING,
                next_attempt_at=now,
                attempts=0,
                last_error="",
                updated_at=timezone.now(),
            )
    if can_move:
        meeting_attempt(meeting=meeting, now=now)
        return
    if meeting is not None:
        meeting_cancel_for(appointment=previous)
    meeting_create_for(appointment=replacement, now=now)


def meeting_cancel_for(*, appointment: Appointment) -> None:
    """Revoke the meeting of a cancelled session. Join links stop working at once (the
    join page checks the appointment); the provider meeting is deleted as well."""
    with transaction.atomic(durable=True):
        meeting = (
            Meeting.objects.select_for_update()
            .filter(appointment=appointment)
            .exclude(state=MeetingState.CANCELLED)
            .first()
        )
        if meeting is None:
            return
        Meeting.objects.filter(pk=meeting.pk).update(
            state=MeetingState.CANCELLED, next_attempt_at=None, updated_at=timezone.now()
        )
    if not meeting.external_id:
        return
    try:
        _provider_for(meeting).cancel(_as_provider_meeting(meeting))
    except ProviderError as error:
        # The session is cancelled for us either way; a meeting left at the provider is
        # unreachable through Attend (waiting room on, no host) and expires with its time.
        # The reason stays on the row for the operator.
        logger.warning("meeting %s: could not delete at %s: %s", meeting.pk, meeting.provider, error)
        Meeting.objects.filter(pk=meeting.pk).update(
            last_error=f"Not deleted at the provider: {error}"[:500], updated_at=timezone.now()
        )


def meetings_retry_due(*, now: datetime | None = None, limit: int = 100, budget_seconds: float = 40) -> int:
    """Sweep: retry pending meetings whose time has come, and create missing meetings for
    upcoming telehealth sessions (a worker may have died between booking and creating).

    Stops starting new provider calls after ``budget_seconds`` so a slow provider cannot
    push the task past django-q2's timeout (60 s); the next run picks up the rest."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_seconds
    due = list(Meeting.objects.due_for_attempt(now).order_by("next_attempt_at")[:limit])
    for meeting in due:
        if time.monotonic() > deadline:
            return due.index(meeting)
        meeting_attempt(meeting=meeting, now=now)
    missing = list(
        Appointment.objects.filter(
            modality=Modality.TELEHEALTH,
            status__in=SLOT_HOLDING_STATUSES,
            ends_at__gt=now,
            meeting__isnull=True,
        )
        .select_related("practice", "clinician")
        .order_by("starts_at")[:limit]
    )
    for done, appointment in enumerate(missing):
        if time.monotonic() > deadline:
            return len(due) + done
        meeting_create_for(appointment=appointment, now=now)
    return len(due) + len(missing)


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


def join_links_ensure_for(*, appointment: Appointment) -> int:
    """Every participant of a telehealth session gets their one-tap link now (the API shows it);
    how many were made. Running it twice makes none the second time."""
    if appointment.modality != Modality.TELEHEALTH:
        return 0
    missing = appointment.participants.filter(join_link__isnull=True)
    return sum(1 for participant in missing if join_link_for(participant))


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


def _joinable_meeting(appointment: Appointment) -> Meeting | None:
    """The meeting people may be sent to: a ready one, or one whose move to a new time is
    still being pushed to the provider (its room and link stay the same meanwhile)."""
    return (
        Meeting.objects.filter(appointment=appointment)
        .filter(Q(state=MeetingState.READY) | (Q(state=MeetingState.PENDING) & ~Q(join_url="")))
        .first()
    )


def _personal_url(meeting: Meeting, *, display_name: str, moderator: bool) -> str | None:
    window = join_window(meeting.appointment)
    try:
        return _provider_for(meeting).participant_url(
            _as_provider_meeting(meeting),
            display_name=display_name,
            moderator=moderator,
            valid_from=window.opens_at,
            valid_until=window.closes_at,
        )
    except ProviderError as error:
        logger.warning("meeting %s: no participant URL from %s: %s", meeting.pk, meeting.provider, error)
        return None


def participant_join_url(*, participant: AppointmentParticipant, now: datetime | None = None) -> str | None:
    """The provider URL this participant is sent to now, or None if the meeting is not ready."""
    meeting = _joinable_meeting(participant.appointment)
    if meeting is None:
        return None
    meeting.appointment = participant.appointment
    return _personal_url(meeting, display_name=participant.client.greeting_name, moderator=False)


def host_join_url(*, appointment: Appointment) -> str | None:
    """The clinician's URL, with host/moderator rights where the provider has them."""
    meeting = _joinable_meeting(appointment)
    if meeting is None:
        return None
    meeting.appointment = appointment
    return _personal_url(meeting, display_name=appointment.clinician.display_name, moderator=True)


def host_join_record(*, appointment: Appointment, at: datetime | None = None) -> JoinEvent:
    """Log that the clinician opened the session through their host link (no attendance)."""
    return JoinEvent.objects.create(
        practice_id=appointment.practice_id,
        appointment=appointment,
        participant=None,
        source=JoinSource.HOST_LINK,
        occurred_at=at or timezone.now(),
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
            facts.record(Fact(facts.TECH_CHECK_FAILED, appointment.practice_id, result.pk, result.created_at))
            follow_up_raise(
                appointment=appointment,
                participant=participant,
                kind=FollowUpKind.TECH_CHECK_FAILED,
                detail="Problems: " + ", ".join(problems) if problems else "",
            )
    return result
