"""The client home pages: /h/<token> (upcoming sessions and preferences) and /home/<slug>/ (e-mail
me my link). Same headers as the other client pages: never cached, not indexed, no referrer to
other sites; every action is a POST."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from messaging.preferences import preference_link_for
from practice.client_language import activate_for_client, activate_for_visitor, language_switch
from practice.forms import add_service_errors
from practice.models import Practice
from scheduling.client_actions import manage_link_for
from scheduling.models import AppointmentParticipant
from selfservice import home
from selfservice.documents import document_form, document_submit, documents_to_complete
from selfservice.models import DocumentTemplate, VerificationChannel
from selfservice.pages import client_page
from selfservice.services import RateLimited
from waitlist.models import WaitlistEntry
from waitlist.services import entry_remove_by_client


class LinkRequestForm(forms.Form):
    """An e-mail address, or a US mobile number to text the link to (texts go to +1 numbers only,
    as the booking page's codes: a guard against SMS pumping)."""

    address = forms.CharField(
        label=gettext_lazy("Your e-mail address or mobile number"),
        help_text=gettext_lazy("The one the practice has for you."),
        max_length=254,
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.channel = VerificationChannel.EMAIL

    def clean_address(self) -> str:
        value = self.cleaned_data["address"].strip()
        if "@" in value:
            forms.EmailField().clean(value)
            return value
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or number.country_code != 1 or not phonenumbers.is_valid_number(number):
            raise ValidationError(_("Enter your e-mail address or a US mobile number."), code="invalid")
        self.channel = VerificationChannel.SMS
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@never_cache
@require_http_methods(["GET", "POST"])
def client_home(request, token: str):
    now = timezone.now()
    client = home.home_link_client(token, now)
    if client is None:
        return client_page(request, "selfservice/home_invalid.html", {}, status=404)
    activate_for_client(client)
    if request.method == "POST":
        return _act(request, client, now)
    tz = client.zoneinfo(client.practice)
    context = {
        "practice": client.practice,
        "greeting_name": client.greeting_name,
        "sessions": home.upcoming_sessions(client=client, now=now),
        "documents": documents_to_complete(client),
        "waitlist": home.waitlist_of(client),
        "waitlist_removed": request.session.pop("home_waitlist_removed", False),
        "token": token,
        "zone_name": str(tz),
    }
    return client_page(request, "selfservice/home.html", context, tz=tz)


@never_cache
@require_http_methods(["GET", "POST"])
def client_waitlist_remove(request, token: str, entry_pk: int):
    """'Remove me from the waitlist': the GET asks to confirm (link scanners open links), the POST
    removes. Only the client's own entry: any other id is a 404, like a missing one."""
    now = timezone.now()
    client = home.home_link_client(token, now)
    if client is None:
        return client_page(request, "selfservice/home_invalid.html", {}, status=404)
    activate_for_client(client)
    wish = next((wish for wish in home.waitlist_of(client) if wish.entry_id == entry_pk), None)
    if wish is None:
        raise Http404("No such waitlist entry.")
    if request.method == "POST":
        entry = WaitlistEntry.objects.get(pk=entry_pk)
        entry_remove_by_client(entry=entry, client=client, now=now)
        request.session["home_waitlist_removed"] = True
        return redirect("client_home", token=token)
    context = {"practice": client.practice, "wish": wish, "token": token}
    return client_page(
        request, "selfservice/home_waitlist_remove.html", context, tz=client.zoneinfo(client.practice)
    )


def _act(request, client, now):
    """Open the page that does the action with a fresh link of its own."""
    action = request.POST.get("action")
    if action == "preferences":
        return HttpResponseRedirect(reverse("preference_center", args=[preference_link_for(client, now)]))
    if action == "manage":
        participant_id = request.POST.get("session", "")
        if not participant_id.isascii() or not participant_id.isdigit() or len(participant_id) > 18:
            raise Http404("No such session.")
        participant = get_object_or_404(
            AppointmentParticipant.objects.select_related("appointment"),
            pk=int(participant_id),
            client=client,
        )
        return HttpResponseRedirect(
            reverse("client_manage", args=[manage_link_for(participant=participant, now=now)])
        )
    return redirect(request.path)


@never_cache
@require_http_methods(["GET", "POST"])
def home_link_request(request, slug: str):
    practice = get_object_or_404(Practice, slug=slug)
    activate_for_visitor(request, practice)
    form = LinkRequestForm(request.POST if request.method == "POST" else None)
    sent = False
    if request.method == "POST" and form.is_valid():
        try:
            home.home_link_send(
                practice=practice,
                address=form.cleaned_data["address"],
                channel=form.channel,
                now=timezone.now(),
            )
        except RateLimited:
            form.add_error(None, _("Too many links were asked for. Please wait a few minutes and try again."))
        else:
            sent = True
    context = {"practice": practice, "form": form, "sent": sent, "language_switch": language_switch(practice)}
    return client_page(request, "selfservice/home_link_request.html", context, tz=ZoneInfo(practice.timezone))


def _client_address(request) -> str | None:
    """The address the signature came from (REMOTE_ADDR: the proxy in front sets it to the client's)."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        forms.GenericIPAddressField().clean(address)
    except forms.ValidationError:
        return None
    return address


@never_cache
@require_http_methods(["GET", "POST"])
def client_document(request, token: str, template_pk: int):
    now = timezone.now()
    client = home.home_link_client(token, now)
    if client is None:
        return client_page(request, "selfservice/home_invalid.html", {}, status=404)
    activate_for_client(client)
    template = get_object_or_404(
        DocumentTemplate.objects.for_practice(client.practice).filter(is_active=True), pk=template_pk
    )
    form = document_form(template, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        answers = {key: value for key, value in form.cleaned_data.items() if key != "signature"}
        try:
            document_submit(
                template=template,
                client=client,
                answers=answers,
                signed_name=form.cleaned_data["signature"],
                address=_client_address(request),
                now=now,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect("client_home", token=token)
    context = {"practice": client.practice, "template": template, "form": form, "token": token}
    return client_page(request, "selfservice/document.html", context, status=400 if form.errors else 200)
