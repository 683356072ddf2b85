"""The client's offer page, /o/<token> (issue 16): the freed slot on the client's clock and a
Confirm button. A GET only shows (link scanners open links); the buttons POST, then redirect
back (post/redirect/get). No account: the token is the credential; only its hash is stored."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from practice.client_language import activate_for_client
from waitlist import services
from waitlist.models import OfferStatus

OUTCOMES = {
    services.ACCEPTED: _("Done: the session is yours. A confirmation is on its way."),
    services.TAKEN: _(
        "Sorry — that time was just taken by someone else. You keep your place on the waitlist."
    ),
    services.EXPIRED: _("This offer has run out. You keep your place on the waitlist."),
    services.DECLINED: _("Thanks for letting us know. You keep your place on the waitlist."),
    services.ENDED: _("This offer is no longer open. You keep your place on the waitlist."),
}


def _page(request, template: str, context: dict, status: int = 200, tz=None) -> HttpResponse:
    # Dates on the client's clock: the template's date filter reads the active zone.
    with timezone.override(tz or timezone.get_current_timezone()):
        response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def offer_page(request, token: str) -> HttpResponse:
    now = timezone.now()
    offer = services.offer_for_token(token)
    if offer is None:
        return _page(request, "waitlist/offer_invalid.html", {}, status=404)
    activate_for_client(offer.client)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "accept":
            outcome = services.offer_accept(offer=offer, now=now)
        elif action == "decline":
            outcome = services.offer_decline(offer=offer, now=now)
        else:
            outcome = ""
        url = reverse("offer_page", args=[token])
        return HttpResponseRedirect(f"{url}?done={outcome}" if outcome else url)
    tz = offer.client.zoneinfo(offer.practice)
    local_start = offer.slot.starts_at.astimezone(tz)
    done = request.GET.get("done", "")
    live = offer.is_live_at(now)
    if not live and not done:
        done = {
            OfferStatus.ACCEPTED: services.ACCEPTED,
            OfferStatus.TAKEN: services.TAKEN,
            OfferStatus.DECLINED: services.DECLINED,
        }.get(
            offer.status,
            services.EXPIRED if offer.status in (OfferStatus.LIVE, OfferStatus.EXPIRED) else services.ENDED,
        )
    context = {
        "practice": offer.practice,
        "token": token,
        "greeting_name": offer.client.greeting_name,
        "clinician_name": offer.slot.clinician.display_name,
        "local_start": local_start,
        "start_zone": local_start.tzname(),
        "minutes": offer.slot.minutes,
        "expires_local": offer.expires_at.astimezone(tz),
        "expires_zone": offer.expires_at.astimezone(tz).tzname(),
        "is_move": offer.entry.earlier_than_id is not None,
        "live": live,
        "message": OUTCOMES.get(done, ""),
        "accepted": offer.status == OfferStatus.ACCEPTED,
    }
    return _page(request, "waitlist/offer.html", context, tz=tz)
