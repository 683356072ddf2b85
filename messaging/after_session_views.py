"""The client's after-session page, /s/<token> (SPEC F9 step 8); the staff report is in staff/.

Like the preference page, the opaque expiring token is the client's only credential: the page
is never cached, sends no referrer and shows the first name, the clinician's display name and
the session's date, nothing else."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from messaging import after_session
from practice.client_language import activate_for_client
from practice.forms import add_service_errors

RATINGS = [(str(value), str(value)) for value in range(1, 6)]


class SurveyForm(forms.Form):
    session_rating = forms.TypedChoiceField(
        label=_("How was your session overall? (1 = poor, 5 = excellent)"),
        choices=RATINGS,
        coerce=int,
        widget=forms.RadioSelect,
    )
    joining_rating = forms.TypedChoiceField(
        label=_("How easy was it to join? (1 = very hard, 5 = very easy)"),
        choices=RATINGS,
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Anything you'd like us to know? (optional)"),
        required=False,
        max_length=after_session.MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Please don't include anything private; the practice's staff read this."),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    # A page with a form says "same-origin", not "no-referrer", so the browser sends its Origin
    # with the form for the CSRF check (templates/client_base.html).
    response["Referrer-Policy"] = "same-origin" if status == 200 else "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def after_session_page(request, token: str) -> HttpResponse:
    now = timezone.now()
    participant = after_session.after_session_participant(token, now)
    if participant is None:
        return _page(request, "messaging/after_session_invalid.html", {}, status=404)
    activate_for_client(participant.client)
    appointment = participant.appointment
    here = reverse("after_session", args=[token])
    if request.method == "POST" and request.POST.get("action") == "book":
        _request, new = after_session.next_session_request(participant=participant)
        return HttpResponseRedirect(here + ("?booked=1" if new else "?booked=again"))
    existing = after_session.survey_response_of(participant)
    initial = {}
    if existing is not None:
        initial = {
            "session_rating": str(existing.session_rating),
            "joining_rating": str(existing.joining_rating),
            "comment": existing.comment,
        }
    form = SurveyForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            after_session.survey_submit(participant=participant, now=now, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return HttpResponseRedirect(here + "?thanks=1")
    context = {
        "practice": appointment.practice,
        "greeting_name": participant.client.greeting_name,
        "clinician_name": appointment.clinician.display_name,
        # A date, not a datetime: templates would turn a datetime back into the active zone (UTC),
        # and a Saturday-evening session in Los Angeles would read "Sunday".
        "session_date": appointment.starts_at.astimezone(
            participant.client.zoneinfo(appointment.practice)
        ).date(),
        "form": form,
        "answered": existing is not None,
        "thanks": request.GET.get("thanks") == "1",
        "booked": request.GET.get("booked"),
    }
    return _page(request, "messaging/after_session.html", context)
