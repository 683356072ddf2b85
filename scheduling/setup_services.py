"""Setting a practice up: its services (session types) and each clinician's weekly hours and
time off. The staff pages (staff/practice_settings_views.py, staff/availability_views.py) and
the demo call these; each is one transaction and raises field-level ``ValidationError``s.

Overlap checks take a row lock on the clinician first, so two managers adding hours at once
take turns instead of both passing the check.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from practice.models import ClinicianProfile, Practice
from scheduling import freed_time
from scheduling.availability import working_windows
from scheduling.models import BookingPolicy, ServiceType, TimeOff, WeeklyHours

SERVICE_TYPE_FIELDS = ("name", "code", "default_minutes", "default_fee", "is_group", "is_active")


# --- Services (session types) --------------------------------------------------------------------


def _save_service_type(service_type: ServiceType) -> ServiceType:
    try:
        service_type.full_clean()
    except ValidationError as error:
        # The unique (practice, name) check reports itself as a form-wide error: put it on "name".
        errors = dict(error.message_dict)
        if "__all__" in errors:
            errors.setdefault("name", []).extend(errors.pop("__all__"))
        raise ValidationError(errors) from error
    service_type.save()
    return service_type


def service_type_create(*, practice: Practice, fields: dict) -> ServiceType:
    with transaction.atomic():
        return _save_service_type(
            ServiceType(practice=practice, **{k: v for k, v in fields.items() if k in SERVICE_TYPE_FIELDS})
        )


def service_type_update(*, service_type: ServiceType, fields: dict) -> ServiceType:
    with transaction.atomic():
        service_type = ServiceType.objects.select_for_update().get(pk=service_type.pk)
        for name, value in fields.items():
            if name in SERVICE_TYPE_FIELDS:
                setattr(service_type, name, value)
        return _save_service_type(service_type)


# --- Weekly hours ----------------------------------------------------------------------------------


def _lock_clinician(clinician: ClinicianProfile) -> None:
    ClinicianProfile.objects.select_for_update().filter(pk=clinician.pk).first()


def weekly_hours_add(
    *, clinician: ClinicianProfile, weekday: int, starts_at: time, ends_at: time
) -> WeeklyHours:
    """Add a stretch of working time; it must end after it starts and not overlap another
    stretch of the same weekday (touching is fine: 09:00-12:00 and 12:00-17:00)."""
    errors: dict[str, list[str]] = {}
    if weekday not in range(7):
        errors["weekday"] = ["Choose a day of the week."]
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = ["The hours must end after they start (overnight hours: add two stretches)."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _lock_clinician(clinician)
        clash = (
            WeeklyHours.objects.filter(
                clinician=clinician, weekday=weekday, starts_at__lt=ends_at, ends_at__gt=starts_at
            )
            .order_by("starts_at")
            .first()
        )
        if clash is not None:
            other = f"{clash.get_weekday_display()} {clash.starts_at:%H:%M}-{clash.ends_at:%H:%M}"
            raise ValidationError({"starts_at": [f"These hours overlap {other}."]})
        row = WeeklyHours(clinician=clinician, weekday=weekday, starts_at=starts_at, ends_at=ends_at)
        row.full_clean()
        row.save()
        _publish_new_hours(clinician, row)
    return row


def _publish_new_hours(clinician: ClinicianProfile, row: WeeklyHours) -> None:
    """New hours free time on every such weekday up to the practice's booking horizon
    (scheduling.freed_time: the waitlist offers it)."""
    now = timezone.now()
    horizon = timedelta(days=BookingPolicy.for_practice(clinician.practice).horizon_days)
    windows = working_windows(hours=[row], tz=clinician.zoneinfo, starts=now, ends=now + horizon)
    freed_time.publish_on_commit(
        freed_time.FreedTime(
            clinician_id=clinician.pk,
            windows=tuple((start, end) for start, end in windows if end > now),
            source=freed_time.HOURS_ADDED,
            key=f"hours:{row.pk}",
        )
    )


def weekly_hours_remove(*, row: WeeklyHours) -> None:
    with transaction.atomic():
        row.delete()


# --- Time off --------------------------------------------------------------------------------------


def time_off_add(
    *, clinician: ClinicianProfile, starts_at: datetime, ends_at: datetime, note: str = ""
) -> TimeOff:
    """Add an absence; it must end after it starts and not overlap another absence. Sessions
    already booked inside it stay booked (the page lists them, for the front desk to move)."""
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError({"ends_at": ["The time off must end after it starts."]})
    with transaction.atomic():
        _lock_clinician(clinician)
        clash = (
            TimeOff.objects.filter(clinician=clinician, starts_at__lt=ends_at, ends_at__gt=starts_at)
            .order_by("starts_at")
            .first()
        )
        if clash is not None:
            raise ValidationError({"starts_at": ["This overlaps time off already entered."]})
        row = TimeOff(clinician=clinician, starts_at=starts_at, ends_at=ends_at, note=(note or "").strip())
        row.full_clean()
        row.save()
    return row


def time_off_remove(*, row: TimeOff) -> None:
    """Remove an absence; what is still ahead of it is free time again (scheduling.freed_time:
    the waitlist offers it)."""
    now = timezone.now()
    with transaction.atomic():
        key = f"time_off:{row.pk}"
        row.delete()
        if row.ends_at > now:
            freed_time.publish_on_commit(
                freed_time.FreedTime(
                    clinician_id=row.clinician_id,
                    windows=((max(row.starts_at, now), row.ends_at),),
                    source=freed_time.TIME_OFF_REMOVED,
                    key=key,
                )
            )
