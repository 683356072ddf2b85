"""Staff pages for appointments: the day's schedule, booking, one session, and its actions.

Each action calls the scheduling service and shows its ValidationError beside the right field.
Queries start from what the member may see (``Appointment.objects.visible_to``): a session of
another practice, or another clinician's for a clinician, is a 404.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from auditlog.models import LogEntry
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from practice.access import ALL_ROLES, BOOKERS, can_manage_appointment, require_manage_appointment, staff_view
from practice.forms import add_service_errors
from practice.models import Modality
from scheduling.availability import SlotRules, local_label, slot_rules, upcoming_slots
from scheduling.client_actions import appointment_activity
from scheduling.forms import (
    AttendanceForm,
    BookingForm,
    BookingPrefillForm,
    CancelForm,
    DayFilterForm,
    RescheduleForm,
)
from scheduling.history import history_lines
from scheduling.lifecycle import LIVE_STATUSES
from scheduling.models import ActivityKind, Appointment, AppointmentParticipant, Attendance, BookingPolicy
from scheduling.services import (
    LATE_JOIN_AFTER,
    appointment_book,
    appointment_cancel,
    appointment_confirm,
    appointment_mark_attendance,
    appointment_reschedule,
    series_book,
    series_cancel_rest,
)

# Service errors name the service's arguments; the booking form calls some of them differently.
BOOKING_FIELD_MAP = {
    "starts_at": "start_time",
    "first_starts_at": "start_time",
    "ends_at": "duration_minutes",
}


# A clash error offers the clinician's next free times (issue 18): this many.
NEXT_FREE_TIMES = 3
CALENDAR_CLASH_CODES = {"double_booking", "held"}


def _calendar_clash(error: ValidationError) -> bool:
    if not hasattr(error, "error_dict"):
        return False
    return any(e.code in CALENDAR_CLASH_CODES for errors in error.error_dict.values() for e in errors)


def _offer_next_free_times(form, *, practice, clinician, starts_at, ends_at, field: str) -> None:
    """After a clash, add the clinician's next open starts of the same length (from the open-slot
    selector, under the practice's rules for staff) to the form's error."""
    minutes = int((ends_at - starts_at).total_seconds() // 60)
    now = timezone.now()
    rules: SlotRules = slot_rules(BookingPolicy.for_practice(practice), "staff")
    free = upcoming_slots(
        clinician=clinician, minutes=minutes, now=now, rules=rules, after=starts_at, limit=NEXT_FREE_TIMES
    )
    if free:
        times = "; ".join(local_label(slot.starts_at, practice.zoneinfo) for slot in free)
        form.add_error(field, f"{clinician.display_name}'s next free times: {times}.")
    else:
        form.add_error(field, f"{clinician.display_name} has no free time in their weekly hours soon.")


def _appointments_for(request):
    return Appointment.objects.visible_to(request.membership).select_related(
        "clinician", "service_type", "practice"
    )


def _with_participants(appointments):
    return appointments.prefetch_related(
        Prefetch("participants", queryset=AppointmentParticipant.objects.select_related("client"))
    )


@staff_view(ALL_ROLES)
def appointment_list(request):
    """One day of the schedule in the practice's time zone, optionally for one clinician."""
    tz = request.practice.zoneinfo
    filters = DayFilterForm(request.GET or None, membership=request.membership)
    day = timezone.localdate(timezone=tz)
    clinician = None
    if filters.is_valid():
        day = filters.cleaned_data["date"] or day
        clinician = filters.cleaned_data["clinician"]
    day_start = datetime.combine(day, time.min, tzinfo=tz)
    day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    appointments = _appointments_for(request).filter(starts_at__gte=day_start, starts_at__lt=day_end)
    if clinician is not None:
        appointments = appointments.filter(clinician=clinician)
    context = {
        "appointments": _with_participants(appointments.order_by("starts_at", "clinician__display_name")),
        "day": day,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "today": timezone.localdate(timezone=tz),
        "filters": filters,
        "clinician": clinician,
        "tz": tz,
        "can_book": request.membership.role in BOOKERS,
        "nav": "appointments",
    }
    return render(request, "scheduling/appointment_list.html", context)


