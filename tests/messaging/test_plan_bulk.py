"""Bulk planning (imports, back-fills) writes exactly the rows booking one by one would."""

from datetime import timedelta

import pytest
import time_machine

from messaging import holdout
from messaging.holdout import HELD_OUT_REASON
from messaging.models import HoldoutAssignment, OutboxMessage, OutboxState, Sequence
from messaging.services import message_plan_bulk, message_plan_for, sequence_for
from practice.models import Client, ClinicianProfile, Modality
from scheduling.models import Appointment, AppointmentParticipant, AppointmentStatus, ServiceType
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
            # A group session (one row per client, one clinician row), in another zone; after the
            # one above, as a client is never in two sessions at once.
            unplanned(
                practice, other_clinician, service_type, [client_ann, client_bob], ny(2026, 3, 9, 11, 0)
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


def test_bulk_planning_of_two_practices_reads_each_ones_own_steps(
    practice, other_practice, clinician, client_ann, client_bob, service_type
):
    """Sessions at the same instant in two practices: one with edited steps, one that has no
    sequence yet (bulk planning makes it). Each gets its own practice's steps and zones."""
    steps = sequence_for(practice).steps
    steps.filter(key="t15_sms").update(offset_minutes=-30)
    steps.filter(key="note_reminder").update(is_active=False)
    assert not Sequence.objects.filter(practice=other_practice).exists()
    harbor_clinician = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. Lee")
    harbor_client = Client.objects.create(practice=other_practice, first_name="Cy", last_name="Cole")
    harbor_service = ServiceType.objects.create(practice=other_practice, name="Therapy", default_minutes=50)
    client_bob.timezone = "America/Chicago"
    client_bob.save()
    with time_machine.travel(ny(2026, 5, 1, 9, 0), tick=False):
        sessions = [
            unplanned(practice, clinician, service_type, [client_ann, client_bob], ny(2026, 5, 7, 13, 0)),
            unplanned(
                other_practice, harbor_clinician, harbor_service, [harbor_client], ny(2026, 5, 7, 13, 0)
            ),
            unplanned(
                other_practice,
                harbor_clinician,
                harbor_service,
                [harbor_client],
                ny(2026, 5, 8, 13, 0),
                modality=Modality.IN_PERSON,
            ),
        ]
        added = message_plan_bulk(appointment_ids=[a.pk for a in sessions])
        planned_in_bulk = {a.pk: rows_of(a) for a in sessions}
        OutboxMessage.objects.all().delete()
        for appointment in sessions:
            message_plan_for(appointment=appointment)

    assert added == sum(len(rows) for rows in planned_in_bulk.values())
    for appointment in sessions:
        assert planned_in_bulk[appointment.pk] == rows_of(appointment)
    kinds = {row[1] for row in planned_in_bulk[sessions[0].pk]}
    assert "note_reminder" not in kinds
    assert "note_reminder" in {row[1] for row in planned_in_bulk[sessions[1].pk]}


class Draw:
    """holdout.RANDOM with a fixed draw: 0.0 holds every client out of a measured step."""

    def __init__(self, value: float):
        self.value = value

    def random(self) -> float:
        return self.value


def test_bulk_planning_draws_holdouts_like_planning_one_by_one(
    monkeypatch, practice, clinician, client_ann, client_bob, service_type
):
    steps = sequence_for(practice).steps
    steps.filter(key="t24_sms").update(holdout_percent=20)
    monkeypatch.setattr(holdout, "RANDOM", Draw(0.0))
    with time_machine.travel(ny(2026, 5, 1, 9, 0), tick=False):
        session = unplanned(
            practice, clinician, service_type, [client_ann, client_bob], ny(2026, 5, 7, 13, 0)
        )
        message_plan_for(appointment=session)
        expected = rows_of(session)
        OutboxMessage.objects.all().delete()
        HoldoutAssignment.objects.all().delete()

        message_plan_bulk(appointment_ids=[session.pk])
        monkeypatch.setattr(holdout, "RANDOM", Draw(0.99))  # a later run keeps the stored draw
        OutboxMessage.objects.all().delete()
        message_plan_bulk(appointment_ids=[session.pk])

    assert rows_of(session) == expected
    held_out = OutboxMessage.objects.filter(appointment=session, kind="t24_sms")
    assert set(held_out.values_list("state", "reason")) == {(OutboxState.SKIPPED, HELD_OUT_REASON)}
    assert held_out.count() == 2
    assert set(HoldoutAssignment.objects.values_list("participant__client__first_name", "held_out")) == {
        ("Ann", True),
        ("Bob", True),
    }
