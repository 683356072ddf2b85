"""Practice settings (owners and managers): the practice's name, contact details, time zone,
business hours, policies, telehealth provider and its credentials, SMS sender and the languages
offered to clients; and its services (session types).

Saves go through the services of the app that owns the data: practice.services.practice_update,
practice.credentials.credentials_set (write-only: stored encrypted, never rendered back),
messaging.services.sequence_set_languages and scheduling.setup_services. Every change is in
the audit log."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from phonenumber_field.formfields import PhoneNumberField

from messaging.languages import LANGUAGES, offered_languages
from messaging.models import Sequence
from messaging.services import sequence_set_languages
from practice.access import MANAGERS, staff_view
from practice.credentials import CREDENTIAL_FIELDS, credentials_clear, credentials_set, practice_credentials
from practice.forms import add_service_errors
from practice.models import Practice, TelehealthProvider
from practice.services import PRACTICE_SETTINGS_FIELDS, practice_update
from practice.timezones import timezone_choices
from scheduling import day_facts
from scheduling.models import ServiceType
from scheduling.setup_services import SERVICE_TYPE_FIELDS, service_type_create, service_type_update


class PracticeSettingsForm(forms.ModelForm):
    phone = PhoneNumberField(
        required=False, region="US", help_text="Shown to clients who need help, e.g. (212) 555-0100."
    )
    sms_from_number = PhoneNumberField(
        required=False,
        region="US",
        label="SMS sender",
        help_text="The Twilio number texts are sent from. Empty: the deployment's default number.",
    )
    timezone = forms.ChoiceField(choices=timezone_choices(), label="Time zone")
    languages = forms.MultipleChoiceField(
        choices=list(LANGUAGES.items()),
        widget=forms.CheckboxSelectMultiple,
        label="Languages offered to clients",
        help_text="Clients choose among these on their preference page. The default language is the first "
        "(English if ticked).",
    )

    class Meta:
        model = Practice
        fields = list(PRACTICE_SETTINGS_FIELDS)
        widgets = {
            "business_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "business_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "address": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {
            "late_cancel_window_hours": "Late-cancel window (hours)",
            "no_show_grace_minutes": "No-show grace (minutes)",
            "join_opens_minutes_before": "Join link opens (minutes before)",
        }

    def model_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in PRACTICE_SETTINGS_FIELDS}


def _current_languages(practice) -> list[str]:
    # Read without creating the sequence: a GET changes nothing.
    sequence = Sequence.objects.filter(practice=practice).first()
    return offered_languages(sequence) if sequence else ["en"]


def _ordered_languages(chosen: list[str], current: list[str]) -> list[str]:
    """Keep the current default first when it is still chosen; else follow LANGUAGES' order."""
    order = [code for code in current if code in chosen] + [code for code in LANGUAGES if code in chosen]
    return list(dict.fromkeys(order))


class CredentialsForm(forms.Form):
    """Write-only: every field is empty on the page; an empty field keeps the stored value."""

    provider = forms.ChoiceField(choices=[(p, TelehealthProvider(p).label) for p in CREDENTIAL_FIELDS])
    account_id = forms.CharField(required=False, max_length=200, label="Zoom account id")
    client_id = forms.CharField(required=False, max_length=200, label="Zoom client id")
    client_secret = forms.CharField(
        required=False,
        max_length=500,
        label="Zoom client secret",
        widget=forms.PasswordInput(render_value=False),
    )
    app_id = forms.CharField(required=False, max_length=200, label="Jitsi app id")
    app_secret = forms.CharField(
        required=False,
        max_length=500,
        label="Jitsi app secret",
        widget=forms.PasswordInput(render_value=False),
    )
    clear = forms.BooleanField(required=False, label="Remove the stored credentials of this provider")

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider")
        if provider and not cleaned.get("clear"):
            allowed = CREDENTIAL_FIELDS[provider]
            for name in ("account_id", "client_id", "client_secret", "app_id", "app_secret"):
                if cleaned.get(name) and name not in allowed:
                    self.add_error(name, f"This is not a {TelehealthProvider(provider).label} credential.")
            if not any(cleaned.get(name) for name in allowed) and not self.errors:
                self.add_error(None, "Enter at least one value to store, or tick “Remove”.")
        return cleaned


