"""The booking page's "Nothing fits — tell me when something opens" (issue 16 item 1):
/book/<slug>/waitlist/ asks who with, which days and hours (on the person's clock) and until
when, with the same details and one-time code as a booking; once the code is entered the person
is put on the practice's waitlist (selfservice.services.waitlist_join_from_booking_page). Like
the rest of the booking page: nothing about the person in a URL, every change a POST, the same
answer whether or not the address is known until the code is entered."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from practice.models import ClinicianProfile
from scheduling.models import BookingPolicy
from selfservice import matching, selectors, services
from selfservice.forms import ANY_MATCHING, CodeForm, WaitlistForm
from selfservice.models import VerificationChannel
from selfservice.views import (
    TOO_MANY_CODES,
    WRONG_CODE,
    _address,
    _booking,
    _needs,
    _page,
    _save,
    _state,
    _zone,
)


def _matched(practice, service, needs, now) -> list[tuple[int, str]]:
    """The therapists the person's answers match, best first (the booking page's ranking)."""
    ranked = matching.rank(needs, selectors.candidates(practice=practice, service=service, now=now))
    return [(match.clinician_id, match.name) for match in ranked]


def _form(request, practice, matched, tz, data=None) -> WaitlistForm:
    today = timezone.now().astimezone(tz).date()
    horizon = BookingPolicy.for_practice(practice).horizon_days
    return WaitlistForm(data, clinicians=matched, today=today, last_day=today + timedelta(days=horizon))


@never_cache
@require_http_methods(["GET", "POST"])
def book_waitlist(request, slug: str):
    practice, online = _booking(request, slug)
    found = _needs(request, practice)
    if found is None:
        return redirect("book_start", slug=practice.slug)
    needs, raw_needs = found
    service = selectors.bookable_services(online)[0]
    tz = _zone(request, practice)
    matched = _matched(practice, service, needs, timezone.now())
    form = _form(request, practice, matched, tz, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if form.is_bot:
            return redirect("book_waitlist_verify", slug=practice.slug)
        data = form.cleaned_data
        person = {
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "email": data["email"],
            "phone": data["phone"].as_e164 if data["phone"] else "",
            "sms_consent": data["sms_consent"],
        }
        channel = data["send_code_by"]
        chosen = (
            [pk for pk, _name in matched] if data["clinician"] == ANY_MATCHING else [int(data["clinician"])]
        )
        try:
            services.verification_code_send(
                practice=practice, address=_address(person, channel), channel=channel
            )
        except services.RateLimited:
            form.add_error(None, TOO_MANY_CODES)
        else:
            _save(
                request,
                practice,
                waitlist={
                    "person": person,
                    "verify_by": channel,
                    "service_id": service.pk,
                    "modality": raw_needs["modality"],
                    "clinician_ids": chosen,
                    "weekdays": data["weekdays"],
                    "time_windows": form.time_windows,
                    "latest_date": data["latest_date"].isoformat() if data["latest_date"] else "",
                },
            )
            return redirect("book_waitlist_verify", slug=practice.slug)
    context = {"form": form, "service": service, "zone_name": str(tz), "any_match": bool(matched)}
    return _page(request, practice, "selfservice/book_waitlist.html", context, tz=tz)


@never_cache
@require_http_methods(["GET", "POST"])
def book_waitlist_verify(request, slug: str):
    practice, online = _booking(request, slug)
    wish = _state(request, practice).get("waitlist")
    if _needs(request, practice) is None:
        return redirect("book_start", slug=practice.slug)
    channel = wish["verify_by"] if wish else VerificationChannel.EMAIL
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        address = _address(wish["person"], channel) if wish else ""
        if not address or not services.verification_code_check(
            practice=practice, address=address, channel=channel, code=form.cleaned_data["code"]
        ):
            form.add_error("code", WRONG_CODE)
        else:
            try:
                _join(request, practice, online, wish, address, channel)
            except ValidationError as error:
                form.add_error(None, " ".join(error.messages))
            else:
                _state(request, practice).pop("waitlist", None)
                _save(request, practice, waitlist_done=True)
                return redirect("book_waitlist_done", slug=practice.slug)
    context = {"form": form, "by_text": channel == VerificationChannel.SMS, "waitlist": True}
    return _page(request, practice, "selfservice/book_verify.html", context)


def _join(request, practice, online, wish, address, channel):
    service = next((s for s in selectors.bookable_services(online) if s.pk == wish["service_id"]), None)
    if service is None:  # taken off the booking page meanwhile
        raise ValidationError(gettext("This service is no longer booked online. Please call us."))
    clinicians = list(
        ClinicianProfile.objects.for_practice(practice).filter(pk__in=wish["clinician_ids"], is_active=True)
    )
    return services.waitlist_join_from_booking_page(
        practice=practice,
        person=services.Person(timezone=str(_zone(request, practice)), **wish["person"]),
        address=address,
        channel=channel,
        service_type=service,
        modality=wish["modality"],
        clinicians=clinicians,
        weekdays=wish["weekdays"],
        time_windows=[tuple(window) for window in wish["time_windows"]],
        latest_date=date.fromisoformat(wish["latest_date"]) if wish["latest_date"] else None,
    )


@never_cache
@require_http_methods(["GET"])
def book_waitlist_done(request, slug: str):
    practice, _online = _booking(request, slug)
    if not _state(request, practice).get("waitlist_done"):
        return redirect("book_start", slug=practice.slug)
    return _page(request, practice, "selfservice/book_waitlist_done.html", {})
