"""Self-service settings (SPEC F4): the practice's booking page (on/off, services, hold, policy
text, concerns and payers) and booking policy (notice, horizon, buffer, client moves); each
clinician's matching profile, edited by the clinician for themselves and by managers for anyone."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from practice.access import BOOKERS, MANAGERS, staff_view
from practice.forms import add_service_errors
from practice.models import ClinicianProfile, Role
from scheduling.models import BookingPolicy, ServiceType
from scheduling.services import booking_policy_update
from selfservice.models import US_STATES, AgeGroup, Concern, MatchingProfile, OnlineBooking, Payer
from selfservice.services import matching_profile_update, online_booking_of, online_booking_update


class OnlineBookingForm(forms.ModelForm):
    concerns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One per line, in the order clients see them.",
    )
    payers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One per line, e.g. “Self-pay”, “Aetna”.",
    )

    class Meta:
        model = OnlineBooking
        fields = [
            "enabled",
            "services",
            "accepts_new_clients",
            "known_clients_book_instantly",
            "request_hold_hours",
            "cancellation_policy",
        ]
        widgets = {"services": forms.CheckboxSelectMultiple}

    def __init__(self, *args, practice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = ServiceType.objects.for_practice(practice).filter(
            is_active=True, is_group=False
        )
        self.fields["request_hold_hours"].max_value = 24 * 10
        if not self.is_bound:
            self.initial["concerns"] = "\n".join(
                Concern.objects.for_practice(practice).values_list("name", flat=True)
            )
            self.initial["payers"] = "\n".join(
                Payer.objects.for_practice(practice).values_list("name", flat=True)
            )


class BookingPolicyForm(forms.ModelForm):
    class Meta:
        model = BookingPolicy
        fields = [
            "buffer_minutes",
            "new_client_notice_hours",
            "move_notice_hours",
            "horizon_days",
            "clients_may_reschedule",
            "max_moves_per_session",
            "max_moves_per_client",
            "clients_may_change_clinician",
        ]


@staff_view(MANAGERS)
def self_service_settings(request):
    practice = request.practice
    online = online_booking_of(practice)
    policy = BookingPolicy.for_practice(practice)
    data = request.POST if request.method == "POST" else None
    online_form = OnlineBookingForm(data, instance=online, practice=practice, prefix="online")
    policy_form = BookingPolicyForm(data, instance=policy, prefix="policy")
    if request.method == "POST" and online_form.is_valid() and policy_form.is_valid():
        fields = {
            name: online_form.cleaned_data[name] for name in online_form.Meta.fields if name != "services"
        }
        try:
            online_booking_update(
                practice=practice,
                fields=fields,
                services=list(online_form.cleaned_data["services"]),
                concerns=online_form.cleaned_data["concerns"].splitlines(),
                payers=online_form.cleaned_data["payers"].splitlines(),
            )
            booking_policy_update(
                practice=practice,
                fields={name: policy_form.cleaned_data[name] for name in policy_form.cleaned_data},
            )
        except ValidationError as error:
            add_service_errors(online_form, error)
        else:
            messages.success(request, "Self-service settings saved.")
            return redirect("self_service_settings")
    context = {
        "online_form": online_form,
        "policy_form": policy_form,
        "online": online,
        "clinicians": ClinicianProfile.objects.for_practice(practice).filter(is_active=True),
        "nav": "settings",
    }
    status = 400 if online_form.errors or policy_form.errors else 200
    return render(request, "staff/self_service_settings.html", context, status=status)


class MatchingProfileForm(forms.ModelForm):
    age_groups = forms.MultipleChoiceField(
        choices=AgeGroup.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    states_licensed = forms.MultipleChoiceField(
        choices=US_STATES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Clients in other states are not matched with you.",
    )

    class Meta:
        model = MatchingProfile
        fields = [
            "accepting_new_clients",
            "concerns",
            "payers",
            "approaches",
            "age_groups",
            "states_licensed",
            "bio",
        ]
        widgets = {"concerns": forms.CheckboxSelectMultiple, "payers": forms.CheckboxSelectMultiple}

    def __init__(self, *args, practice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["concerns"].queryset = Concern.objects.for_practice(practice)
        self.fields["payers"].queryset = Payer.objects.for_practice(practice)


@staff_view(BOOKERS)
def matching_profile(request, clinician_pk: int):
    clinician = get_object_or_404(ClinicianProfile.objects.for_practice(request.practice), pk=clinician_pk)
    is_self = clinician.user_id == request.user.pk
    if request.membership.role not in MANAGERS and not is_self:
        raise PermissionDenied("Only managers edit another clinician's matching profile.")
    if request.membership.role not in MANAGERS and request.membership.role != Role.CLINICIAN:
        raise PermissionDenied("Only clinicians and managers edit matching profiles.")
    profile = MatchingProfile.objects.filter(clinician=clinician).first() or MatchingProfile(
        clinician=clinician
    )
    form = MatchingProfileForm(
        request.POST if request.method == "POST" else None, instance=profile, practice=request.practice
    )
    if request.method == "POST" and form.is_valid():
        fields = {
            name: form.cleaned_data[name] for name in form.Meta.fields if name not in ("concerns", "payers")
        }
        try:
            matching_profile_update(
                clinician=clinician,
                fields=fields,
                concerns=list(form.cleaned_data["concerns"]),
                payers=list(form.cleaned_data["payers"]),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Matching profile saved.")
            return redirect("matching_profile", clinician_pk=clinician.pk)
    context = {"form": form, "clinician": clinician, "nav": "settings"}
    return render(request, "staff/matching_profile.html", context, status=400 if form.errors else 200)
