"""Forms of the staff scheduling pages. Staff type dates and times in the practice's time
zone; the forms turn them into aware datetimes and the services apply every booking rule."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms

from practice import parsing
from practice.models import Client, ClientStatus, ClinicianProfile, Membership, Modality, Role
from practice.parsing import local_datetime
from scheduling.models import Attendance, Frequency, ServiceType

NO_REPEAT = ""


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


def clinician_choices(membership: Membership):
    """Whom this staff member may book for: everyone active, or a clinician only themselves."""
    clinicians = ClinicianProfile.objects.for_practice(membership.practice).filter(is_active=True)
    if membership.role == Role.CLINICIAN:
        clinicians = clinicians.filter(user=membership.user)
    return clinicians


class SessionTimeMixin:
    """Date + start time + length fields, combined into ``starts_at`` / ``ends_at``."""

    tz: ZoneInfo

    def _combine_times(self, cleaned: dict, default_minutes: int | None) -> None:
        day, at = cleaned.get("date"), cleaned.get("start_time")
        if day is None or at is None:
            return
        try:
            cleaned["starts_at"] = local_datetime(day, at, self.tz)
        except forms.ValidationError as error:
            self.add_error("start_time", error)
            return
        minutes = cleaned.get("duration_minutes") or default_minutes
        if minutes:
            cleaned["ends_at"] = cleaned["starts_at"] + timedelta(minutes=minutes)


class BookingForm(SessionTimeMixin, forms.Form):
    clinician = parsing.ModelChoiceField(queryset=ClinicianProfile.objects.none())
    clients = parsing.ModelMultipleChoiceField(
        queryset=Client.objects.none(),
        # Tick boxes in a scrolling list; static/js/client-picker.js adds a search box above it.
        widget=forms.CheckboxSelectMultiple(attrs={"class": "picker"}),
        help_text="One client, or several for a group session.",
    )
    service_type = parsing.ModelChoiceField(queryset=ServiceType.objects.none(), label="Service")
    date = parsing.DateField(widget=DateInput)
    start_time = forms.TimeField(widget=TimeInput, label="Starts at")
    duration_minutes = parsing.IntegerField(
        required=False,
        min_value=5,
        max_value=480,
        label="Length (minutes)",
        help_text="Leave empty for the service's usual length.",
    )
    modality = forms.ChoiceField(choices=Modality.choices, initial=Modality.TELEHEALTH)
    fee = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=8,
        decimal_places=2,
        help_text="Leave empty for the service's usual fee.",
    )
    repeat = forms.ChoiceField(
        required=False,
        choices=[(NO_REPEAT, "Does not repeat"), *Frequency.choices],
        label="Repeats",
    )
    occurrences = parsing.IntegerField(
        required=False,
        min_value=2,
        max_value=52,
        label="Number of sessions",
        help_text="For a series: 2 to 52.",
    )
    client_overlap_reason = forms.CharField(
        required=False,
        max_length=300,
        label="Reason to book anyway",
        help_text="Only for a real exception: a client who must be in two sessions at once. "
        "Kept with the booking and in the audit log.",
    )

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        practice = membership.practice
        self.tz = practice.zoneinfo
        self.fields["clinician"].queryset = clinician_choices(membership)
        self.fields["clients"].queryset = Client.objects.for_practice(practice).filter(
            status=ClientStatus.ACTIVE
        )
        self.fields["service_type"].queryset = ServiceType.objects.for_practice(practice).filter(
            is_active=True
        )
        self.fields["start_time"].help_text = f"Practice time ({practice.timezone.replace('_', ' ')})."

    def clean(self):
        cleaned = super().clean()
        service = cleaned.get("service_type")
        self._combine_times(cleaned, service.default_minutes if service else None)
        if cleaned.get("repeat") and not cleaned.get("occurrences"):
            self.add_error("occurrences", "How many sessions should the series have?")
        return cleaned


class BookingPrefillForm(forms.Form):
    """What a link may suggest for a new booking (the calendar's click on an empty slot): each
    value is checked like typed input and dropped when it does not pass; nothing is trusted,
    and the booking itself is still checked in full when the form is posted."""

    clinician = parsing.ModelChoiceField(queryset=ClinicianProfile.objects.none(), required=False)
    date = parsing.DateField(required=False)
    start_time = forms.TimeField(required=False, input_formats=["%H:%M"])

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = clinician_choices(membership)

    def initial_values(self) -> dict:
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class RescheduleForm(SessionTimeMixin, forms.Form):
    clinician = parsing.ModelChoiceField(queryset=ClinicianProfile.objects.none())
    date = parsing.DateField(widget=DateInput)
    start_time = forms.TimeField(widget=TimeInput, label="New start time")
    duration_minutes = parsing.IntegerField(min_value=5, max_value=480, label="Length (minutes)")
    client_overlap_reason = forms.CharField(
        required=False,
        max_length=300,
        label="Reason to book anyway",
        help_text="Only for a real exception: a client who must be in two sessions at once. "
        "Kept with the booking and in the audit log.",
    )

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz = membership.practice.zoneinfo
        self.fields["clinician"].queryset = clinician_choices(membership)

    def clean(self):
        cleaned = super().clean()
        self._combine_times(cleaned, None)
        return cleaned


class CancelForm(forms.Form):
    by_client = forms.BooleanField(required=False, label="The client asked to cancel")
    reason = forms.CharField(
        required=False,
        max_length=300,
        label="Reason (optional)",
        help_text="Administrative only, e.g. “client unwell”, “clinician unavailable”. No clinical details.",
    )
    scope = forms.ChoiceField(
        required=False,
        choices=[("this", "This session"), ("following", "This and following sessions of the series")],
        initial="this",
        widget=forms.RadioSelect,
        label="Which sessions",
    )

    def __init__(self, *args, in_series: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not in_series:
            del self.fields["scope"]


class AttendanceForm(forms.Form):
    client = parsing.ModelChoiceField(queryset=Client.objects.none(), widget=forms.HiddenInput)
    attendance = forms.ChoiceField(
        choices=[
            (Attendance.ATTENDED, "Attended"),
            (Attendance.LATE, "Late"),
            (Attendance.NO_SHOW, "No-show"),
        ]
    )
    note = forms.CharField(
        required=False, max_length=300, help_text="Needed when a no-show is reversed: say why."
    )

    def __init__(self, *args, appointment, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = appointment.clients.all()


class DayFilterForm(forms.Form):
    date = parsing.DateField(required=False, widget=DateInput)
    clinician = parsing.ModelChoiceField(
        queryset=ClinicianProfile.objects.none(), required=False, empty_label="All clinicians"
    )

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = ClinicianProfile.objects.for_practice(membership.practice)
