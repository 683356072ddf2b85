"""Links that apps above scheduling add to the API's appointment answers.

An EHR that sends its own reminders needs each participant's one-tap join link and the
clinician's host link, but those belong to telehealth, which builds on scheduling (never the other
way round). So telehealth registers a provider here in its ``AppConfig.ready``; the API asks the
registry and knows nothing of meetings. A provider also names the participant relations it reads,
so the API loads them with the participants (a fixed number of queries per page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scheduling.models import Appointment, AppointmentParticipant


@dataclass(frozen=True)
class LinkProvider:
    participant_links: Callable[[AppointmentParticipant], dict[str, str | None]]
    appointment_links: Callable[[Appointment], dict[str, str | None]]
    participant_relations: tuple[str, ...] = ()


_providers: list[LinkProvider] = []


def register(provider: LinkProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def participant_relations() -> list[str]:
    return [name for provider in _providers for name in provider.participant_relations]


def participant_links(participant: AppointmentParticipant) -> dict[str, str | None]:
    links: dict[str, str | None] = {}
    for provider in _providers:
        links.update(provider.participant_links(participant))
    return links


def appointment_links(appointment: Appointment) -> dict[str, str | None]:
    links: dict[str, str | None] = {}
    for provider in _providers:
        links.update(provider.appointment_links(appointment))
    return links
