"""Forms of the integration pages: they turn input into domain values; services apply the rules."""

from __future__ import annotations

from django import forms

from integrations.models import EventType
from practice.models import Client, ClientStatus, Membership, Modality
from scheduling.forms import clinician_choices
from scheduling.models import ServiceType


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="Where to POST events. https:// only.",
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "off", "spellcheck": "false"}),
    )
    description = forms.CharField(
        max_length=200, required=False, help_text="What receives these, e.g. “EHR sync”."
    )
    event_types = forms.MultipleChoiceField(
        label="Events to send", choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        # The service checks again; here so the error shows with the form's other errors.
        from integrations.services import webhook_url_errors

        for error in webhook_url_errors(url):
            self.add_error("url", error)
        return url


class EndpointEditForm(forms.Form):
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events to send", choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )


class IcsImportForm(forms.Form):
    """The choices of an import; the file comes as an upload first and as text on confirmation."""

    clinician = forms.ModelChoiceField(queryset=None)
    service_type = forms.ModelChoiceField(queryset=None)
    modality = forms.ChoiceField(choices=Modality.choices, initial=Modality.TELEHEALTH)
    client = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Client for events without a matching attendee",
        help_text="Events whose attendee e-mail matches a client are booked for that client.",
    )
    file = forms.FileField(required=False, label="Calendar file (.ics)")
    content = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        practice = membership.practice
        self.fields["clinician"].queryset = clinician_choices(membership)
        self.fields["service_type"].queryset = ServiceType.objects.for_practice(practice).filter(
            is_active=True
        )
        self.fields["client"].queryset = Client.objects.for_practice(practice).filter(
            status=ClientStatus.ACTIVE
        )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > 1_000_000:
                self.add_error("file", "The file is larger than 1 MB; export a shorter date range.")
                return cleaned
            cleaned["ics"] = upload.read()
        elif cleaned.get("content"):
            cleaned["ics"] = cleaned["content"].encode("utf-8")
        else:
            self.add_error("file", "Choose an .ics file.")
        return cleaned
