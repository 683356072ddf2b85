"""The public booking page, /book/<practice slug>/ (SPEC F4): what the client needs, matched
clinicians, a time, their details, a code that proves their e-mail, then a request that holds the
time until the practice answers.

No account and nothing about the person in a URL: the answers so far live in the server-side
session under the practice's key. Pages are never cached or indexed. Every step that changes
anything is a POST; a GET only shows. The page says the same thing whether or not the e-mail is
known to the practice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from practice.client_language import activate_for_visitor, language_switch, visitor_language
from practice.models import ClinicianProfile, Practice
from selfservice import matching, selectors, services
from selfservice.forms import CodeForm, DetailsForm, NeedsForm, SlotChoiceForm
from selfservice.models import Concern, OnlineBooking, Payer, VerificationChannel
from selfservice.pages import client_page

TOO_MANY_CODES = gettext_lazy("Too many codes were asked for. Please wait a few minutes and try again.")
WRONG_CODE = gettext_lazy("That code is not right, or it has expired. Check the latest message from us.")
SLOT_TAKEN = gettext_lazy("Sorry, someone took that time a moment ago. Please pick another.")
ALREADY_BOOKED_THEN = gettext_lazy("You have another session at that time. Please pick another time.")


def _booking(request, slug: str) -> tuple[Practice, OnlineBooking]:
    """The practice and its online-booking settings; the page reads in the visitor's language."""
    practice = get_object_or_404(Practice, slug=slug)
    online = services.online_booking_of(practice)
    if not online.enabled or not selectors.bookable_services(online):
        raise Http404("This practice does not take bookings online.")
    activate_for_visitor(request, practice)
    return practice, online


def _page(request, practice: Practice, template: str, context: dict, tz: ZoneInfo | None = None):
    """A booking page, with the English/Español switch where the practice offers both."""
    context = {"practice": practice, "language_switch": language_switch(practice), **context}
    return client_page(request, template, context, tz=tz)


def _state(request, practice: Practice) -> dict:
    return request.session.setdefault(f"book:{practice.pk}", {})


def _save(request, practice: Practice, **values) -> None:
    state = _state(request, practice)
    state.update(values)
    request.session.modified = True


def _languages(practice: Practice) -> list[str]:
    spoken = set()
    for value in (
        ClinicianProfile.objects.for_practice(practice)
        .filter(is_active=True)
        .values_list("languages", flat=True)
    ):
        spoken |= {part.strip().title() for part in value.split(",") if part.strip()}
    return sorted(spoken)


def _needs_form(request, practice: Practice, data=None) -> NeedsForm:
    return NeedsForm(
        data,
        practice=practice,
        concerns=Concern.objects.for_practice(practice),
        payers=Payer.objects.for_practice(practice),
        languages=_languages(practice),
    )


def _policy_text(practice: Practice, online: OnlineBooking) -> str:
    if online.cancellation_policy.strip():
        return online.cancellation_policy.strip()  # the practice's own words, as written
    hours = practice.late_cancel_window_hours
    if practice.no_show_fee:
        return _(
            "Please cancel or move a session at least %(hours)s hours before it starts. Sessions "
            "cancelled later, or missed, may be charged a fee of $%(fee)s."
        ) % {"hours": hours, "fee": practice.no_show_fee}
    return _(
        "Please cancel or move a session at least %(hours)s hours before it starts. Sessions "
        "cancelled later, or missed, count as missed sessions."
    ) % {"hours": hours}


