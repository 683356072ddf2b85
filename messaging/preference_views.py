"""The client's preference page, /p/<token> (SPEC F13).

No account: the opaque, expiring token is the credential, so the page is never cached and sends
no referrer. It shows the client's first name, the practice's name and phone and the choices,
nothing else; everything it saves goes through messaging.preferences.client_preferences_update.
"""

from __future__ import annotations

from django import forms
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from messaging import preferences as prefs
from messaging.languages import language_choices, message_language
from messaging.quiet_hours import PRACTICE, window
from messaging.services import sequence_for
from practice.client_language import activate_for_client
from practice.consent import ConsentError

TEXTS, EMAIL_ONLY = "texts", "email"


class PreferencesForm(forms.Form):
    channel = forms.ChoiceField(
        label=gettext_lazy("How should we reach you?"),
        choices=[
            (TEXTS, gettext_lazy("Texts and e-mail")),
            (EMAIL_ONLY, gettext_lazy("E-mail only, no texts")),
        ],
        widget=forms.RadioSelect,
    )
    quiet_start = forms.TimeField(
        label=gettext_lazy("Quiet from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_end = forms.TimeField(
        label=gettext_lazy("Quiet until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    wanted_steps = forms.MultipleChoiceField(
        label=gettext_lazy("Reminders you'd like"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    # Each language named in itself ("Español"), so a client finds theirs whatever they read.
    language = forms.ChoiceField(label="Language of your messages / Idioma de sus mensajes", required=False)

    def __init__(self, *args, client, steps: list[prefs.OptionalStep], languages=(), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.client = client
        self.fields["wanted_steps"].choices = [(step.key, step.label) for step in steps]
        if len(languages) > 1:
            self.fields["language"].choices = list(languages)
            self.fields["language"].required = True
        else:
            del self.fields["language"]  # only one language: nothing to choose

    def clean_channel(self):
        channel = self.cleaned_data["channel"]
        if channel == TEXTS and not self.client.phone:
            practice = self.client.practice
            raise forms.ValidationError(
                _("We don't have a mobile number for you. Please call %(practice)s to add one.")
                % {"practice": practice.name}
            )
        return channel

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("quiet_start"), cleaned.get("quiet_end")
        if "quiet_start" in self.errors or "quiet_end" in self.errors:
            return cleaned
        if (start is None) != (end is None):
            missing = "quiet_end" if end is None else "quiet_start"
            self.add_error(missing, _("Please give both a start and an end, or leave both empty."))
        elif start is not None and start == end:
            self.add_error("quiet_end", _("The end must differ from the start."))
        elif start is not None and prefs.quiet_hours_length(start, end) > prefs.MAX_QUIET_HOURS:
            self.add_error("quiet_end", _("Quiet hours can be at most 12 hours long."))
        return cleaned


def practice_quiet_hours_label(sequence) -> str:
    """ "from 9:00 PM to 8:00 AM" when the practice has quiet hours, else "" (shown beside the
    client's own)."""
    practice_window = window(sequence.quiet_start, sequence.quiet_end, PRACTICE)
    if practice_window is None:
        return ""
    return _("from %(start)s to %(end)s") % {
        "start": f"{practice_window.start:%-I:%M %p}",
        "end": f"{practice_window.end:%-I:%M %p}",
    }


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    # A page with a form says "same-origin", not "no-referrer", so the browser sends its Origin
    # with the form for the CSRF check (templates/client_base.html).
    response["Referrer-Policy"] = "same-origin" if status == 200 else "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def preference_center(request, token: str) -> HttpResponse:
    now = timezone.now()
    client = prefs.preference_link_client(token, now)
    if client is None:
        return _page(request, "messaging/preferences_invalid.html", {}, status=404)
    activate_for_client(client)
    practice = client.practice
    steps = prefs.optional_steps_for(practice)
    current = prefs.preferences_of(client)
    opted_out = set(current.opted_out_steps) if current else set()
    sequence = sequence_for(practice)
    initial = {
        "language": message_language(sequence, current.language if current else ""),
        "channel": TEXTS if prefs.wants_texts(client) else EMAIL_ONLY,
        "quiet_start": current.quiet_start if current else None,
        "quiet_end": current.quiet_end if current else None,
        "wanted_steps": [step.key for step in steps if step.key not in opted_out],
    }
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        client=client,
        steps=steps,
        languages=language_choices(sequence),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            prefs.client_preferences_update(
                client=client,
                texts=data["channel"] == TEXTS,
                quiet_start=data["quiet_start"],
                quiet_end=data["quiet_end"],
                opted_out_steps=[step.key for step in steps if step.key not in data["wanted_steps"]],
                now=now,
                language=data.get("language") if "language" in form.fields else None,
            )
        except ConsentError as error:  # the number was removed while the page was open
            form.add_error("channel", str(error))
        else:
            return HttpResponseRedirect(reverse("preference_center", args=[token]) + "?saved=1")
    # A client who just chose another language reads the rest of this page in it.
    activate_for_client(client)
    context = {
        "practice": practice,
        "greeting_name": client.greeting_name,
        "form": form,
        "has_phone": bool(client.phone),
        "has_email": bool(client.email),
        "timezone_name": str(client.zoneinfo()),
        "practice_quiet": practice_quiet_hours_label(sequence),
        "saved": request.method == "GET" and request.GET.get("saved") == "1",
    }
    return _page(request, "messaging/preferences.html", context)
