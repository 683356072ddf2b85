"""The no-show sequence (SPEC F9 step 7): one notice when the session ends, with a link to ask for
a new time, and the fee only for a client who signed the no-show policy of a practice with a fee."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from messaging import dispatch
from messaging.backends import locmem
from messaging.models import OutboxMessage, OutboxState
from scheduling.lifecycle import appointments_sweep_lifecycle
from scheduling.services import appointment_book, appointment_mark_attendance
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

START = ny(2026, 6, 10, 10, 0)
GRACE_END = START + timedelta(minutes=15)


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type):
    with at(ny(2026, 6, 1, 9, 0)):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann],
            starts_at=START,
            service_type=service_type,
        )


def no_show(capture):
    with at(GRACE_END), capture(execute=True):
        appointments_sweep_lifecycle()


def notice(session) -> OutboxMessage:
    return OutboxMessage.objects.get(appointment=session, kind="no_show_notice")


def send_at(moment):
    with at(moment):
        dispatch.dispatch_due()


def test_the_notice_waits_for_the_end_of_the_session(session, django_capture_on_commit_callbacks):
    no_show(django_capture_on_commit_callbacks)

    assert notice(session).due_at == session.ends_at
    send_at(session.ends_at - timedelta(seconds=1))
    assert locmem.outbox == []
    send_at(session.ends_at)
    [sms] = locmem.outbox
    assert sms.body.startswith("Hi Ann, we missed you at your 10:00 AM EDT session with Dr. Smith today.")
    assert "https://attend.example.org/a/" in sms.body
    assert "fee" not in sms.body


def test_a_client_who_signed_the_policy_is_told_the_fee(
    practice, consenting_ann, session, django_capture_on_commit_callbacks
):
    practice.no_show_fee = Decimal("75.00")
    practice.save()
    consenting_ann.no_show_policy_accepted_on = date(2026, 1, 5)
    consenting_ann.save()

    no_show(django_capture_on_commit_callbacks)
    send_at(session.ends_at)

    [sms] = locmem.outbox
    assert "As in the no-show policy you signed, a fee of $75.00 applies." in sms.body


def test_no_fee_notice_without_a_signed_policy(practice, session, django_capture_on_commit_callbacks):
    practice.no_show_fee = Decimal("75.00")
    practice.save()

    no_show(django_capture_on_commit_callbacks)
    send_at(session.ends_at)

    assert "fee" not in locmem.outbox[0].body


def test_no_fee_notice_when_the_practice_charges_none(
    consenting_ann, session, django_capture_on_commit_callbacks
):
    consenting_ann.no_show_policy_accepted_on = date(2026, 1, 5)
    consenting_ann.save()

    no_show(django_capture_on_commit_callbacks)
    send_at(session.ends_at)

    assert "fee" not in locmem.outbox[0].body


def test_without_text_consent_the_notice_goes_by_email_with_the_fee(
    practice, consenting_ann, session, django_capture_on_commit_callbacks
):
    practice.no_show_fee = Decimal("40.00")
    practice.save()
    consenting_ann.sms_consent_at = None
    consenting_ann.no_show_policy_accepted_on = date(2026, 1, 5)
    consenting_ann.save()

    no_show(django_capture_on_commit_callbacks)
    send_at(session.ends_at)

    assert locmem.outbox == []
    [email] = mail.outbox
    assert email.subject == "We missed you at your session on Wednesday, June 10"
    assert "a no-show fee of $40.00 applies" in email.body
    assert "https://attend.example.org/a/" in email.body


def test_a_reversed_no_show_sends_no_notice(session, manager, django_capture_on_commit_callbacks):
    no_show(django_capture_on_commit_callbacks)
    with at(GRACE_END + timedelta(minutes=5)):
        appointment_mark_attendance(
            appointment=session,
            client=session.participants.get().client,
            attendance="late",
            note="Was in the waiting room all along",
            by=manager,
        )

    send_at(session.ends_at)

    assert locmem.outbox == []
    row = notice(session)
    assert (row.state, row.reason) == (OutboxState.SKIPPED, "The no-show was reversed.")


def test_one_notice_per_no_show_however_often_it_is_announced(session, django_capture_on_commit_callbacks):
    from messaging.services import message_plan_no_show_notice

    no_show(django_capture_on_commit_callbacks)
    with at(GRACE_END):
        assert message_plan_no_show_notice(participant=session.participants.get()) is False

    assert OutboxMessage.objects.filter(kind="no_show_notice").count() == 1


def test_a_no_show_recorded_days_later_sends_nothing(session, manager, django_capture_on_commit_callbacks):
    with at(START + timedelta(days=2)), django_capture_on_commit_callbacks(execute=True):
        appointment_mark_attendance(
            appointment=session, client=session.participants.get().client, attendance="no_show", by=manager
        )

    assert not OutboxMessage.objects.filter(kind="no_show_notice").exists()


def test_each_group_no_show_gets_their_own_notice(
    practice, clinician, consenting_ann, client_bob, group_service, django_capture_on_commit_callbacks
):
    with at(ny(2026, 6, 1, 9, 0)):
        group = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann, client_bob],
            starts_at=START,
            service_type=group_service,
        )

    no_show(django_capture_on_commit_callbacks)

    rows = OutboxMessage.objects.filter(appointment=group, kind="no_show_notice")
    assert {row.participant.client.first_name for row in rows} == {"Ann", "Bob"}
    assert {row.channel for row in rows} == {"sms", "email"}  # Bob has given no consent to texts
