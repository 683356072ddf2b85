"""The links telehealth adds to the API's appointment answers (scheduling.api.links): each
participant's one-tap join and tech-check links, and the clinician's host link. Absolute, on
``SITE_URL``, because the EHR sends them on in its own messages."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from practice.models import Modality
from scheduling.api.links import LinkProvider
from scheduling.models import Appointment, AppointmentParticipant
from telehealth.models import JoinLink


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def participant_links(participant: AppointmentParticipant) -> dict[str, str | None]:
    if participant.appointment.modality != Modality.TELEHEALTH:
        return {"join_url": None, "tech_check_url": None}
    try:
        join_link = participant.join_link
    except JoinLink.DoesNotExist:
        return {"join_url": None, "tech_check_url": None}
    token = join_link.token
    return {
        "join_url": _absolute(reverse("join", args=[token])),
        "tech_check_url": _absolute(reverse("tech_check", args=[token])),
    }


def appointment_links(appointment: Appointment) -> dict[str, str | None]:
    if appointment.modality != Modality.TELEHEALTH:
        return {"host_url": None}
    return {"host_url": _absolute(reverse("host_join", args=[appointment.pk]))}


LINKS = LinkProvider(
    participant_links=participant_links,
    appointment_links=appointment_links,
    participant_relations=("join_link",),
)
