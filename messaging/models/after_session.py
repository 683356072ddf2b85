"""The after-session page (SPEC F9 step 8): a per-participant link, the satisfaction survey it
stores and the "book my next session" request. Written through ``messaging.after_session`` only.
"""

from __future__ import annotations

from datetime import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from practice.models import ClinicianProfile, Practice, PracticeScopedQuerySet
from scheduling.models import Appointment, AppointmentParticipant

RATING = [MinValueValidator(1), MaxValueValidator(5)]


class AfterSessionLinkQuerySet(models.QuerySet):
    def valid(self, now: datetime):
        return self.filter(expires_at__gt=now)


class AfterSessionLink(models.Model):
    """/s/<token>: like the preference link, only the SHA-256 of the 192-bit token is stored.
    Valid until 14 days after the session's end."""

    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, related_name="after_session_links"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    objects = AfterSessionLinkQuerySet.as_manager()

    class Meta:
        indexes = [
            # Read by messaging.after_session.after_session_links_prune.
            models.Index(fields=["expires_at"], name="after_session_link_expiry"),
        ]

    def __str__(self) -> str:
        return f"After-session link of participant #{self.participant_id} until {self.expires_at:%Y-%m-%d}"


class SurveyResponse(models.Model):
    """One participant's answers; sending the form again within the link's life updates them."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    participant = models.OneToOneField(
        AppointmentParticipant, on_delete=models.CASCADE, related_name="survey_response"
    )
    # Copied from the participant's session so reports group without joining through it.
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="survey_responses")
    clinician = models.ForeignKey(ClinicianProfile, on_delete=models.CASCADE, related_name="survey_responses")
    session_starts_at = models.DateTimeField()
    session_rating = models.PositiveSmallIntegerField(validators=RATING)
    joining_rating = models.PositiveSmallIntegerField(validators=RATING)
    comment = models.TextField(max_length=500, blank=True)
    submitted_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = PracticeScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            # Read by the survey report: a practice's responses over a date range.
            models.Index(fields=["practice", "session_starts_at"], name="survey_practice_when"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(session_rating__gte=1, session_rating__lte=5)
                & models.Q(joining_rating__gte=1, joining_rating__lte=5),
                name="survey_ratings_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"Survey of participant #{self.participant_id}"
