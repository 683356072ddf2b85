"""The booking page's forms: what the client needs, their details, the code. They turn raw input
into domain values; the rules live in selfservice.matching and selfservice.services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from phonenumber_field.formfields import PhoneNumberField

from practice.models import Modality
from selfservice.models import US_STATES, AgeGroup, VerificationChannel

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


NO_PHONE_FOR_CODE = _("Add your mobile number to get the code by text, or choose e-mail.")
ABROAD_FOR_CODE = _("Codes by text go to US and Canadian numbers. Choose e-mail instead.")


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
    send_code_by = forms.ChoiceField(
        label=_("How should we send your code?"),
        choices=[
            (VerificationChannel.EMAIL, _("By e-mail")),
            (VerificationChannel.SMS, _("By text message to my mobile")),
        ],
        initial=VerificationChannel.EMAIL,
        required=False,  # e-mail when not chosen
        widget=forms.RadioSelect,
    )

    def clean_send_code_by(self):
        return self.cleaned_data["send_code_by"] or VerificationChannel.EMAIL

    # A field people never see (hidden by CSS, not by type=hidden): bots fill it in.
    website = forms.CharField(required=False, label=_("Leave this empty"), max_length=200)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["website"].widget.attrs.update({"autocomplete": "off", "tabindex": "-1"})

    def clean(self):
        cleaned = super().clean()
        phone = cleaned.get("phone")
        if cleaned.get("sms_consent") and not phone:
            self.add_error("phone", _("Add a mobile number to get texts, or untick the box."))
        if cleaned.get("send_code_by") == VerificationChannel.SMS and "phone" not in self.errors:
            if not phone:
                self.add_error("phone", NO_PHONE_FOR_CODE)
            elif phone.country_code != 1:
                # Codes by text go to North American numbers only: texts to premium-rate numbers
                # abroad are the usual way such forms are abused.
                self.add_error("phone", ABROAD_FOR_CODE)
        return cleaned

    @property
    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"\A[0-9]{6}\Z",
        max_length=6,
        label=_("The 6-digit code we sent you"),
        error_messages={"invalid": _("The code is six digits, 0 to 9.")},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "one-time-code"})


# Parts of the day a client may ask for, on their own clock: (value, label, start, end).
DAY_PARTS = [
    ("morning", _("Mornings (8 AM to noon)"), "08:00", "12:00"),
    ("afternoon", _("Afternoons (noon to 5 PM)"), "12:00", "17:00"),
    ("evening", _("Evenings (5 PM to 9 PM)"), "17:00", "21:00"),
]
# A context of their own: the plain "Monday" is Django's, which writes dates ("lunes, 10 de
# junio"); a label here must not change how every date in the language reads.
WEEKDAYS = [
    (0, pgettext_lazy("day to choose", "Monday")),
    (1, pgettext_lazy("day to choose", "Tuesday")),
    (2, pgettext_lazy("day to choose", "Wednesday")),
    (3, pgettext_lazy("day to choose", "Thursday")),
    (4, pgettext_lazy("day to choose", "Friday")),
    (5, pgettext_lazy("day to choose", "Saturday")),
    (6, pgettext_lazy("day to choose", "Sunday")),
]
ANY_MATCHING = "any"


class WaitlistForm(DetailsForm):
    """'Nothing fits — tell me when something opens': who with, which days and hours on their
    clock, until when; then the same details and code step as a booking (no policy to accept:
    nothing is booked until they accept an offer)."""

    clinician = forms.ChoiceField(label=_("With"), widget=forms.RadioSelect)
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days that suit you"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any day."),
    )
    day_parts = forms.MultipleChoiceField(
        label=_("Times that suit you"),
        choices=[(value, label) for value, label, _start, _end in DAY_PARTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any time."),
    )
    latest_date = forms.DateField(
        label=_("Latest date you would take"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: as far ahead as the practice books."),
    )

    field_order = ["clinician", "weekdays", "day_parts", "latest_date"]

    def __init__(self, *args, clinicians, today, last_day, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["policy"]
        self.today, self.last_day = today, last_day
        self.fields["clinician"].choices = [
            (ANY_MATCHING, _("Any therapist who fits what I asked for")),
            *[(str(pk), name) for pk, name in clinicians],
        ]
        self.fields["clinician"].initial = ANY_MATCHING

    def clean_latest_date(self):
        latest = self.cleaned_data["latest_date"]
        if latest is not None and not self.today <= latest <= self.last_day:
            raise forms.ValidationError(
                _("Pick a date between today and %(last)s.") % {"last": self.last_day.strftime("%m/%d/%Y")}
            )
        return latest

    @property
    def time_windows(self) -> list[tuple[str, str]]:
        chosen = set(self.cleaned_data.get("day_parts") or [])
        return [(start, end) for value, _label, start, end in DAY_PARTS if value in chosen]
