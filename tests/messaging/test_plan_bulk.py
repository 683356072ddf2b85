"""Bulk planning (imports, back-fills) writes exactly the rows booking one by one would."""

from datetime import timedelta

import pytest
import time_machine

from messaging.models import OutboxMessage
from messaging.services import message_plan_bulk, message_plan_for
from practice.models import Modality
from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

FIELDS = ("recipient_key", "kind", "channel", "due_at", "state", "reason", "participant_id", "step_id")


def unplanned(practice, clinician, service_type, clients, starts_at, **extra) -> Appointment:
    """An appointment written directly, as an import does, with no outbox rows yet."""
    appointment = Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=service_type.default_minutes),
        **extra,
    )
    for client in clients:
        AppointmentParticipant.objects.create(appointment=appointment, client=client)
    return appointment


def rows_of(appointment) -> set[tuple]:
    return set(OutboxMessage.objects.filter(appointment=appointment).values_list(*FIELDS))


def test_bulk_planning_matches_planning_one_by_one_across_a_dst_night(
    practice, clinician, other_clinician, client_ann, client_bob, service_type
):
    client_bob.timezone = "America/Los_Angeles"
    client_bob.save()
    with time_machine.travel(ny(2026, 2, 20, 9, 0), tick=False):
        sessions = [
            # The day after the spring-forward night: T-24h lands on the wall clock.
            unplanned(practice, clinician, service_type, [client_ann], ny(2026, 3, 9, 10, 0)),
            # A group session (one row per client, one clinician row), in another zone.
            unplanned(
                practice, other_clinician, service_type, [client_ann, client_bob], ny(2026, 3, 9, 10, 0)
            ),
            unplanned(
                practice,
                clinician,
                service_type,
                [client_bob],
                ny(2026, 3, 12, 15, 0),
                modality=Modality.IN_PERSON,
            ),
            # Booked so late that the early steps are recorded as skipped.
            unplanned(practice, clinician, service_type, [client_ann], ny(2026, 2, 20, 10, 0)),
            unplanned(
                practice,
                clinician,
                service_type,
                [client_ann],
                ny(2026, 3, 20, 10, 0),
                status=AppointmentStatus.CANCELLED,
            ),
        ]
        expected = {}
        for appointment in sessions:
            message_plan_for(appointment=appointment)
            expected[appointment.pk] = rows_of(appointment)
        OutboxMessage.objects.all().delete()

        added = message_plan_bulk(appointment_ids=[a.pk for a in sessions], chunk=2)
        again = message_plan_bulk(appointment_ids=[a.pk for a in sessions])

    assert added == sum(len(rows) for rows in expected.values()) > 0
    assert again == 0
    for appointment in sessions:
        assert rows_of(appointment) == expected[appointment.pk]
    assert expected[sessions[-1].pk] == set()  # a cancelled session gets nothing
