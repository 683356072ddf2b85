"""Forms of the tenant app: sign-in, one-time codes, clients. Forms only turn raw input into
clean values; the services in practice/services.py apply the rules and save."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.forms.renderers import TemplatesSetting
from phonenumber_field.formfields import PhoneNumberField

from practice.models import Client, ConsentSource
from practice.timezones import timezone_choices


class FormRenderer(TemplatesSetting):
    """settings.FORM_RENDERER: the project's templates first, and each field as one block
    (templates/includes/field.html) — label, input, help and errors together."""

    field_template_name = "includes/field.html"


def add_service_errors(form: forms.Form, error: ValidationError, field_map: dict | None = None) -> None:
    """Show a service's ValidationError on the form: each message beside its field (renamed
    through ``field_map`` where the form calls it differently), the rest at the top."""
    field_map = field_map or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, messages in error.message_dict.items():
        target = field_map.get(field, field)
        form.add_error(target if target in form.fields else None, messages)


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail and password do not match an account. Passwords are case-sensitive.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        help_text="The 6-digit code from your authenticator app, or one of your 8-character backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].replace(" ", "").replace("-", "").lower()
        if not (code.isascii() and code.isalnum()):
            raise forms.ValidationError("Codes are made of letters and digits only.")
        return code


CONSENT_SOURCES = [
    (ConsentSource.INTAKE_FORM, ConsentSource.INTAKE_FORM.label),
    (ConsentSource.VERBAL, ConsentSource.VERBAL.label),
    (ConsentSource.EHR, ConsentSource.EHR.label),
]


class ClientForm(forms.ModelForm):
    phone = PhoneNumberField(
        required=False,
        region="US",
        label="Mobile phone",
        help_text="For text reminders. US numbers can be typed as (212) 555-0100; others with +country code.",
    )
    timezone = forms.ChoiceField(
        required=False,
        choices=[("", "Same as the practice"), *timezone_choices()],
        help_text="Where the client lives, so reminders show their local time.",
    )
    sms_consent = forms.BooleanField(
        required=False,
        label="The client agreed to receive text messages",
        help_text="Texts are only sent with recorded consent. Unticking withdraws it.",
    )
    consent_source = forms.ChoiceField(
        required=False, choices=CONSENT_SOURCES, label="How consent was given", initial=ConsentSource.VERBAL
    )

    class Meta:
        model = Client
        fields = [
            "first_name",
            "last_name",
            "preferred_name",
            "phone",
            "email",
            "timezone",
            "preferred_channel",
            "status",
            "no_show_policy_accepted_on",
        ]
        widgets = {"no_show_policy_accepted_on": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["sms_consent"].initial = self.instance.sms_consent_at is not None
            if self.instance.sms_consent_source:
                self.fields["consent_source"].initial = self.instance.sms_consent_source

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("sms_consent") and not cleaned.get("phone"):
            self.add_error("phone", "Enter a mobile number to record consent to text messages.")
        if cleaned.get("preferred_channel") == "email" and not cleaned.get("email"):
            self.add_error("email", "Enter an e-mail address, or choose text messages.")
        if not cleaned.get("phone") and not cleaned.get("email"):
            self.add_error(
                None, "Enter a mobile number or an e-mail address so the client can get reminders."
            )
        return cleaned

    def model_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