@never_cache
@require_http_methods(["GET", "POST"])
def book_start(request, slug: str):
    practice, online = _booking(request, slug)
    form = _needs_form(request, practice, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _save(
            request,
            practice,
            needs={
                "concern_ids": [concern.pk for concern in data["concerns"]],
                "modality": data["modality"],
                "language": data["language"],
                "payer_id": data["payer"].pk if data["payer"] else None,
                "age_group": data["age_group"],
                "state": data["state"],
            },
            timezone=data["timezone"],
        )
        return redirect("book_matches", slug=practice.slug)
    return _page(
        request,
        practice,
        "selfservice/book_start.html",
        {"practice": practice, "form": form, "step": 1, "accepts_new_clients": online.accepts_new_clients},
    )


def _needs(request, practice) -> tuple[matching.Needs, dict] | None:
    raw = _state(request, practice).get("needs")
    if raw is None:
        return None
    needs = matching.Needs(
        concern_ids=frozenset(raw["concern_ids"]),
        modality=raw["modality"],
        language=raw["language"],
        payer_id=raw["payer_id"],
        age_group=raw["age_group"],
        state=raw["state"],
    )
    return needs, raw


@never_cache
@require_http_methods(["GET"])
def book_matches(request, slug: str):
    practice, online = _booking(request, slug)
    found = _needs(request, practice)
    if found is None:
        return redirect("book_start", slug=practice.slug)
    needs, _raw = found
    service = selectors.bookable_services(online)[0]
    now = timezone.now()
    matches = matching.rank(needs, selectors.candidates(practice=practice, service=service, now=now))
    return _page(
        request,
        practice,
        "selfservice/book_matches.html",
        {"practice": practice, "matches": matches, "service": service, "step": 2},
    )


def _zone(request, practice) -> ZoneInfo:
    return ZoneInfo(_state(request, practice).get("timezone") or practice.timezone)


def _clinician(practice: Practice, pk: int) -> ClinicianProfile:
    return get_object_or_404(
        ClinicianProfile.objects.for_practice(practice).filter(
            is_active=True, matching_profile__accepting_new_clients=True
        ),
        pk=pk,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def book_times(request, slug: str, clinician_pk: int):
    practice, online = _booking(request, slug)
    if _needs(request, practice) is None:
        return redirect("book_start", slug=practice.slug)
    clinician = _clinician(practice, clinician_pk)
    service = selectors.bookable_services(online)[0]
    tz = _zone(request, practice)
    now = timezone.now()
    slots = selectors.times_for(clinician=clinician, service=service, now=now, tz=tz)
    error = _state(request, practice).pop("slot_taken", "")
    if request.method == "POST":
        form = SlotChoiceForm(request.POST)
        starts = {int(slot.starts_at.timestamp()): slot for slot in slots}
        if form.is_valid() and form.cleaned_data["start"] in starts:
            _save(
                request,
                practice,
                clinician_id=clinician.pk,
                service_id=service.pk,
                start=form.cleaned_data["start"],
            )
            return redirect("book_details", slug=practice.slug)
        error = _("That time was just taken. Here are the times open now.")
    days: dict = {}
    for slot in slots:
        local = slot.starts_at.astimezone(tz)
        days.setdefault(local.date(), []).append((int(slot.starts_at.timestamp()), local))
    context = {
        "practice": practice,
        "clinician": clinician,
        "service": service,
        "days": sorted(days.items()),
        "zone_name": str(tz),
        "error": error,
        "step": 3,
    }
    return _page(request, practice, "selfservice/book_times.html", context, tz=tz)


def _chosen(request, practice) -> tuple[ClinicianProfile, object, datetime] | None:
    state = _state(request, practice)
    if "start" not in state or _needs(request, practice) is None:
        return None
    clinician = ClinicianProfile.objects.for_practice(practice).filter(pk=state["clinician_id"]).first()
    online = services.online_booking_of(practice)
    service = next((s for s in selectors.bookable_services(online) if s.pk == state["service_id"]), None)
    if clinician is None or service is None:
        return None
    return clinician, service, datetime.fromtimestamp(state["start"], tz=UTC)


@never_cache
@require_http_methods(["GET", "POST"])
def book_details(request, slug: str):
    practice, online = _booking(request, slug)
    chosen = _chosen(request, practice)
    if chosen is None:
        return redirect("book_start", slug=practice.slug)
    clinician, service, starts_at = chosen
    form = DetailsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if form.is_bot:
            # Answer as if it worked, send nothing: a bot learns nothing from the reply.
            return redirect("book_verify", slug=practice.slug)
        person = {
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "email": data["email"],
            "phone": data["phone"].as_e164 if data["phone"] else "",
            "sms_consent": data["sms_consent"],
        }
        channel = data["send_code_by"]
        try:
            services.verification_code_send(
                practice=practice, address=_address(person, channel), channel=channel
            )
        except services.RateLimited:
            form.add_error(None, TOO_MANY_CODES)
        else:
            _save(request, practice, person=person, verify_by=channel)
            return redirect("book_verify", slug=practice.slug)
    tz = _zone(request, practice)
    context = {
        "practice": practice,
        "form": form,
        "clinician": clinician,
        "service": service,
        "local_start": starts_at.astimezone(tz),
        "zone_name": str(tz),
        "policy": _policy_text(practice, online),
        "step": 4,
    }
    return _page(request, practice, "selfservice/book_details.html", context, tz=tz)


@never_cache
@require_http_methods(["GET", "POST"])
def book_verify(request, slug: str):
    practice, _online = _booking(request, slug)
    state = _state(request, practice)
    chosen = _chosen(request, practice)
    if chosen is None:
        return redirect("book_start", slug=practice.slug)
    person = state.get("person")
    channel = state.get("verify_by", VerificationChannel.EMAIL)
    form = CodeForm(
        request.POST if request.method == "POST" and "resend_by_email" not in request.POST else None
    )
    if request.method == "POST" and "resend_by_email" in request.POST:
        return _resend_by_email(request, practice, person, form)
    if request.method == "POST" and form.is_valid():
        if person is None or not services.verification_code_check(
            practice=practice,
            address=_address(person, channel),
            channel=channel,
            code=form.cleaned_data["code"],
        ):
            form.add_error("code", WRONG_CODE)
        else:
            return _book_or_request(request, practice, chosen, person, channel)
    context = {"form": form, "step": 5, "by_text": channel == VerificationChannel.SMS}
    return _page(request, practice, "selfservice/book_verify.html", context)


def _address(person: dict, channel: str) -> str:
    return person["phone"] if channel == VerificationChannel.SMS else person["email"]


def _resend_by_email(request, practice, person, form):
    """No text came (or the number takes none from us): the same code step, by e-mail."""
    if person is not None:
        try:
            services.verification_code_send(practice=practice, address=person["email"])
        except services.RateLimited:
            form.add_error(None, TOO_MANY_CODES)
            return _page(request, practice, "selfservice/book_verify.html", {"form": form, "step": 5})
    _save(request, practice, verify_by=VerificationChannel.EMAIL)
    return redirect("book_verify", slug=practice.slug)


def _book_or_request(request, practice, chosen, person, channel):
    """The address is verified now: a known client of a practice that allows it is booked at once;
    anyone else makes a request that holds the time."""
    clinician, service, starts_at = chosen
    _parsed, raw_needs = _needs(request, practice)
    tz = _zone(request, practice)
    modality = raw_needs["modality"] or "telehealth"
    known = None
    if services.online_booking_of(practice).known_clients_book_instantly:
        known = services.known_client_for(
            practice=practice, address=_address(person, channel), channel=channel
        )
    try:
        if known is not None:
            services.booking_instant_create(
                practice=practice,
                client=known,
                clinician=clinician,
                service_type=service,
                modality=modality,
                starts_at=starts_at,
                sms_consent_phone=person["phone"] if person["sms_consent"] else "",
            )
        else:
            services.booking_request_create(
                practice=practice,
                clinician=clinician,
                service_type=service,
                modality=modality,
                starts_at=starts_at,
                person=services.Person(timezone=str(tz), **person),
                needs=raw_needs,
                verified_by=channel,
                page_language=visitor_language(request, practice),
            )
    except ValidationError as error:
        return _slot_lost(request, practice, clinician, error)
    request.session[f"book:{practice.pk}"] = {
        "done": {
            "clinician": clinician.display_name,
            "start": int(starts_at.timestamp()),
            "timezone": str(tz),
            "booked": known is not None,
        }
    }
    return redirect("book_done", slug=practice.slug)


def _slot_lost(request, practice, clinician, error: ValidationError):
    """Back to the times with a plain word: the time was taken, (a known client only, after the
    code) they already have a session then, or the practice takes no new clients online."""
    if hasattr(error, "error_dict"):
        codes = {item.code for items in error.error_dict.values() for item in items}
    else:
        codes = {item.code for item in error.error_list}
    if "not_accepting" in codes:
        message = error.messages[0]
    elif "client_double_booking" in codes:
        message = ALREADY_BOOKED_THEN
    else:
        message = SLOT_TAKEN
    state = _state(request, practice)
    state.pop("start", None)
    _save(request, practice, slot_taken=str(message))
    return redirect("book_times", slug=practice.slug, clinician_pk=clinician.pk)


@never_cache
@require_http_methods(["GET"])
def book_done(request, slug: str):
    practice, _online = _booking(request, slug)
    done = _state(request, practice).get("done")
    if done is None:
        return redirect("book_start", slug=practice.slug)
    tz = ZoneInfo(done["timezone"])
    local = datetime.fromtimestamp(done["start"], tz=UTC).astimezone(tz)
    context = {
        "clinician_name": done["clinician"],
        "local_start": local,
        "booked": done.get("booked", False),
        "step": 6,
    }
    return _page(request, practice, "selfservice/book_done.html", context, tz=tz)
