"""Hand-built sessions for the board tests: rows written directly, so each test states exactly
which facts (messages, tech checks, joins) exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from messaging.models import Channel, OutboxMessage
from scheduling.models import Appointment, AppointmentParticipant
from telehealth.models import TechCheckResult

NEW_YORK = ZoneInfo("America/New_York")


def ny(*args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK, fold=fold)


def session(*, practice, clinician, service_type, clients, starts_at, minutes=45, **fields) -> Appointment:
    # Elapsed-time arithmetic in UTC: Python adds to an aware local time on the wall clock and
    # drops ``fold``, which would end 01:30 (second, EST) before it starts on 2026-11-01.
    starts_at = starts_at.astimezone(UTC)
    appointment = Appointment.objects.create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        **fields,
    )
    for client in clients:
        AppointmentParticipant.objects.create(appointment=appointment, client=client)
    return appointment


def message(participant, kind: str, state: str, *, due_at=None, channel=Channel.SMS) -> OutboxMessage:
    appointment = participant.appointment
    return OutboxMessage.objects.create(
        practice_id=appointment.practice_id,
        appointment=appointment,
        participant=participant,
        recipient_key=f"client:{participant.pk}",
        kind=kind,
        channel=channel,
        due_at=due_at or appointment.starts_at - timedelta(hours=1),
        state=state,
    )


def tech_check(participant, *, passed: bool, problems=()) -> TechCheckResult:
    return TechCheckResult.objects.create(
        practice_id=participant.appointment.practice_id,
        participant=participant,
        passed=passed,
        camera_ok=passed,
        microphone_ok=True,
        browser_ok=True,
        network_ok=True,
        problems=list(problems),
    )
