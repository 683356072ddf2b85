"""A step's text as a client would get it, for the sequence settings page.

The preview goes through the real compose path (``compose.render_context`` and
``content.render``) with a sample appointment that is never saved: one of the practice's
clinicians, a client called "Jordan", next week at 10:00 in the practice's time zone. The join
and tech-check links are real-looking opaque links made from an unsaved join link; the
preference link (which costs a stored row) is a sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from messaging import compose
from messaging.content import SAMPLE_CONTEXT, render, sms_segments, sms_template_errors, template_errors
from messaging.models import Channel, OutboxMessage
from practice.models import Client, ClinicianProfile, Modality, Practice
from scheduling.models import Appointment, AppointmentParticipant
from telehealth.models import JoinLink

SAMPLE_CLIENT_NAME = "Jordan"


@dataclass(frozen=True)
class Preview:
    subject: str
    body: str
    errors: list[str]
    encoding: str = ""
    segments: int = 0  # with the long sample values the save check uses (content.SAMPLE_CONTEXT)
    characters: int = 0


def _sample_message(practice: Practice, now: datetime) -> OutboxMessage:
    clinician = ClinicianProfile.objects.for_practice(practice).filter(is_active=True).first()
    if clinician is None:
        clinician = ClinicianProfile(practice=practice, display_name="Dr. Sample")
    clinician.practice = practice
    local_day = (now.astimezone(practice.zoneinfo) + timedelta(days=7)).date()
    starts_at = datetime.combine(local_day, time(10, 0), tzinfo=practice.zoneinfo)
    appointment = Appointment(
        practice=practice,
        clinician=clinician,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=50),
        modality=Modality.TELEHEALTH,
    )
    client = Client(practice=practice, first_name=SAMPLE_CLIENT_NAME, last_name="Sample")
    participant = AppointmentParticipant(appointment=appointment, client=client)
    participant.join_link = JoinLink.build(participant)
    return OutboxMessage(
        practice=practice, appointment=appointment, participant=participant, recipient_key="client:0"
    )


def step_preview(*, practice: Practice, channel: str, subject: str, body: str, now: datetime) -> Preview:
    """The rendered text, or the template's errors if it breaks the content rules."""
    errors = template_errors(body) + template_errors(subject)
    if errors:
        return Preview(subject="", body="", errors=errors)
    message = _sample_message(practice, now)
    recipient = compose.client_recipient(message.participant.client)
    context = compose.render_context(message, recipient)
    if "preferences_link" in subject + body:
        context["preferences_link"] = SAMPLE_CONTEXT["preferences_link"]
    rendered = render(body, context)
    if channel != Channel.SMS:
        return Preview(subject=render(subject, context), body=rendered, errors=[])
    encoding, segments = sms_segments(render(body, SAMPLE_CONTEXT))
    return Preview(
        subject="",
        body=rendered,
        errors=sms_template_errors(body),
        encoding=encoding,
        segments=segments,
        characters=len(render(body, SAMPLE_CONTEXT)),
    )
