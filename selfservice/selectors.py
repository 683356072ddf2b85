"""What the booking page reads: the practice's clinicians as matching candidates, and their open
times for a new client (scheduling.availability with the practice's new-client rules)."""

from __future__ import annotations

from datetime import datetime, timedelta

from practice.models import ClinicianProfile, Practice
from scheduling.availability import Audience, Slot, open_slots, slot_rules, upcoming_slots
from scheduling.models import BookingPolicy, ServiceType
from selfservice.matching import Candidate
from selfservice.models import MatchingProfile, OnlineBooking

# Matching counts a clinician's open times over this stretch from the earliest bookable start, and
# their free time (fair caseloads) over the longer one; one slot search (at most MAX_RANGE) answers both.
MATCH_WINDOW = timedelta(days=14)
CAPACITY_WINDOW = timedelta(days=30)


def bookable_services(online: OnlineBooking) -> list[ServiceType]:
    """The services a client may book online: one client each (group places are given by staff)."""
    if online.pk is None:
        return []
    return list(online.services.filter(is_group=False, is_active=True).order_by("name"))


def new_client_rules(practice: Practice):
    return slot_rules(BookingPolicy.for_practice(practice), Audience.NEW_CLIENT)


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def candidates(*, practice: Practice, service: ServiceType, now: datetime) -> list[Candidate]:
    """Every active clinician with a matching profile, with their open times for this service
    over the next two weeks and their free hours this month (for fair caseloads), both from one
    slot search per clinician under the practice's new-client rules."""
    profiles = (
        ClinicianProfile.objects.for_practice(practice)
        .filter(is_active=True, matching_profile__isnull=False)
        .select_related("matching_profile", "practice")
        .prefetch_related("matching_profile__concerns", "matching_profile__payers")
    )
    rules = new_client_rules(practice)
    first = now + rules.notice
    found = []
    for clinician in profiles:
        profile: MatchingProfile = clinician.matching_profile
        month = open_slots(
            clinician=clinician,
            starts=first,
            ends=first + CAPACITY_WINDOW,
            minutes=service.default_minutes,
            now=now,
            rules=rules,
        )
        found.append(
            Candidate(
                clinician_id=clinician.pk,
                name=clinician.display_name,
                accepting=profile.accepting_new_clients,
                concerns={concern.pk: concern.name for concern in profile.concerns.all()},
                languages=_csv(clinician.languages),
                modalities=_csv(clinician.modalities),
                payer_ids=frozenset(payer.pk for payer in profile.payers.all()),
                age_groups=frozenset(profile.age_groups or []),
                states=frozenset(profile.states_licensed or []),
                open_times=sum(1 for slot in month if slot.starts_at < first + MATCH_WINDOW),
                free_hours_this_month=len(month) * service.default_minutes / 60,
            )
        )
    return found


def times_for(
    *, clinician: ClinicianProfile, service: ServiceType, now: datetime, tz, after: datetime | None = None
) -> list[Slot]:
    """The next open starts for a new client: the first five days that have any."""
    return upcoming_slots(
        clinician=clinician,
        minutes=service.default_minutes,
        now=now,
        rules=new_client_rules(clinician.practice),
        after=after,
        days=5,
        tz=tz,
    )
