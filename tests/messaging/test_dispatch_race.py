"""A session changed while the dispatcher is preparing its batch gets no reminder for the old time."""

from datetime import timedelta

import pytest

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import OutboxMessage, OutboxState
from scheduling.models import Appointment, AppointmentStatus
from tests.messaging.test_dispatch import SESSION, row, session, sweep_at  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", [AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED])
def test_a_session_changed_after_the_batch_was_prepared_is_not_handed_over(session, monkeypatch, status):  # noqa: F811
    prepare = dispatch._prepare

    def prepare_then_change(message, now, *args):
        decision = prepare(message, now, *args)
        # Another request commits the change between the dispatcher's decision and its hand-over.
        Appointment.objects.filter(pk=message.appointment_id).update(status=status)
        return decision

    monkeypatch.setattr(dispatch, "_prepare", prepare_then_change)
    report = sweep_at(SESSION - timedelta(minutes=15))

    assert report.sent == 0
    assert report.rechecked == report.claimed  # each found changed at the hand-over, decided again
    assert locmem.outbox == []
    t15 = row(session, "t15_sms")
    assert t15.state == OutboxState.CANCELLED
    assert t15.reason == (
        "The session was cancelled."
        if status == AppointmentStatus.CANCELLED
        else "The session was moved; the new time has its own reminders."
    )
    assert not OutboxMessage.objects.filter(state__in=[OutboxState.CLAIMED, OutboxState.SENDING]).exists()
