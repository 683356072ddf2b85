"""The after-session page (SPEC F9 step 8): links, the satisfaction survey, the booking request.

- ``after_session_link_for`` makes a fresh /s/<token> link to put into the close-out message
  (only the token's SHA-256 is stored; valid until 14 days after the session ends).
- ``survey_submit`` stores one response per participant; sending again updates it (a client who
  tapped the wrong star can correct it while the link works).
- ``next_session_request`` puts a "book my next session" item in the front-desk queue, once
  while it is open.
- ``after_session_links_prune`` deletes expired links (daily, messaging.tasks).
- ``survey_report`` sums responses per clinician for the staff report.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Avg, Count

from messaging.models import AfterSessionLink, SurveyResponse
from scheduling.models import AppointmentParticipant, FollowUp, FollowUpKind

LINK_VALID_AFTER_SESSION = timedelta(days=14)
TOKEN_BYTES = 24  # 192 bits
MAX_TOKEN_LENGTH = 64
MAX_COMMENT = 500


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def after_session_link_for(participant: AppointmentParticipant, now: datetime) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    ends_at = participant.appointment.ends_at
    AfterSessionLink.objects.create(
        participant=participant,
        token_hash=_hash(token),
        created_at=now,
        # From the session's end, not the link's creation: a link made late (a fallback
        # e-mail) does not stretch the window in which the survey is about a recent session.
        expires_at=ends_at + LINK_VALID_AFTER_SESSION,
    )
    return token


def after_session_participant(token: str, now: datetime) -> AppointmentParticipant | None:
    """The participant a still-valid token belongs to, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    link = (
        AfterSessionLink.objects.valid(now)
        .filter(token_hash=_hash(token))
        .select_related(
            "participant__client", "participant__appointment__practice", "participant__appointment__clinician"
        )
        .first()
    )
    return link.participant if link else None


def after_session_links_prune(*, now: datetime) -> int:
    deleted, _ = AfterSessionLink.objects.filter(expires_at__lte=now).delete()
    return deleted


def survey_response_of(participant: AppointmentParticipant) -> SurveyResponse | None:
    return SurveyResponse.objects.filter(participant=participant).first()


def survey_submit(
    *,
    participant: AppointmentParticipant,
    session_rating: int,
    joining_rating: int,
    comment: str,
    now: datetime,
) -> SurveyResponse:
    errors = {}
    for field, value in (("session_rating", session_rating), ("joining_rating", joining_rating)):
        if not isinstance(value, int) or not 1 <= value <= 5:
            errors[field] = "Choose from 1 to 5."
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = f"Please keep the comment to {MAX_COMMENT} characters."
    if errors:
        raise ValidationError(errors)
    appointment = participant.appointment
    with transaction.atomic():
        response, created = SurveyResponse.objects.select_for_update().get_or_create(
            participant=participant,
            defaults={
                "practice_id": appointment.practice_id,
                "appointment": appointment,
                "clinician_id": appointment.clinician_id,
                "session_starts_at": appointment.starts_at,
                "session_rating": session_rating,
                "joining_rating": joining_rating,
                "comment": comment,
                "submitted_at": now,
                "updated_at": now,
            },
        )
        if not created:
            response.session_rating = session_rating
            response.joining_rating = joining_rating
            response.comment = comment
            response.updated_at = now
            response.save(update_fields=["session_rating", "joining_rating", "comment", "updated_at"])
    return response


def next_session_request(*, participant: AppointmentParticipant) -> tuple[FollowUp, bool]:
    """(queue item, whether it is new): a second tap while the item is open adds nothing."""
    from scheduling.services import follow_up_raise

    kind = FollowUpKind.BOOKING_REQUESTED
    open_before = FollowUp.objects.open().filter(participant=participant, kind=kind).exists()
    item = follow_up_raise(
        appointment=participant.appointment,
        participant=participant,
        kind=kind,
        detail="Asked on the after-session page to book the next session.",
    )
    return item, not open_before


# --- Report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicianSurveyRow:
    clinician_id: int
    clinician_name: str
    responses: int
    session_average: float
    joining_average: float


def survey_report(*, practice, start: datetime, end: datetime, clinician_ids=None):
    """(per-clinician rows, comments newest first) for sessions starting in [start, end).
    Comments carry the session's date and clinician only, never who wrote them."""
    responses = SurveyResponse.objects.for_practice(practice).filter(
        session_starts_at__gte=start, session_starts_at__lt=end
    )
    if clinician_ids is not None:
        responses = responses.filter(clinician_id__in=clinician_ids)
    rows = [
        ClinicianSurveyRow(
            clinician_id=row["clinician_id"],
            clinician_name=row["clinician__display_name"],
            responses=row["responses"],
            session_average=round(row["session_average"], 1),
            joining_average=round(row["joining_average"], 1),
        )
        for row in responses.values("clinician_id", "clinician__display_name")
        .annotate(
            responses=Count("pk"),
            session_average=Avg("session_rating"),
            joining_average=Avg("joining_rating"),
        )
        .order_by("clinician__display_name")
    ]
    comments = list(
        responses.exclude(comment="")
        .order_by("-session_starts_at")
        .values("comment", "session_starts_at", "clinician__display_name", "session_rating")[:200]
    )
    return rows, comments