def _stored_summary(practice) -> dict[str, list[tuple[str, bool]]]:
    stored = practice_credentials(practice)
    return {
        TelehealthProvider(provider).label: [
            (name.replace("_", " "), bool((stored.get(provider) or {}).get(name))) for name in names
        ]
        for provider, names in CREDENTIAL_FIELDS.items()
    }


def _settings_page(request, *, form, credentials_form, status=200):
    context = {
        "form": form,
        "credentials_form": credentials_form,
        "stored": _stored_summary(request.practice),
        "nav": "settings",
    }
    return render(request, "staff/admin/practice_settings.html", context, status=status)


@staff_view(MANAGERS)
def practice_settings(request):
    practice = request.practice
    current_languages = _current_languages(practice)
    if request.method != "POST":
        form = PracticeSettingsForm(instance=practice, initial={"languages": current_languages})
        return _settings_page(request, form=form, credentials_form=CredentialsForm())
    # A copy: a form that fails must not leave half-applied values on request.practice.
    form = PracticeSettingsForm(request.POST, instance=Practice.objects.get(pk=practice.pk))
    if form.is_valid():
        zone_before = practice.timezone
        try:
            practice_update(practice=practice, fields=form.model_fields())
            if practice.timezone != zone_before:
                day_facts.mark_all_stale(practice)  # the metrics' local days moved with the zone
            sequence_set_languages(
                practice=practice,
                languages=_ordered_languages(form.cleaned_data["languages"], current_languages),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "The practice settings are saved.")
            return redirect("practice_settings")
    return _settings_page(request, form=form, credentials_form=CredentialsForm(), status=400)


@require_POST
@staff_view(MANAGERS)
def practice_credentials_save(request):
    form = CredentialsForm(request.POST)
    if form.is_valid():
        provider = form.cleaned_data["provider"]
        label = TelehealthProvider(provider).label
        if form.cleaned_data["clear"]:
            credentials_clear(practice=request.practice, provider=provider)
            messages.success(request, f"The stored {label} credentials are removed.")
        else:
            changed = credentials_set(
                practice=request.practice,
                provider=provider,
                values={k: v for k, v in form.cleaned_data.items() if isinstance(v, str)},
                by=request.user,
            )
            messages.success(request, f"{label}: {', '.join(changed)} saved.")
        return redirect("practice_settings")
    settings_form = PracticeSettingsForm(
        instance=request.practice, initial={"languages": _current_languages(request.practice)}
    )
    return _settings_page(request, form=settings_form, credentials_form=form, status=400)


# --- Services (session types) --------------------------------------------------------------------


class ServiceTypeForm(forms.ModelForm):
    default_minutes = forms.IntegerField(label="Length (minutes)", min_value=5, max_value=480, initial=50)
    default_fee = forms.DecimalField(label="Fee", min_value=0, max_digits=8, decimal_places=2, initial=0)

    class Meta:
        model = ServiceType
        fields = list(SERVICE_TYPE_FIELDS)
        labels = {
            "default_minutes": "Length (minutes)",
            "default_fee": "Fee",
            "is_group": "Group session (several clients)",
            "is_active": "Offered (untick to retire it; past sessions keep it)",
        }

    def _post_clean(self):
        # The service checks the model (uniqueness included); the form only parses the fields.
        pass


@staff_view(MANAGERS)
def service_list(request):
    services = ServiceType.objects.for_practice(request.practice).order_by("-is_active", "name")
    return render(request, "staff/admin/service_list.html", {"services": services, "nav": "settings"})


@staff_view(MANAGERS)
def service_edit(request, pk: int | None = None):
    service_type = get_object_or_404(ServiceType, pk=pk, practice=request.practice) if pk else None
    form = ServiceTypeForm(request.POST if request.method == "POST" else None, instance=service_type)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in SERVICE_TYPE_FIELDS}
        try:
            if service_type is None:
                service_type = service_type_create(practice=request.practice, fields=fields)
            else:
                service_type = service_type_update(service_type=service_type, fields=fields)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"“{service_type.name}” is saved.")
            return redirect("service_list")
    context = {"form": form, "service_type": service_type, "nav": "settings"}
    return render(request, "staff/admin/service_form.html", context, status=400 if form.errors else 200)
