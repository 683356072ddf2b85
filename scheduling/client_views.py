"""The client's page for one session, /a/<token> (SPEC F4): confirm, ask to reschedule, cancel
within the practice policy, or, after a no-show, ask for a new time.

No account: the opaque, expiring token is the credential, so the page is never cached, sends no
referrer to other sites and is not indexed. It shows the client's first name, the clinician's display name and
the local date and time, nothing else. Every button is a POST with CSRF protection that calls a
service in scheduling.client_actions, then redirects back (post/redirect/get).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from scheduling import client_actions
from scheduling.models import ActivityChannel, AppointmentStatus

ACTIONS = ("confirm", "reschedule", "cancel")
DONE_MESSAGES = {
    "confirm": "Thanks, your session is confirmed.",
    "reschedule": "Thanks, we've let the front desk know. They will contact you to find a new time.",
    "cancel": "Done. You'll also get a confirmation of the cancellation by text or e-mail.",
}


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
    }


@never_cache
@require_http_methods(["GET", "POST"])
def client_manage(request, token: str) -> HttpResponse:
    now = timezone.now()
    participant = client_actions.manage_link_participant(token, now)
    if participant is None:
        return _page(request, "scheduling/client_manage_invalid.html", {}, status=404)
    context = _context(participant, now)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            context["error"] = "Please choose one of the buttons."
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
                    context["error"] = "Please tick the box to confirm that you want to cancel."
                    return _page(request, "scheduling/client_manage.html", context)
                client_actions.appointment_client_cancel(participant=participant, now=now)
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
            return _page(request, "scheduling/client_manage.html", context, status=409)
        return HttpResponseRedirect(reverse("client_manage", args=[token]) + f"?done={action}")
    context["done"] = DONE_MESSAGES.get(request.GET.get("done", ""))
    return _page(request, "scheduling/client_manage.html", context)
