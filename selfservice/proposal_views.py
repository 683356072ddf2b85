"""The person's answer to a time the practice proposed, /r/<token> (issue 15 item 7): the page
shows the proposed time on their clock with Accept and Decline. Only a POST answers (link scanners
open links); the token is the credential, stored hashed, and a new proposal replaces it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from practice.client_language import activate_for_visitor
from selfservice.models import BookingRequestStatus
from selfservice.pages import client_page
from selfservice.services import (
    booking_request_accept_proposal,
    booking_request_decline_proposal,
    proposal_for_token,
)

ANSWERS = {"accept": booking_request_accept_proposal, "decline": booking_request_decline_proposal}


@never_cache
@require_http_methods(["GET", "POST"])
def booking_proposal(request, token: str):
    now = timezone.now()
    booking_request = proposal_for_token(token)
    if booking_request is None:
        return client_page(request, "selfservice/proposal_invalid.html", {}, status=404)
    # The person is not a client yet: their browser's language, or the booking page's switch.
    activate_for_visitor(request, booking_request.practice)
    error = ""
    if request.method == "POST":
        answer = ANSWERS.get(request.POST.get("answer", ""))
        if answer is None:
            error = gettext("Choose Accept or Decline.")
        else:
            try:
                answer(request=booking_request, now=now)
            except ValidationError as problem:
                error = " ".join(problem.messages)
            else:
                # Post/redirect/get: the same link now says what happened.
                return redirect("booking_proposal", token=token)
        booking_request.refresh_from_db()
    tz = ZoneInfo(booking_request.timezone)
    context = {
        "practice": booking_request.practice,
        "first_name": booking_request.first_name,
        "clinician_name": booking_request.clinician.display_name,
        "service_name": booking_request.service_type.name,
        "asked": booking_request.requested_starts_at,
        "proposed": booking_request.starts_at,
        "held_until": booking_request.expires_at,
        "state": _state(booking_request, now),
        "decline_reason": booking_request.decline_reason,
        "error": error,
        "zone_name": str(tz),
    }
    return client_page(request, "selfservice/proposal.html", context, status=409 if error else 200, tz=tz)


def _state(booking_request, now) -> str:
    """What the page says: waiting for an answer, booked, declined by the person (withdrawn) or by
    the practice, or expired (also before the minute sweep has marked it)."""
    status = booking_request.status
    if status == BookingRequestStatus.PROPOSED:
        return "waiting" if booking_request.expires_at > now else "expired"
    return {
        BookingRequestStatus.APPROVED: "booked",
        BookingRequestStatus.WITHDRAWN: "withdrawn",
        BookingRequestStatus.DECLINED: "declined",
    }.get(status, "expired")
