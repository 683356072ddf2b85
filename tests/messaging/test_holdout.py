"""Holdouts (SPEC F18): a drawn share of clients skips a step, the draw is recorded once at
planning, the dispatcher never sends a held-out message, and the timeline says why."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.urls import reverse

from messaging import holdout
from messaging.holdout import HELD_OUT_REASON
from messaging.models import HoldoutAssignment, OutboxMessage, OutboxState
from messaging.services import message_plan_for, message_timeline, messages_dispatch_due, sequence_for
from practice.models import Client
from scheduling.models import Appointment, AppointmentParticipant
from tests.conftest import verified_session
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(holdout, "RANDOM", random.Random(20260308))


@pytest.fixture
def t24(practice):
    step = sequence_for(practice).steps.get(key="t24_sms")
    step.holdout_percent = 10
    step.save()
    return step


def upcoming_session(practice, clinician, service_type, starts_at, clients):
    """A booked session, made directly so hundreds of them stay quick; planned like any other."""
    appointment = Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=45),
    )
    for client in clients:
        AppointmentParticipant.objects.create(appointment=appointment, client=client)
    return appointment


def test_the_held_out_share_is_close_to_the_configured_one_and_every_draw_is_recorded(
    practice, clinician, service_type, t24, seeded
):
    t24.holdout_percent = 20
    t24.save()
    clients = [
        Client.objects.create(practice=practice, first_name=f"C{n}", last_name="T", phone="+12125550199")
        for n in range(20)
    ]
    starts = ny(2027, 1, 4, 8, 0)
    for n in range(200):
        appointment = upcoming_session(
            practice, clinician, service_type, starts + timedelta(hours=n), [clients[n % 20]]
        )
        message_plan_for(appointment=appointment, now=ny(2027, 1, 1, 9, 0))
    assignments = HoldoutAssignment.objects.filter(step=t24)
    assert assignments.count() == 200  # both arms recorded, one per client session
    held_out = assignments.filter(held_out=True).count()
    assert 0.14 <= held_out / 200 <= 0.26  # 20% configured; a fixed seed keeps this exact run stable
    assert set(assignments.values_list("percent", flat=True)) == {20}
    skipped = OutboxMessage.objects.filter(kind="t24_sms", state=OutboxState.SKIPPED, reason=HELD_OUT_REASON)
    assert skipped.count() == held_out
    # Other steps are untouched.
    assert not OutboxMessage.objects.filter(reason=HELD_OUT_REASON).exclude(kind="t24_sms").exists()


def test_a_group_session_draws_for_each_client(
    practice, clinician, group_service, t24, client_ann, client_bob
):
    appointment = upcoming_session(
        practice, clinician, group_service, ny(2027, 1, 4, 10), [client_ann, client_bob]
    )
    message_plan_for(appointment=appointment, now=ny(2027, 1, 1, 9))
    assert HoldoutAssignment.objects.filter(appointment=appointment, step=t24).count() == 2


def test_planning_again_keeps_the_first_draw(practice, clinician, service_type, client_ann, t24, monkeypatch):
    monkeypatch.setattr(holdout, "RANDOM", random.Random(1))
    t24.holdout_percent = 30
    t24.save()
    appointment = upcoming_session(practice, clinician, service_type, ny(2027, 1, 4, 10), [client_ann])

    class AlwaysHoldOut:
        def random(self):
            return 0.0

    class NeverHoldOut:
        def random(self):
            return 0.99

    monkeypatch.setattr(holdout, "RANDOM", AlwaysHoldOut())
    message_plan_for(appointment=appointment, now=ny(2027, 1, 1, 9))
    monkeypatch.setattr(holdout, "RANDOM", NeverHoldOut())
    message_plan_for(appointment=appointment, now=ny(2027, 1, 1, 10))
    assignment = HoldoutAssignment.objects.get(appointment=appointment, step=t24)
    assert assignment.held_out
    assert OutboxMessage.objects.get(appointment=appointment, kind="t24_sms").state == OutboxState.SKIPPED


def test_a_held_out_message_is_never_sent_and_the_timeline_says_why(
    practice, clinician, service_type, consenting_ann, t24, monkeypatch, manager
):
    class AlwaysHoldOut:
        def random(self):
            return 0.0

    monkeypatch.setattr(holdout, "RANDOM", AlwaysHoldOut())
    starts = ny(2027, 1, 4, 10)
    appointment = upcoming_session(practice, clinician, service_type, starts, [consenting_ann])
    message_plan_for(appointment=appointment, now=ny(2027, 1, 1, 9))
    report = messages_dispatch_due(now=starts - timedelta(hours=23))
    row = OutboxMessage.objects.get(appointment=appointment, kind="t24_sms")
    assert row.state == OutboxState.SKIPPED and row.sent_at is None and row.attempts == 0
    assert report.sent >= 1  # the confirmation did go out; only the held-out step did not
    (entry,) = [e for e in message_timeline(appointment=appointment) if e["kind"] == "t24_sms"]
    assert entry["reason"].startswith("Held out for measurement")
    page = verified_session(manager).get(reverse("appointment_detail", args=[appointment.pk]))
    assert b"Held out for measurement" in page.content


def test_steps_without_a_holdout_and_passed_steps_draw_nothing(
    practice, clinician, service_type, client_ann, t24
):
    starts = ny(2027, 1, 4, 10)
    appointment = upcoming_session(practice, clinician, service_type, starts, [client_ann])
    # Booked three hours before: T-24h has passed, so it is in neither arm.
    Appointment.objects.filter(pk=appointment.pk).update(created_at=starts - timedelta(hours=3))
    message_plan_for(appointment=appointment, now=starts - timedelta(hours=3))
    assert OutboxMessage.objects.get(appointment=appointment, kind="t24_sms").state == OutboxState.SKIPPED
    assert not HoldoutAssignment.objects.exists()
