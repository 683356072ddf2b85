"""Forms of the tenant app: sign-in, one-time codes, clients. Forms only turn raw input into
clean values; the services in practice/services.py apply the rules and save."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
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


# --- Joining the team, and "forgot password" -------------------------------------------------------


class SetPasswordOnInviteForm(forms.Form):
    """Name and password for a new account made from an invitation (Django's password rules)."""

    full_name = forms.CharField(label="Your name", max_length=150)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters; not only digits, not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            from django.contrib.auth.password_validation import validate_password

            from practice.models import User

            try:
                validate_password(first, User(email=self.email, full_name=cleaned.get("full_name", "")))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


# Answers to "forgot password" are the same whether or not the e-mail is known; these limits stop
# the page being used to flood someone's mailbox (or to probe through timing of many requests).
RESET_LIMIT_PER_EMAIL = 3
RESET_LIMIT_PER_ADDRESS = 10
RESET_LIMIT_WINDOW_SECONDS = 60 * 60


def _over_limit(key: str, limit: int) -> bool:
    from django.core.cache import cache

    cache.add(key, 0, RESET_LIMIT_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, RESET_LIMIT_WINDOW_SECONDS)
        count = 1
    return count > limit


class RateLimitedPasswordResetForm(PasswordResetForm):
    email = forms.EmailField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def __init__(self, *args, client_address: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.client_address = client_address

    def save(self, *args, **kwargs):
        import hashlib

        email = self.cleaned_data["email"].strip().lower()
        email_key = hashlib.sha256(email.encode()).hexdigest()
        limited_email = _over_limit(f"pwreset:email:{email_key}", RESET_LIMIT_PER_EMAIL)
        limited_address = _over_limit(f"pwreset:ip:{self.client_address}", RESET_LIMIT_PER_ADDRESS)
        if limited_email or limited_address:
            return  # the same answer as a sent e-mail: nothing tells the caller it was held back
        # Links point at SITE_URL like every other link Attend sends, never at the Host header
        # of the request (a forged Host must not put an attacker's domain in the e-mail).
        from urllib.parse import urlsplit

        from django.conf import settings

        site = urlsplit(settings.SITE_URL)
        kwargs["domain_override"] = site.netloc
        kwargs["use_https"] = site.scheme == "https"
        super().save(*args, **kwargs)