@staff_view(BOOKERS)
def appointment_create(request):
    initial = {}
    if request.method == "GET" and request.GET:
        # A click on an empty slot of the calendar suggests the clinician, date and time.
        initial = BookingPrefillForm(request.GET, membership=request.membership).initial_values()
    form = BookingForm(
        request.POST if request.method == "POST" else None, initial=initial, membership=request.membership
    )
    if request.method == "POST" and form.is_valid():
        booked = _book_from_form(request, form)
        if booked is not None:
            return booked
    return render(request, "scheduling/appointment_form.html", {"form": form, "nav": "appointments"})


def _book_from_form(request, form: BookingForm):
    data = form.cleaned_data
    common = dict(
        practice=request.practice,
        clinician=data["clinician"],
        clients=list(data["clients"]),
        service_type=data["service_type"],
        modality=data["modality"],
        fee=data["fee"],
        booked_by=request.user,
        client_overlap_reason=data["client_overlap_reason"],
    )
    try:
        if data["repeat"]:
            series = series_book(
                first_starts_at=data["starts_at"],
                duration=data["ends_at"] - data["starts_at"],
                frequency=data["repeat"],
                occurrences=data["occurrences"],
                **common,
            )
            first = series.appointments.order_by("starts_at").first()
            messages.success(
                request, f"Booked {series.occurrences} sessions, {series.get_frequency_display().lower()}."
            )
            return redirect("appointment_detail", pk=first.pk)
        appointment = appointment_book(starts_at=data["starts_at"], ends_at=data["ends_at"], **common)
    except ValidationError as error:
        add_service_errors(form, error, BOOKING_FIELD_MAP)
        if _calendar_clash(error) and not data["repeat"]:
            _offer_next_free_times(
                form,
                practice=request.practice,
                clinician=data["clinician"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                field="start_time",
            )
        return None
    messages.success(request, "Session booked.")
    return redirect("appointment_detail", pk=appointment.pk)


def late_participants(appointment: Appointment, participants, now) -> list[AppointmentParticipant]:
    """Who has not joined a running video session 5 minutes in (SPEC F9 step 6): the banner's
    list, read from the same facts as the lifecycle sweep's late-arrival items."""
    running = appointment.status in LIVE_STATUSES and now < appointment.ends_at
    if (
        appointment.modality != Modality.TELEHEALTH
        or not running
        or now < appointment.starts_at + LATE_JOIN_AFTER
    ):
        return []
    return [p for p in participants if p.joined_at is None and p.attendance == Attendance.EXPECTED]


def _visible_appointment(request, pk: int) -> Appointment:
    return get_object_or_404(_with_participants(_appointments_for(request)), pk=pk)


@staff_view(ALL_ROLES)
def appointment_detail(request, pk: int):
    appointment = _visible_appointment(request, pk)
    can_manage = can_manage_appointment(request.membership, appointment)
    participants = list(appointment.participants.all())
    activity = appointment_activity(appointment=appointment)
    now = timezone.now()
    context = {
        "appointment": appointment,
        "participants": participants,
        "activity": activity,
        "late": late_participants(appointment, participants, now),
        "checked_in": {a.participant_id for a in activity if a.kind == ActivityKind.CHECK_IN_SENT},
        "meeting": getattr(appointment, "meeting", None),
        "can_manage": can_manage,
        "can_mark_attendance": can_manage and timezone.now() >= appointment.starts_at,
        "attendance_choices": AttendanceForm.base_fields["attendance"].choices,
        "history": history_lines(
            appointment,
            LogEntry.objects.get_for_object(appointment).select_related("actor")[:50],
            tz=request.practice.zoneinfo,
        ),
        "tz": request.practice.zoneinfo,
        "nav": "appointments",
    }
    return render(request, "scheduling/appointment_detail.html", context)


@staff_view(BOOKERS)
def appointment_reschedule_view(request, pk: int):
    appointment = _visible_appointment(request, pk)
    require_manage_appointment(request.membership, appointment)
    local_start = appointment.starts_at.astimezone(request.practice.zoneinfo)
    initial = {
        "clinician": appointment.clinician,
        "date": local_start.date(),
        "start_time": local_start.time(),
        "duration_minutes": int(appointment.duration.total_seconds() // 60),
    }
    form = RescheduleForm(
        request.POST if request.method == "POST" else None, initial=initial, membership=request.membership
    )
    if request.method == "POST" and form.is_valid():
        try:
            new = appointment_reschedule(
                appointment=appointment,
                starts_at=form.cleaned_data["starts_at"],
                ends_at=form.cleaned_data["ends_at"],
                clinician=form.cleaned_data["clinician"],
                by=request.user,
                client_overlap_reason=form.cleaned_data["client_overlap_reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error, BOOKING_FIELD_MAP)
            if _calendar_clash(error):
                _offer_next_free_times(
                    form,
                    practice=request.practice,
                    clinician=form.cleaned_data["clinician"],
                    starts_at=form.cleaned_data["starts_at"],
                    ends_at=form.cleaned_data["ends_at"],
                    field="start_time",
                )
        else:
            messages.success(request, "Session moved. The old time is kept in its history.")
            return redirect("appointment_detail", pk=new.pk)
    context = {"form": form, "appointment": appointment, "nav": "appointments"}
    return render(request, "scheduling/appointment_reschedule.html", context)


@staff_view(BOOKERS)
def appointment_cancel_view(request, pk: int):
    appointment = _visible_appointment(request, pk)
    require_manage_appointment(request.membership, appointment)
    form = CancelForm(
        request.POST if request.method == "POST" else None, in_series=appointment.series_id is not None
    )
    if request.method == "POST" and form.is_valid():
        reasons = {
            "by": request.user,
            "by_client": form.cleaned_data["by_client"],
            "reason": form.cleaned_data["reason"],
        }
        try:
            if form.cleaned_data.get("scope") == "following":
                cancelled = series_cancel_rest(
                    series=appointment.series, after=appointment.starts_at, **reasons
                )
            else:
                cancelled = [appointment_cancel(appointment=appointment, **reasons)]
            if not cancelled:
                raise ValidationError("No upcoming session of the series from this one on to cancel.")
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            count = len(cancelled)
            messages.success(request, "Session cancelled." if count == 1 else f"{count} sessions cancelled.")
            return redirect("appointment_detail", pk=appointment.pk)
    context = {
        "form": form,
        "appointment": appointment,
        "would_be_late": appointment.is_late_cancel_at(timezone.now()),
        "nav": "appointments",
    }
    return render(request, "scheduling/appointment_cancel.html", context)


@require_POST
@staff_view(BOOKERS)
def appointment_confirm_view(request, pk: int):
    appointment = _visible_appointment(request, pk)
    require_manage_appointment(request.membership, appointment)
    try:
        appointment_confirm(appointment=appointment)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Marked as confirmed.")
    return redirect("appointment_detail", pk=appointment.pk)


@require_POST
@staff_view(BOOKERS)
def appointment_attendance_view(request, pk: int):
    appointment = _visible_appointment(request, pk)
    require_manage_appointment(request.membership, appointment)
    form = AttendanceForm(request.POST, appointment=appointment)
    if not form.is_valid():
        messages.error(request, _first_messages(form))
        return redirect("appointment_detail", pk=appointment.pk)
    try:
        appointment_mark_attendance(
            appointment=appointment,
            client=form.cleaned_data["client"],
            attendance=form.cleaned_data["attendance"],
            note=form.cleaned_data["note"],
            by=request.user,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Attendance recorded.")
    return redirect("appointment_detail", pk=appointment.pk)


def _first_messages(form) -> str:
    return " ".join(message for errors in form.errors.values() for message in errors)


# The needs-attention queue (FollowUp items) is on the staff board pages: practice/board_views.py.
