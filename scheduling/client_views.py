"""The client's page for one session, /a/<token> (SPEC F4): confirm, ask to reschedule, cancel
within the practice policy, pick a new time (/a/<token>/move, then a confirm page), or, after a
no-show, ask for a new time.

No account: the opaque, expiring token is the credential, so the page is never cached, sends no
referrer to other sites and is not indexed. It shows the client's first name, the clinician's display name and
the local date and time, nothing else. Every button is a POST with CSRF protection that calls a
service in scheduling.client_actions, then redirects back (post/redirect/get).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from practice.client_language import activate_for_client
from scheduling import client_actions
from scheduling.models import ActivityChannel, AppointmentStatus, BookingPolicy

ACTIONS = ("confirm", "reschedule", "cancel")
DONE_MESSAGES = {
    "confirm": gettext_lazy("Thanks, your session is confirmed."),
    "reschedule": gettext_lazy(
        "Thanks, we've let the front desk know. They will contact you to find a new time."
    ),
    "cancel": gettext_lazy("Done. You'll also get a confirmation of the cancellation by text or e-mail."),
    "move": gettext_lazy("Done: your session is moved to the time below."),
}
# A slot in a URL: its start in UTC, e.g. 20260610T140000Z (an instant, not a wall-clock time).
SLOT_FORMAT = "%Y%m%dT%H%M%SZ"


def _page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    with timezone.override(context.get("timezone_name") or timezone.get_current_timezone()):
        response = render(request, template, context, status=status)
    # "same-origin", not "no-referrer": with "no-referrer" browsers send "Origin: null" with the
    # form's POST and Django's CSRF check refuses it. The token still never leaves our site.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _context(participant, now) -> dict:
    appointment = participant.appointment
    tz = participant.client.zoneinfo(appointment.practice)
    local_start = appointment.starts_at.astimezone(tz)
    options = client_actions.client_options(participant, now)
    return {
        "practice": appointment.practice,
        "greeting_name": participant.client.greeting_name,
        "clinician_name": appointment.clinician.display_name,
        "local_start": local_start,
        # From Python: Django's "T" is blank on the ambiguous night the clocks go back.
        "start_zone": local_start.tzname(),
        "timezone_name": str(tz),
        "status": appointment.status,
        "is_cancelled": appointment.status == AppointmentStatus.CANCELLED,
        "is_confirmed": appointment.status == AppointmentStatus.CONFIRMED,
        "options": options,
        "late_cancel_hours": appointment.practice.late_cancel_window_hours,
        "is_group": appointment.participants.count() > 1,
        "move": client_actions.client_move_check(participant, now),
    }


@never_cache
@require_http_methods(["GET", "POST"])
def client_manage(request, token: str) -> HttpResponse:
    now = timezone.now()
    participant = client_actions.manage_link_participant(token, now)
    if participant is None:
        return _page(request, "scheduling/client_manage_invalid.html", {}, status=404)
    activate_for_client(participant.client)
    context = _context(participant, now) | {"token": token}
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            context["error"] = _("Please choose one of the buttons.")
            return _page(request, "scheduling/client_manage.html", context, status=400)
        try:
            if action == "confirm":
                client_actions.appointment_client_confirm(
                    participant=participant, channel=ActivityChannel.LINK, now=now
                )
            elif action == "reschedule":
                client_actions.appointment_client_request_reschedule(
                    participant=participant, channel=ActivityChannel.LINK, now=now
                )
            elif action == "cancel":
                if request.POST.get("sure") != "yes":
                    # A form error the client corrects on the page, not a bad request.
                    context["error"] = _("Please tick the box to confirm that you want to cancel.")
                    return _page(request, "scheduling/client_manage.html", context)
                client_actions.appointment_client_cancel(participant=participant, now=now)
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
            return _page(request, "scheduling/client_manage.html", context, status=409)
        return HttpResponseRedirect(reverse("client_manage", args=[token]) + f"?done={action}")
    context["done"] = DONE_MESSAGES.get(request.GET.get("done", ""))
    return _page(request, "scheduling/client_manage.html", context)


# --- Picking a new time ------------------------------------------------------------------------


def _parse_slot(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _move_clinician(participant, policy, value: str):
    """The clinician whose times are shown: the session's own, or another one the policy allows."""
    allowed = client_actions.client_move_clinicians(participant, policy)
    for clinician in allowed:
        if value and str(clinician.pk) == value:
            return clinician, allowed
    return allowed[0], allowed


