"""Booking requests (SPEC F4): the practice's queue of new clients asking for a held slot, and
the one-tap answers. Approve books the slot (the client record is made if needed); decline gives
the time back and e-mails the person the reason; "propose another time" moves the hold to another
open time and e-mails the person a link to accept or decline it. Front desk and managers answer;
clinicians see the requests for their own calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from practice.access import BOOKERS, SCHEDULERS, staff_view
from practice.models import Role
from selfservice.models import BookingRequest
from selfservice.services import (
    WAITING_STATUSES,
    booking_request_approve,
    booking_request_decline,
    booking_request_propose,
    proposal_times,
)


class DeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        label="Why (the person reads this)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _visible(membership):
    requests = BookingRequest.objects.for_practice(membership.practice)
    if membership.role == Role.CLINICIAN:
        requests = requests.filter(clinician__user=membership.user)
    return requests


@staff_view(BOOKERS)
def booking_requests(request):
    now = timezone.now()
    pending = (
        _visible(request.membership)
        .filter(status__in=WAITING_STATUSES, expires_at__gt=now)
        .select_related("clinician", "service_type", "payer", "proposed_by")
        .prefetch_related("concerns")
        .order_by("starts_at")
    )
    decided = (
        _visible(request.membership)
        .exclude(status__in=WAITING_STATUSES, expires_at__gt=now)
        .select_related("clinician", "decided_by")
        .order_by("-decided_at", "-created_at")[:30]
    )
    context = {
        "pending": pending,
        "decided": decided,
        "can_answer": request.membership.role in SCHEDULERS,
        "decline_form": DeclineForm(),
        "tz": request.practice.zoneinfo,
        "nav": "requests",
    }
    return render(request, "staff/booking_requests.html", context)


@require_POST
@staff_view(SCHEDULERS)
def booking_request_approve_view(request, pk: int):
    booking_request = get_object_or_404(BookingRequest.objects.for_practice(request.practice), pk=pk)
    try:
        booking_request = booking_request_approve(request=booking_request, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Booked {booking_request.first_name} {booking_request.last_name}; "
            "their confirmation is on its way.",
        )
    return redirect("booking_requests")


@require_POST
@staff_view(SCHEDULERS)
def booking_request_decline_view(request, pk: int):
    booking_request = get_object_or_404(BookingRequest.objects.for_practice(request.practice), pk=pk)
    form = DeclineForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why you decline, in a sentence the person will read.")
        return redirect("booking_requests")
    try:
        booking_request_decline(request=booking_request, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Declined; the time is free again and the person has been told why.")
    return redirect("booking_requests")


class ProposeForm(forms.Form):
    """The start picked from the listed open times, as the number the page listed."""

    start = forms.IntegerField(min_value=0, max_value=10**10, error_messages={"required": "Pick a time."})


@staff_view(SCHEDULERS)
def booking_request_propose_view(request, pk: int):
    """GET lists the clinician's next open times for the request's service (the booking page's
    rules, the practice's clock); POST proposes the chosen one."""
    booking_request = get_object_or_404(
        BookingRequest.objects.for_practice(request.practice).select_related("clinician", "service_type"),
        pk=pk,
    )
    now = timezone.now()
    if booking_request.status not in WAITING_STATUSES or booking_request.expires_at <= now:
        messages.error(request, "This request is no longer waiting for an answer.")
        return redirect("booking_requests")
    slots = proposal_times(booking_request, now=now)
    form = ProposeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        starts_at = datetime.fromtimestamp(form.cleaned_data["start"], tz=UTC)
        try:
            booking_request, _ = booking_request_propose(
                request=booking_request, starts_at=starts_at, by=request.user, now=now
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
            slots = proposal_times(booking_request, now=now)
        else:
            messages.success(
                request,
                f"Proposed to {booking_request.first_name} {booking_request.last_name}: the time is held for "
                "them and they have been e-mailed a link to accept or decline it.",
            )
            return redirect("booking_requests")
    tz = request.practice.zoneinfo
    days = [
        (day, [(int(slot.starts_at.timestamp()), slot.starts_at) for slot in day_slots])
        for day, day_slots in groupby(slots, key=lambda slot: slot.starts_at.astimezone(tz).date())
    ]
    context = {
        "item": booking_request,
        "form": form,
        "days": days,
        "tz": tz,
        "nav": "requests",
    }
    return render(request, "staff/booking_request_propose.html", context, status=400 if form.errors else 200)
