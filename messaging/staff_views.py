"""Staff actions of the reminder engine on the session page.

The late-arrival banner (scheduling/appointment_detail.html) posts here for the one-tap
"Are you OK to continue?" text; messaging.services.message_send_check_in does the work.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

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
        _, created = message_send_check_in(participant=participant, by=request.user)
    except CheckInRefused as error:
        messages.error(request, str(error))
    else:
        name = participant.client.greeting_name
        if created:
            messages.success(request, f"Check-in text to {name} is on its way.")
        else:
            messages.info(request, f"The check-in text to {name} was already sent; it is not sent twice.")
    return redirect("appointment_detail", pk=appointment.pk)
