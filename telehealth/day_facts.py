"""What telehealth adds to the per-day facts of the metrics page (scheduling.day_facts): how
many telehealth client sessions had a tech check, and a passed one; and a stored tech check
marks its session's day for a recount."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.signals import post_save

from scheduling import day_facts
from telehealth.models import TechCheckResult


def _checked(telehealth: Q):
    return Count("pk", filter=telehealth & Exists(TechCheckResult.objects.filter(participant=OuterRef("pk"))))


def _passed(telehealth: Q):
    runs = TechCheckResult.objects.filter(participant=OuterRef("pk"), passed=True)
    return Count("pk", filter=telehealth & Exists(runs))


def _tech_check_saved(sender, instance: TechCheckResult, raw: bool = False, **kwargs) -> None:
    if not raw:
        appointment = instance.participant.appointment
        day_facts.mark_stale(appointment.practice_id, [appointment.starts_at])


def register() -> None:
    day_facts.register_counts(tech_checked=_checked, tech_passed=_passed)
    post_save.connect(_tech_check_saved, sender=TechCheckResult, dispatch_uid="day_facts_tech_check")
