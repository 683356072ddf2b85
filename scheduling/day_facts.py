"""Keeping ``DayFacts`` current (#14): mark a day stale when its sessions change, recount a
practice's stale days before a read, rebuild everything on demand.

A change marks the UTC day of the session's start (``mark_stale``): the model's save and delete
signals do it for every appointment and participant saved or deleted through the ORM (every
service; a new start marks the old day as well), the
set-based updates of ``scheduling.lifecycle`` call it themselves, and apps above add what they
count (telehealth: tech checks, ``register_counts``, and its own signal). ``refresh`` recounts
the local days that touch the stale UTC days, from the sessions themselves, in a fixed number of
queries; the metrics page calls it first, so what it reads is never older than the last change.
A bulk load that writes rows without the ORM (B5's working day, tests/bench/b5.py) runs ``rebuild``
afterwards, like ``manage.py day_facts_rebuild``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from practice.models import Modality, Practice
from scheduling.models import (
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    Attendance,
    DayFacts,
    DayFactsStale,
)
from scheduling.services import LATE_JOIN_AFTER

# --- What apps above add to a client session's counts ---------------------------------------------

# Field of DayFacts -> a function returning the aggregate that counts it over AppointmentParticipant
# rows (telehealth: ``tech_checked``, ``tech_passed``). Filled in by those apps' ``ready``.
_EXTRA_COUNTS: dict[str, Callable[[Q], object]] = {}


def register_counts(**aggregates: Callable[[Q], object]) -> None:
    """``aggregates``: DayFacts field -> f(filter Q) returning an aggregate over participants."""
    unknown = set(aggregates) - {f.name for f in DayFacts._meta.get_fields()}
    if unknown:
        raise ValueError(f"DayFacts has no field {sorted(unknown)}")
    _EXTRA_COUNTS.update(aggregates)


# --- Marking -----------------------------------------------------------------------------------------


def mark_stale(practice_id: int, instants: Iterable[datetime | None]) -> None:
    """The days of these session starts changed: recount them before the next read. One insert,
    in the caller's transaction. Markers are only inserted, never updated (``DayFactsStale``): a
    recount deletes the markers it read and no others, so a change that commits after the recount
    read its markers keeps its own for the next recount, and changes on the same day do not queue
    behind one row lock (nor deadlock when two transactions mark two days in opposite orders)."""
    days = sorted({instant.astimezone(UTC).date() for instant in instants if instant is not None})
    if not days:
        return
    now = timezone.now()
    DayFactsStale.objects.bulk_create(
        [DayFactsStale(practice_id=practice_id, utc_day=day, marked_at=now) for day in days]
    )


# What a deletion already marked: deleting many rows at once (a queryset, a cascade) sends one
# post_delete per row with the same ``origin``; a day is marked once per origin, not per row.
_deleting = threading.local()


def _mark_deleted(origin, practice_id: int, starts_at: datetime) -> None:
    if origin is None:  # a Collector used directly: no origin to group the rows by
        mark_stale(practice_id, [starts_at])
        return
    key = (practice_id, starts_at.astimezone(UTC).date())
    last = getattr(_deleting, "origin", None)
    if last is None or last() is not origin:  # weakly held: the origin is not kept alive here
        _deleting.origin, _deleting.marked = weakref.ref(origin), set()
    if key not in _deleting.marked:
        _deleting.marked.add(key)
        mark_stale(practice_id, [starts_at])


def _deleted_with(origin, model) -> bool:
    """Whether this deletion started at an instance or queryset of ``model``."""
    return issubclass(origin.model if isinstance(origin, QuerySet) else type(origin), model)


def _appointment_loaded(sender, instance: Appointment, **kwargs) -> None:
    # The start it was read with (None when deferred): a save that moves it marks the old day too.
    instance._day_facts_starts_at = instance.__dict__.get("starts_at")


def _appointment_saving(sender, instance: Appointment, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and "starts_at" not in update_fields:
        return
    if getattr(instance, "_day_facts_starts_at", None) is None:  # read without its start
        instance._day_facts_starts_at = (
            Appointment.objects.filter(pk=instance.pk).values_list("starts_at", flat=True).first()
        )


def _appointment_saved(sender, instance: Appointment, raw: bool = False, **kwargs) -> None:
    if not raw:  # not while loading fixtures
        before = getattr(instance, "_day_facts_starts_at", None)
        mark_stale(instance.practice_id, [instance.starts_at, before])
        instance._day_facts_starts_at = instance.starts_at


def _appointment_deleted(sender, instance: Appointment, origin=None, **kwargs) -> None:
    _mark_deleted(origin, instance.practice_id, instance.starts_at)


def _participant_saved(sender, instance: AppointmentParticipant, raw: bool = False, **kwargs) -> None:
    if not raw:
        appointment = instance.appointment
        mark_stale(appointment.practice_id, [appointment.starts_at])


def _participant_deleted(sender, instance: AppointmentParticipant, origin=None, **kwargs) -> None:
    if _deleted_with(origin, Appointment):  # the appointment's own deletion marks its day
        return
    session = (
        Appointment.objects.filter(pk=instance.appointment_id).values_list("practice_id", "starts_at").first()
    )
    if session is not None:
        _mark_deleted(origin, *session)


def connect_signals() -> None:
    """Every appointment and participant saved or deleted through the ORM marks its day (the
    services save them so; ``scheduling.lifecycle``'s set-based updates call ``mark_stale``
    themselves); an appointment saved with a new start marks the day it left as well. (A
    practice with sessions cannot be deleted: its clinicians and clients are protected.)"""
    from django.db.models.signals import post_delete, post_init, post_save, pre_save

    post_init.connect(_appointment_loaded, sender=Appointment, dispatch_uid="day_facts_appointment_loaded")
    pre_save.connect(_appointment_saving, sender=Appointment, dispatch_uid="day_facts_appointment_saving")
    post_save.connect(_appointment_saved, sender=Appointment, dispatch_uid="day_facts_appointment")
    post_delete.connect(_appointment_deleted, sender=Appointment, dispatch_uid="day_facts_appointment_gone")
    post_save.connect(_participant_saved, sender=AppointmentParticipant, dispatch_uid="day_facts_participant")
    post_delete.connect(
        _participant_deleted, sender=AppointmentParticipant, dispatch_uid="day_facts_participant_deleted"
    )


def mark_all_stale(practice: Practice) -> None:
    """Every day of the practice holding a session must be counted again (its time zone changed,
    so its local days did): the facts go, each UTC day gets a marker, the next read recounts."""
    now = timezone.now()
    with transaction.atomic():
        DayFacts.objects.filter(practice=practice).delete()
        days = (
            Appointment.objects.filter(practice=practice)
            .annotate(utc_day=TruncDate("starts_at", tzinfo=UTC))
            .values_list("utc_day", flat=True)
            .distinct()
            .order_by("utc_day")
        )
        DayFactsStale.objects.bulk_create(
            [DayFactsStale(practice=practice, utc_day=day, marked_at=now) for day in days], batch_size=5000
        )


# --- Counting ---------------------------------------------------------------------------------------


def outcome_filters(prefix: str = "") -> dict[str, Q]:
    """A client session's outcome on AppointmentParticipant (``prefix`` reaches it from another
    model). A participant still "expected" takes the appointment's own status (a session marked
    completed or no-show as a whole). docs/metrics.md."""
    p = prefix
    status = f"{p}appointment__status"
    expected = Q(**{f"{p}attendance": Attendance.EXPECTED})
    return {
        "attended": Q(**{f"{p}attendance__in": (Attendance.ATTENDED, Attendance.LATE)})
        | (expected & Q(**{f"{status}__in": (AppointmentStatus.COMPLETED, AppointmentStatus.IN_PROGRESS)})),
        "no_show": Q(**{f"{p}attendance": Attendance.NO_SHOW})
        | (expected & Q(**{status: AppointmentStatus.NO_SHOW})),
        "cancelled": Q(**{status: AppointmentStatus.CANCELLED}),
        "late_cancel": Q(**{status: AppointmentStatus.CANCELLED, f"{p}appointment__is_late_cancel": True}),
    }


DURATION = ExpressionWrapper(F("ends_at") - F("starts_at"), output_field=DurationField())
COUNTED_FIELDS = [
    f.name
    for f in DayFacts._meta.get_fields()
    if f.name not in ("id", "practice", "day", "clinician", "modality")
]


def _day_range(days: Iterable[date], tz: ZoneInfo) -> Q:
    """Sessions starting on any of these local days (each [local midnight, next local midnight))."""
    condition = Q(pk__in=[])
    for day in days:
        condition |= Q(
            starts_at__gte=datetime.combine(day, time.min, tzinfo=tz),
            starts_at__lt=datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz),
        )
    return condition


def _client_session_counts(practice: Practice, where: Q) -> dict[tuple, dict]:
    outcomes = outcome_filters()
    due = outcomes["attended"] | outcomes["no_show"]
    telehealth = Q(appointment__modality=Modality.TELEHEALTH) & ~Q(
        appointment__status=AppointmentStatus.CANCELLED
    )
    on_time_until = F("appointment__starts_at") + LATE_JOIN_AFTER
    appointments = Appointment.objects.filter(practice=practice).filter(where).values("pk")
    rows = (
        AppointmentParticipant.objects.filter(appointment__in=appointments)
        .exclude(appointment__status=AppointmentStatus.RESCHEDULED)
        .annotate(day=TruncDate("appointment__starts_at", tzinfo=practice.zoneinfo))
        .values("day", "appointment__clinician_id", "appointment__modality")
        .annotate(
            client_sessions=Count("pk"),
            **{name: Count("pk", filter=q) for name, q in outcomes.items()},
            due_fees=Sum("appointment__fee", filter=due),
            eligible=Count("pk", filter=telehealth),
            joined=Count("pk", filter=telehealth & Q(joined_at__isnull=False)),
            joined_on_time=Count("pk", filter=telehealth & Q(joined_at__lte=on_time_until)),
            **{name: aggregate(telehealth) for name, aggregate in _EXTRA_COUNTS.items()},
        )
        .order_by()
    )
    return {
        (row.pop("day"), row.pop("appointment__clinician_id"), row.pop("appointment__modality")): row
        for row in rows
    }


def _appointment_counts(practice: Practice, where: Q) -> dict[tuple, dict]:
    """Utilization: booked = every appointment except those rescheduled or cancelled in good time
    (a late cancellation and a no-show still took the slot); attended = completed or in progress."""
    held = Q(status__in=(AppointmentStatus.COMPLETED, AppointmentStatus.IN_PROGRESS))
    rows = (
        Appointment.objects.filter(practice=practice)
        .filter(where)
        .exclude(status=AppointmentStatus.RESCHEDULED)
        .exclude(status=AppointmentStatus.CANCELLED, is_late_cancel=False)
        .annotate(day=TruncDate("starts_at", tzinfo=practice.zoneinfo))
        .values("day", "clinician_id", "modality")
        .annotate(
            booked_sessions=Count("pk"),
            attended_sessions=Count("pk", filter=held),
            booked_time=Sum(DURATION),
            attended_time=Sum(DURATION, filter=held),
        )
        .order_by()
    )
    return {(row.pop("day"), row.pop("clinician_id"), row.pop("modality")): row for row in rows}


def _seconds(duration: timedelta | None) -> int:
    return round(duration.total_seconds()) if duration else 0


def count_days(practice: Practice, where: Q) -> list[DayFacts]:
    """Fresh DayFacts for the sessions ``where`` selects (whole local days), in two queries."""
    sessions = _client_session_counts(practice, where)
    appointments = _appointment_counts(practice, where)
    facts = []
    for key in sorted(set(sessions) | set(appointments), key=lambda k: (k[0], k[1], k[2])):
        day, clinician_id, modality = key
        counted = {**sessions.get(key, {}), **appointments.get(key, {})}
        counted["due_fees"] = counted.get("due_fees") or Decimal(0)
        counted["booked_seconds"] = _seconds(counted.pop("booked_time", None))
        counted["attended_seconds"] = _seconds(counted.pop("attended_time", None))
        day = day.date() if isinstance(day, datetime) else day
        facts.append(
            DayFacts(
                practice=practice,
                day=day,
                clinician_id=clinician_id,
                modality=modality,
                **{name: counted.get(name, 0) for name in COUNTED_FIELDS},
            )
        )
    return facts


def _local_days_touching(utc_days: Iterable[date], tz: ZoneInfo) -> set[date]:
    """The local days whose [midnight, next midnight) overlaps one of these UTC days."""
    local = set()
    for utc_day in utc_days:
        start = datetime.combine(utc_day, time.min, tzinfo=UTC)
        end = start + timedelta(days=1)
        for day in (utc_day - timedelta(days=1), utc_day, utc_day + timedelta(days=1)):
            day_start = datetime.combine(day, time.min, tzinfo=tz)
            day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
            if day_start < end and day_end > start:
                local.add(day)
    return local


def _replace(practice: Practice, days: set[date], facts: list[DayFacts]) -> None:
    DayFacts.objects.filter(practice=practice, day__in=days).delete()
    DayFacts.objects.bulk_create(facts, batch_size=1000)


def refresh(practice: Practice) -> int:
    """Recount the practice's stale days, if any; the number of local days recounted. One query
    when nothing changed since the last read."""
    if not DayFactsStale.objects.filter(practice=practice).exists():
        return 0
    with transaction.atomic():
        # Locks the markers read: a second recount at the same time waits, then finds them gone.
        # A change not committed yet is not counted here, and its marker, not read here, stays.
        stale = list(
            DayFactsStale.objects.select_for_update().filter(practice=practice).values_list("pk", "utc_day")
        )
        if not stale:
            return 0
        days = _local_days_touching([utc_day for _, utc_day in stale], practice.zoneinfo)
        _replace(practice, days, count_days(practice, _day_range(days, practice.zoneinfo)))
        read = [pk for pk, _ in stale]
        for at in range(0, len(read), 5000):  # a marker per change: after a storm, many
            DayFactsStale.objects.filter(pk__in=read[at : at + 5000]).delete()
    return len(days)


def rebuild(practice: Practice) -> int:
    """Recount every day of the practice from its sessions (backfill); the rows written."""
    with transaction.atomic():
        DayFactsStale.objects.select_for_update().filter(practice=practice).delete()
        facts = count_days(practice, Q())
        DayFacts.objects.filter(practice=practice).delete()
        DayFacts.objects.bulk_create(facts, batch_size=1000)
    return len(facts)
