"""Forms of the sequence settings page. They turn raw input into clean values and apply the
content rules of messaging.content (SPEC F15) field by field; messaging.services saves."""

from __future__ import annotations

from django import forms

from messaging.content import ALLOWED_FIELDS, MAX_SMS_SEGMENTS, sms_template_errors
from messaging.metrics import MAX_DAYS as MAX_PERIOD_DAYS
from messaging.models import MAX_HOLDOUT_PERCENT, Channel, Condition, Step
from practice import parsing

FIELDS_HELP = "Allowed fields: " + ", ".join(f"{{{{ {name} }}}}" for name in ALLOWED_FIELDS) + "."
# Below this a held-out arm takes years to reach a size worth measuring.
MIN_HOLDOUT_PERCENT = 5


class StepSettingsForm(forms.ModelForm):
    conditions = forms.MultipleChoiceField(
        choices=Condition.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Step
        fields = [
            "name",
            "is_active",
            "position",
            "anchor",
            "offset_minutes",
            "channel",
            "conditions",
            "urgent",
            "subject",
            "body",
            "attach_calendar",
            "holdout_percent",
        ]
        labels = {
            "is_active": "Active",
            "offset_minutes": "Offset (minutes)",
            "holdout_percent": "Holdout (% of new sessions that skip this step)",
        }
        help_texts = {"body": FIELDS_HELP, "subject": FIELDS_HELP}
        widgets = {"body": forms.Textarea(attrs={"rows": 6})}

    # The content whitelist is checked by Step.clean (the model), for every path.

    def clean_holdout_percent(self) -> int:
        percent = self.cleaned_data["holdout_percent"]
        if percent and not MIN_HOLDOUT_PERCENT <= percent <= MAX_HOLDOUT_PERCENT:
            raise forms.ValidationError(
                f"Use 0 (no holdout) or between {MIN_HOLDOUT_PERCENT} and {MAX_HOLDOUT_PERCENT} percent."
            )
        return percent

    def clean(self):
        cleaned = super().clean()
        channel, body = cleaned.get("channel"), cleaned.get("body")
        if channel == Channel.SMS and body and "body" not in self.errors:
            for error in sms_template_errors(body):
                self.add_error("body", error)
        if cleaned.get("holdout_percent") and self.instance.audience != "client":
            self.add_error("holdout_percent", "Only steps that go to clients can have a holdout.")
        return cleaned

    def changes(self) -> dict:
        """The cleaned values the service applies."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class PreviewForm(forms.Form):
    """What the settings page sends as the manager types, for the preview and segment count."""

    channel = forms.ChoiceField(choices=Channel.choices)
    subject = forms.CharField(required=False, max_length=200)
    body = forms.CharField(required=False, max_length=5000)


class MetricsPeriodForm(forms.Form):
    """The metrics page's date range, in the practice's local calendar days."""

    start = parsing.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = parsing.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The end date is before the start date.")
            elif (end - start).days > MAX_PERIOD_DAYS:
                self.add_error("end", "Choose a range of at most two years.")
        return cleaned


class BaselineForm(forms.Form):
    baseline_no_show_rate = forms.DecimalField(
        label="Baseline no-show rate (%)",
        required=False,
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        help_text="Your no-show rate before Attend. Leave empty to hide the revenue estimate.",
    )


class AutoTextsForm(forms.Form):
    """The practice's words for the automatic texts (messaging.auto_texts): one box per text,
    part and language offered, filled with what is sent today. Saving goes through
    ``auto_texts_update``, whose content-check errors land on the box they are about."""

    def __init__(self, *args, stored: dict, languages: list[str], **kwargs):
        from messaging.auto_texts import AUTO_TEXTS, text_of
        from messaging.languages import LANGUAGES

        super().__init__(*args, **kwargs)
        self.languages = languages
        self.groups = []  # (AutoText, [(language name, [bound fields])]), for the page
        for key, auto_text in AUTO_TEXTS.items():
            rows = []
            for language in languages:
                names = []
                for part, text in text_of(stored, key, language).items():
                    name = self.field_name(key, language, part)
                    self.fields[name] = forms.CharField(
                        label=f"{LANGUAGES[language]} {'subject' if part == 'subject' else 'text'}",
                        initial=text,
                        required=False,
                        max_length=2000,
                        widget=self._widget(auto_text, part),
                    )
                    names.append(name)
                rows.append((LANGUAGES[language], [self[name] for name in names]))
            self.groups.append((auto_text, rows))

    @staticmethod
    def _widget(auto_text, part: str) -> forms.Widget:
        if part == "subject":
            return forms.TextInput()
        attrs = {"rows": 3}
        if auto_text.channel == "sms":
            # The page's script counts the box's SMS segments as it is typed (static/js/auto-texts.js).
            attrs["data-sms-max"] = MAX_SMS_SEGMENTS
        return forms.Textarea(attrs=attrs)

    @staticmethod
    def field_name(key: str, language: str, part: str) -> str:
        return f"{key}__{language}__{part}"

    def texts(self) -> dict:
        texts: dict = {}
        for name, value in self.cleaned_data.items():
            key, language, part = name.split("__")
            texts.setdefault(key, {}).setdefault(language, {})[part] = value
        return texts

    def add_update_errors(self, error) -> None:
        for where, problems in error.message_dict.items():
            name = self.field_name(*where.split(":")) if where.count(":") == 2 else None
            for problem in problems:
                self.add_error(name if name in self.fields else None, problem)
