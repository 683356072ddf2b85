"""Staff actions of the reminder engine on the session page.

The late-arrival banner (scheduling/appointment_detail.html) posts here for the one-tap
"Are you OK to continue?" text; messaging.services.message_send_check_in does the work.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from messaging.models import Channel, OutboxMessage, OutboxState
from messaging.services import CheckInRefused, message_send_check_in
from practice.access import BOOKERS, require_manage_appointment, staff_view
from scheduling.models import Appointment


@require_POST
@staff_view(BOOKERS)
def appointment_check_in(request, pk: int, participant_pk: int):
    appointment = get_object_or_404(
        Appointment.objects.visible_to(request.membership).select_related("practice", "clinician"), pk=pk
    )
    require_manage_appointment(request.membership, appointment)
    participant = get_object_or_404(
        appointment.participants.select_related("client", "appointment__practice"), pk=participant_pk
    )
    try:
        message, created = message_send_check_in(participant=participant, by=request.user)
    except CheckInRefused as error:
        messages.error(request, str(error))
    else:
        name = participant.client.greeting_name
        if created:
            # It is sent as soon as the request commits: say what really happened.
            message.refresh_from_db()
            level, text = check_in_outcome(message, name)
            messages.add_message(request, level, text)
        else:
            messages.info(
                request, f"“Are you OK to continue?” was already sent to {name}; it is not sent twice."
            )
    return redirect("appointment_detail", pk=appointment.pk)


def check_in_outcome(message: OutboxMessage, name: str) -> tuple[int, str]:
    """The flash message after the one-tap check-in: the channel it really went by, or why not."""
    by = "by text" if message.channel == Channel.SMS else "by e-mail"
    if message.state in (OutboxState.ACCEPTED, OutboxState.DELIVERED):
        why = f" ({message.reason.removeprefix('Sent by e-mail: ').rstrip('.')})" if message.reason else ""
        return messages.SUCCESS, f"“Are you OK to continue?” sent to {name} {by}{why}."
    if message.state in (OutboxState.SKIPPED, OutboxState.FAILED, OutboxState.CANCELLED):
        return messages.ERROR, f"“Are you OK to continue?” was not sent to {name}: {message.reason}"
    return messages.INFO, f"“Are you OK to continue?” to {name} is queued and goes out within a minute."
