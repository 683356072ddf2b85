"""The staff calendar grid: what it shows for a range of days, as plain data for the JSON feed.

Times go to the browser as *wall-clock times of the practice's zone* with no offset
("2026-11-01T09:00:00"), and the grid runs in a zone without daylight saving, so a 09:00 session
sits at 09:00 on both sides of a DST change whatever zone the browser is in; a time the browser
sends back (a click, a drop) is read in the practice's zone by ``scheduling.forms.local_datetime``,
which refuses the hour that does not exist on the spring-forward night.

Working hours (``WeeklyHours``, wall-clock times in the clinician's zone) are turned into
instants date by date by ``scheduling.availability.working_windows`` and then shown on the
practice's clock; time off is a pair of instants. Both are background events of the clinician's
column. A fixed number of queries answers any range (appointments, participants with clients,
clinicians, weekly hours, time off).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import Prefetch
from django.urls import reverse

from practice import parsing
from practice.access import BOOKERS
from practice.models import ClinicianProfile, Membership, Role
from scheduling.availability import working_windows
from scheduling.models import (
    UPCOMING_STATUSES,
    Appointment,
    AppointmentParticipant,
    AppointmentStatus,
    TimeOff,
    WeeklyHours,
)

# The longest range one request may ask for (a week view needs 7 days; six weeks is plenty).
MAX_DAYS = 42
# Dates far outside this are typing mistakes or probes; refusing them keeps date arithmetic safe.
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
# What the grid shows: every status but "rescheduled" (the moved session shows at its new time).
SHOWN_STATUSES = [status for status in AppointmentStatus.values if status != AppointmentStatus.RESCHEDULED]
STATUS_LABELS = {status.value: status.label for status in AppointmentStatus if status.value in SHOWN_STATUSES}
WALL_CLOCK = "%Y-%m-%dT%H:%M:%S"


def wall_clock(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime(WALL_CLOCK)


def check_day(value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise forms.ValidationError(
            "Choose a date between %(first)s and %(last)s.",
            code="out_of_range",
            params={"first": EARLIEST.isoformat(), "last": LATEST.isoformat()},
        )
    return value


def calendar_clinicians(membership: Membership):
    """Whose columns this member may see: a clinician their own, everyone else the practice's
    active clinicians."""
    clinicians = ClinicianProfile.objects.for_practice(membership.practice).filter(is_active=True)
    if membership.role == Role.CLINICIAN:
        clinicians = clinicians.filter(user=membership.user)
    return clinicians.order_by("display_name", "pk")


class RangeForm(forms.Form):
    """``start`` (inclusive) and ``end`` (exclusive) local dates, and an optional clinician."""

    start = parsing.DateField()
    end = parsing.DateField()
    clinician = forms.ModelChoiceField(queryset=ClinicianProfile.objects.none(), required=False)

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = calendar_clinicians(membership)

    def clean_start(self):
        return check_day(self.cleaned_data["start"])

    def clean_end(self):
        return check_day(self.cleaned_data["end"])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end <= start:
                raise forms.ValidationError("The end date must be after the start date.")
            if (end - start).days > MAX_DAYS:
                raise forms.ValidationError(f"Ask for at most {MAX_DAYS} days at a time.")
        return cleaned


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _names(appointment: Appointment) -> str:
    return ", ".join(p.client.full_name for p in appointment.participants.all()) or "No client"


def calendar_events(
    *, membership: Membership, start: date, end: date, clinician: ClinicianProfile | None, now: datetime
) -> list[dict]:
    """Sessions, working hours and time off of the visible clinicians in [start, end) as
    EventCalendar events. Client names go into the title: this is only ever sent to signed-in
    staff, in a response body."""
    tz = membership.practice.zoneinfo
    range_start, range_end = _local_midnight(start, tz), _local_midnight(end, tz)
    clinicians = list(calendar_clinicians(membership))
    if clinician is not None:
        clinicians = [c for c in clinicians if c.pk == clinician.pk]
    ids = [c.pk for c in clinicians]
    can_book = membership.role in BOOKERS
    appointments = (
        Appointment.objects.visible_to(membership)
        .filter(
            clinician_id__in=ids,
            starts_at__lt=range_end,
            ends_at__gt=range_start,
            status__in=SHOWN_STATUSES,
        )
        .select_related("service_type")
        .prefetch_related(
            Prefetch("participants", queryset=AppointmentParticipant.objects.select_related("client"))
        )
        .order_by("starts_at", "pk")
    )
    events: list[dict] = []
    for appointment in appointments:
        # Clinicians only ever see their own sessions here, and may move those.
        movable = can_book and appointment.status in UPCOMING_STATUSES
        events.append(
            {
                "id": str(appointment.pk),
                "resourceIds": [str(appointment.clinician_id)],
                "start": wall_clock(appointment.starts_at, tz),
                "end": wall_clock(appointment.ends_at, tz),
                "title": _names(appointment),
                "editable": movable,
                "startEditable": movable,
                "durationEditable": False,
                "classNames": ["att-event", f"att-status-{appointment.status}"],
                "extendedProps": {
                    "status": appointment.status,
                    "statusLabel": STATUS_LABELS[appointment.status],
                    "service": appointment.service_type.name,
                    "inSeries": appointment.series_id is not None,
                    "url": reverse("appointment_detail", args=[appointment.pk]),
                    "moveUrl": reverse("calendar_move", args=[appointment.pk]) if movable else "",
                },
            }
        )
    hours_by_clinician: dict[int, list[WeeklyHours]] = {pk: [] for pk in ids}
    for row in WeeklyHours.objects.filter(clinician_id__in=ids):
        hours_by_clinician[row.clinician_id].append(row)
    for profile in clinicians:
        # A day either side: a clinician in another zone may start "yesterday" on our clock.
        windows = working_windows(
            hours=hours_by_clinician[profile.pk],
            tz=profile.zoneinfo,
            starts=range_start - timedelta(days=1),
            ends=range_end + timedelta(days=1),
        )
        for window_start, window_end in windows:
            if window_end <= range_start or window_start >= range_end:
                continue
            events.append(_background(profile.pk, window_start, window_end, tz, "att-hours", ""))
    time_off = TimeOff.objects.filter(
        clinician_id__in=ids, starts_at__lt=range_end, ends_at__gt=range_start
    ).order_by("starts_at")
    for row in time_off:
        starts_at, ends_at = max(row.starts_at, range_start), min(row.ends_at, range_end)
        events.append(_background(row.clinician_id, starts_at, ends_at, tz, "att-time-off", "Time off"))
    return events


def _background(clinician_id: int, starts_at, ends_at, tz: ZoneInfo, kind: str, title: str) -> dict:
    return {
        "resourceIds": [str(clinician_id)],
        "start": wall_clock(starts_at, tz),
        "end": wall_clock(ends_at, tz),
        "display": "background",
        "title": title,
        "classNames": [kind],
    }


def visible_hours(clinicians: list[ClinicianProfile]) -> tuple[str, str]:
    """The span of the grid: from the earliest working start to the latest end (whole hours,
    07:00-20:00 when nobody has hours). Sessions outside it widen it in the browser."""
    rows = list(WeeklyHours.objects.filter(clinician__in=clinicians).values_list("starts_at", "ends_at"))
    first = min([start.hour for start, _ in rows] + [7])
    last = max([end.hour + (1 if end.minute else 0) for _, end in rows] + [20])
    return f"{first:02d}:00", f"{min(last, 24):02d}:00"
