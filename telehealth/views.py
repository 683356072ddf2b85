"""Client-facing join pages (/j/<token>) and the clinician's host link.

Client pages need no account: the opaque token is the credential. They never show more
than the client's own first name, the clinician's display name and the time, and they are
marked no-store / no-referrer so the token does not leak into caches or other sites.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from practice.access import ALL_ROLES, staff_view
from practice.client_language import activate_for_client
from scheduling.models import Appointment
from telehealth import services
from telehealth.models import JoinSource, Meeting, MeetingState
from telehealth.rules import JoinState, join_state, join_window


def client_page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    # Templates convert datetimes to the active zone: show the client's wall clock.
    with timezone.override(context.get("timezone_name") or timezone.get_current_timezone()):
        response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _participant(token: str):
    participant = services.participant_for_token(token)
    return services.current_participant(participant) if participant else None


def invalid_link(request) -> HttpResponse:
    return client_page(request, "telehealth/link_invalid.html", {}, status=404)


def _local_context(participant) -> dict:
    appointment = participant.appointment
    tz = participant.client.zoneinfo(appointment.practice)
    window = join_window(appointment)
    local_start = appointment.starts_at.astimezone(tz)
    local_end = appointment.ends_at.astimezone(tz)
    local_opens = window.opens_at.astimezone(tz)
    return {
        "participant": participant,
        "appointment": appointment,
        "practice": appointment.practice,
        "greeting_name": participant.client.greeting_name,
        "clinician_name": appointment.clinician.display_name,
        "local_start": local_start,
        "local_end": local_end,
        "local_opens": local_opens,
        # EST/EDT, from Python: Django's "T" format is blank for ambiguous times, which is
        # exactly the night (clocks going back) when the abbreviation matters.
        "start_zone": local_start.tzname(),
        "end_zone": local_end.tzname(),
        "opens_zone": local_opens.tzname(),
        "timezone_name": str(tz),
    }


@never_cache
def join(request, token: str):
    participant = _participant(token)
    if participant is None:
        return invalid_link(request)
    activate_for_client(participant.client)
    appointment = participant.appointment
    now = timezone.now()
    state = join_state(appointment, now)
    context = _local_context(participant) | {"state": state, "token": token}
    if state != JoinState.OPEN:
        return client_page(request, "telehealth/join_closed.html", context)

    target = services.participant_join_url(participant=participant, now=now)
    if target is None:
        # The meeting is still being created (or failed and staff are on it).
        return client_page(request, "telehealth/join_not_ready.html", context, status=503)
    services.join_record(participant=participant, source=JoinSource.LINK, at=now)
    response = HttpResponseRedirect(target)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@staff_view(roles=ALL_ROLES)
def host_join(request, pk: int):
    """The clinician's own link to the meeting, with host rights where the provider has them.
    Only the session's clinician gets it: a host URL can admit people and end the session."""
    appointment = get_object_or_404(
        Appointment.objects.visible_to(request.membership).select_related("practice", "clinician"), pk=pk
    )
    if appointment.clinician.user_id != request.user.pk:
        raise PermissionDenied("Only the session's clinician can open the host link.")
    target = services.host_join_url(appointment=appointment)
    if target is None:
        return render(request, "telehealth/host_not_ready.html", {"appointment": appointment}, status=409)
    services.host_join_record(appointment=appointment)
    response = HttpResponseRedirect(target)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
def fake_meeting(request, key: str):
    """The stand-in for a video meeting of the fake provider (development and the demo). The
    join was recorded by /j/ before the redirect here, as with every provider, so the session is
    "in progress" on the staff pages; this page only shows it. It names nobody: whoever holds the
    link sees the clinician's display name, the time and how many have joined."""
    meeting = (
        Meeting.objects.filter(provider="fake", key=key[:32])
        .exclude(state=MeetingState.CANCELLED)
        .select_related("appointment__practice", "appointment__clinician")
        .first()
    )
    if meeting is None:
        return invalid_link(request)
    appointment = meeting.appointment
    tz = appointment.practice.zoneinfo
    participants = list(appointment.participants.all())
    context = {
        "appointment": appointment,
        "clinician_name": appointment.clinician.display_name,
        "local_start": appointment.starts_at.astimezone(tz),
        "local_end": appointment.ends_at.astimezone(tz),
        "end_zone": appointment.ends_at.astimezone(tz).tzname(),
        "timezone_name": str(tz),
        "is_host": request.GET.get("host") == "1",
        "joined": sum(1 for p in participants if p.joined_at is not None),
        "expected": len(participants),
    }
    return client_page(request, "telehealth/fake_meeting.html", context)
