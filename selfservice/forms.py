"""The booking page's forms: what the client needs, their details, the code. They turn raw input
into domain values; the rules live in selfservice.matching and selfservice.services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField

from practice.models import Modality
from selfservice.models import US_STATES, AgeGroup

# The choices in the client's words and language (the models' labels are the staff's).
MODALITY_CHOICES = [
    ("", _("Either is fine")),
    (Modality.TELEHEALTH, _("By video (telehealth)")),
    (Modality.IN_PERSON, _("In person")),
]
AGE_GROUP_CHOICES = [
    ("", "—"),
    (AgeGroup.CHILD, _("Child (under 13)")),
    (AgeGroup.TEEN, _("Teen (13 to 17)")),
    (AgeGroup.ADULT, _("Adult (18 to 64)")),
    (AgeGroup.OLDER_ADULT, _("Older adult (65+)")),
]

# The zones a US practice's clients are in; the practice's own is added first.
COMMON_ZONES = [
    ("America/New_York", _("Eastern time")),
    ("America/Chicago", _("Central time")),
    ("America/Denver", _("Mountain time")),
    ("America/Phoenix", _("Arizona time")),
    ("America/Los_Angeles", _("Pacific time")),
    ("America/Anchorage", _("Alaska time")),
    ("Pacific/Honolulu", _("Hawaii time")),
]


class NeedsForm(forms.Form):
    concerns = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("What would you like help with?"),
        help_text=_("Choose any that fit. You can tell your therapist more later."),
    )
    modality = forms.ChoiceField(
        label=_("How would you like to meet?"),
        choices=MODALITY_CHOICES,
        required=False,
        widget=forms.RadioSelect,
    )
    language = forms.ChoiceField(label=_("Language for your sessions"), required=False)
    payer = forms.ModelChoiceField(
        queryset=None, required=False, label=_("How will you pay?"), empty_label=_("Not sure yet")
    )
    age_group = forms.ChoiceField(
        label=_("Who are the sessions for?"), choices=AGE_GROUP_CHOICES, required=False
    )
    state = forms.ChoiceField(
        label=_("Which state will you be in during sessions?"),
        choices=[("", "—"), *US_STATES],
        required=False,
        help_text=_("Therapists can only see clients in states where they are licensed."),
    )
    timezone = forms.ChoiceField(label=_("Your time zone"), help_text=_("Times are shown on this clock."))

    def __init__(self, *args, practice, concerns, payers, languages, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["concerns"].queryset = concerns
        self.fields["payer"].queryset = payers
        self.fields["language"].choices = [
            ("", _("English")),
            *[(lang, lang) for lang in languages if lang != "English"],
        ]
        zones = dict(COMMON_ZONES)
        own = practice.timezone
        self.fields["timezone"].choices = [(own, zones.get(own, own))] + [
            z for z in COMMON_ZONES if z[0] != own
        ]
        self.fields["timezone"].initial = own


class SlotChoiceForm(forms.Form):
    """The start the client picked, as the number the page listed (never a free-form time)."""

    start = forms.IntegerField(min_value=0, max_value=10**10)


class DetailsForm(forms.Form):
    first_name = forms.CharField(max_length=100, label=_("First name"))
    last_name = forms.CharField(max_length=100, label=_("Last name"))
    email = forms.EmailField(
        label=_("E-mail"), help_text=_("We send a code to this address to check it is yours.")
    )
    phone = PhoneNumberField(label=_("Mobile phone (optional)"), required=False, region="US")
    sms_consent = forms.BooleanField(
        required=False,
        label=_(
            "Text me reminders and my session links at this number. Message and data rates may apply; "
            "reply STOP to stop at any time."
        ),
    )
    policy = forms.BooleanField(label=_("I have read and accept the cancellation and no-show policy above."))
    # A field people never see (hidden by CSS, not by type=hidden): bots fill it in.
    website = forms.CharField(required=False, label=_("Leave this empty"), max_length=200)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["website"].widget.attrs.update({"autocomplete": "off", "tabindex": "-1"})

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("sms_consent") and not cleaned.get("phone"):
            self.add_error("phone", _("Add a mobile number to get texts, or untick the box."))
        return cleaned

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"\A[0-9]{6}\Z",
        max_length=6,
        label=_("The 6-digit code we e-mailed you"),
        error_messages={"invalid": _("The code is six digits, 0 to 9.")},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "one-time-code"})