def _move_page(request, token, participant, now, *, clinician_value="", error="", status=200):
    policy = BookingPolicy.for_practice(participant.appointment.practice)
    context = _context(participant, now)
    tz = participant.client.zoneinfo(participant.appointment.practice)
    clinician, clinicians = _move_clinician(participant, policy, clinician_value)
    days = []
    if context["move"].allowed:
        slots = client_actions.client_move_slots(participant, now, clinician=clinician, policy=policy)
        for day, group in groupby(slots, key=lambda slot: slot.starts_at.astimezone(tz).date()):
            days.append(
                {
                    "day": day,
                    "slots": [
                        {
                            "local": slot.starts_at.astimezone(tz),
                            "zone": slot.starts_at.astimezone(tz).tzname(),
                            "key": slot.starts_at.astimezone(UTC).strftime(SLOT_FORMAT),
                        }
                        for slot in group
                    ],
                }
            )
    context |= {
        "token": token,
        "days": days,
        "clinician": clinician,
        "clinician_id": participant.appointment.clinician_id,
        "clinicians": clinicians if len(clinicians) > 1 else [],
        "error": error,
    }
    return _page(request, "scheduling/client_manage_move.html", context, status=status)


@never_cache
@require_http_methods(["GET"])
def client_move(request, token: str) -> HttpResponse:
    """The open times the session can move to (the next days that have any, on the client's
    clock). Only reads."""
    now = timezone.now()
    participant = client_actions.manage_link_participant(token, now)
    if participant is None:
        return _page(request, "scheduling/client_manage_invalid.html", {}, status=404)
    activate_for_client(participant.client)
    return _move_page(request, token, participant, now, clinician_value=request.GET.get("with", ""))


@never_cache
@require_http_methods(["GET", "POST"])
def client_move_confirm(request, token: str) -> HttpResponse:
    """GET shows the chosen time with a button; only the POST moves the session."""
    now = timezone.now()
    participant = client_actions.manage_link_participant(token, now)
    if participant is None:
        return _page(request, "scheduling/client_manage_invalid.html", {}, status=404)
    activate_for_client(participant.client)
    data = request.POST if request.method == "POST" else request.GET
    starts_at = _parse_slot(data.get("at", ""))
    clinician_value = data.get("with", "")
    if starts_at is None:
        return _move_page(
            request,
            token,
            participant,
            now,
            clinician_value=clinician_value,
            error=_("Please pick one of the times below."),
            status=400,
        )
    policy = BookingPolicy.for_practice(participant.appointment.practice)
    clinician, _allowed = _move_clinician(participant, policy, clinician_value)
    if request.method == "POST":
        try:
            client_actions.appointment_client_move(
                participant=participant, starts_at=starts_at, now=now, clinician=clinician
            )
        except ValidationError as error:
            # Fresh slots with the reason (a time taken meanwhile, or the policy).
            fresh = client_actions.manage_link_participant(token, now) or participant
            return _move_page(
                request,
                token,
                fresh,
                now,
                clinician_value=clinician_value,
                error=" ".join(error.messages),
                status=409,
            )
        return HttpResponseRedirect(reverse("client_manage", args=[token]) + "?done=move")
    tz = participant.client.zoneinfo(participant.appointment.practice)
    local_new = starts_at.astimezone(tz)
    context = _context(participant, now) | {
        "token": token,
        "new_start": local_new,
        "new_zone": local_new.tzname(),
        "at": data.get("at"),
        "clinician": clinician,
        "with": clinician_value if clinician.pk != participant.appointment.clinician_id else "",
    }
    return _page(request, "scheduling/client_manage_move_confirm.html", context)
