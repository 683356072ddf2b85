"""The dispatcher honours the client's preferences: switched-off steps, quiet hours, carrier STOPs."""

from datetime import time

import pytest
import time_machine
from django.core import mail

from messaging import dispatch
from messaging.backends import locmem
from messaging.backends.base import ChannelError
from messaging.models import ClientPreferences, OutboxMessage, OutboxState
from scheduling.services import appointment_book
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

SESSION = ny(2026, 6, 10, 8, 0)  # an early session: the day-before text falls at 8:00


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    with (
        time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=SESSION,
            service_type=service_type,
        )


def prefer(client, **fields):
    ClientPreferences.objects.update_or_create(
        client=client, defaults={"practice": client.practice, **fields}
    )


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        return dispatch.dispatch_due()


def row(appointment, kind):
    return OutboxMessage.objects.get(appointment=appointment, kind=kind)


def test_a_reminder_the_client_switched_off_is_skipped_with_the_reason(session, consenting_ann):
    prefer(consenting_ann, opted_out_steps=["t24_sms"])

    sweep_at(ny(2026, 6, 9, 8, 0))

    assert row(session, "t24_sms").state == OutboxState.SKIPPED
    assert "switched this reminder off" in row(session, "t24_sms").reason
    assert locmem.outbox == []


def test_a_text_due_in_quiet_hours_waits_until_they_end(session, consenting_ann):
    prefer(consenting_ann, quiet_start=time(21, 0), quiet_end=time(8, 30))

    sweep_at(ny(2026, 6, 9, 8, 0))
    held = row(session, "t24_sms")
    assert held.state == OutboxState.PLANNED
    assert held.due_at == ny(2026, 6, 9, 8, 30)
    assert "quiet hours, until 8:30 AM EDT" in held.reason
    assert locmem.outbox == []

    sweep_at(ny(2026, 6, 9, 8, 30))
    assert row(session, "t24_sms").state == OutboxState.ACCEPTED
    assert len(locmem.outbox) == 1


def test_a_text_whose_quiet_hours_outlast_the_session_goes_by_email(session, consenting_ann):
    sweep_at(ny(2026, 6, 1, 9, 0))  # the confirmation e-mail
    sweep_at(ny(2026, 6, 9, 8, 0))  # the day-before text
    prefer(consenting_ann, quiet_start=time(6, 0), quiet_end=time(9, 0))

    sweep_at(ny(2026, 6, 10, 6, 0))  # the 2-hour tech-check prompt, inside quiet hours until after 8:00

    prompt = row(session, "t2h_tech_check")
    assert prompt.state == OutboxState.ACCEPTED
    assert prompt.channel == "email"
    assert "quiet hours" in prompt.reason
    assert len(locmem.outbox) == 1  # only the day-before text
    assert len(mail.outbox) == 2


def test_the_urgent_join_text_goes_out_in_quiet_hours(session, consenting_ann):
    prefer(consenting_ann, quiet_start=time(6, 0), quiet_end=time(9, 0))

    sweep_at(ny(2026, 6, 10, 7, 45))

    assert row(session, "t15_sms").state == OutboxState.ACCEPTED
    assert "starts in 15 minutes" in locmem.outbox[-1].body


class RefusingSMS:
    def send(self, message):
        raise ChannelError("Twilio refused the message", permanent=True, code="21610")


def test_a_carrier_stop_21610_opts_the_client_out_and_falls_back_to_email(
    session, consenting_ann, monkeypatch
):
    monkeypatch.setattr(dispatch, "get_sms_backend", lambda: RefusingSMS())

    sweep_at(ny(2026, 6, 9, 8, 0))

    consenting_ann.refresh_from_db()
    assert not consenting_ann.has_sms_consent
    assert row(session, "t24_sms").state == OutboxState.FAILED
    assert row(session, "t24_sms:email").state == OutboxState.PLANNED
    sweep_at(ny(2026, 6, 10, 6, 0))
    assert row(session, "t2h_tech_check").channel == "email"  # later texts go by e-mail at once


def test_the_confirmation_carries_a_working_preference_link(session, consenting_ann, client):
    sweep_at(ny(2026, 6, 1, 9, 0))

    (confirmation,) = mail.outbox
    link = next(word for word in confirmation.body.split() if "/p/" in word)
    path = link.replace("https://attend.example.org", "")
    with time_machine.travel(ny(2026, 6, 2, 9, 0), tick=False):
        page = client.get(path)
    assert page.status_code == 200
    assert "Ann" in page.content.decode()
