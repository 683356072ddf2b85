"""Late arrival (SPEC F9 step 6): at T+5 the session page lists who has not joined, with a one-tap
"Are you OK to continue?" text that goes out at once, once, never without consent."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core import mail

from messaging.backends import locmem
from messaging.models import ClientPreferences, OutboxMessage, OutboxState
from practice.consent import client_sms_opt_out
from practice.models import ConsentEventSource
from scheduling.models import ActivityKind, AppointmentActivity
from scheduling.services import appointment_book, participant_record_join
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

START = ny(2026, 6, 10, 10, 0)
T5 = START + timedelta(minutes=5)


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


@pytest.fixture
def group(practice, clinician, consenting_ann, client_bob, group_service):
    with at(ny(2026, 6, 1, 9, 0)):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[consenting_ann, client_bob],
            starts_at=START,
            service_type=group_service,
        )


def page(http, appointment, moment):
    with at(moment):
        return http.get(f"/appointments/{appointment.pk}/")


def tap(http, appointment, participant, moment, capture):
    with at(moment), capture(execute=True):
        return http.post(f"/appointments/{appointment.pk}/check-in/{participant.pk}/", follow=True)


# --- The banner ------------------------------------------------------------------------------------


def test_no_banner_at_t_plus_4_59_and_a_banner_at_t_plus_5(session, clinician_user, signed_in):
    http = signed_in(clinician_user)

    assert (
        "Not joined yet" not in page(http, session, START + timedelta(minutes=4, seconds=59)).content.decode()
    )
    body = page(http, session, T5).content.decode()
    assert "Not joined yet" in body
    assert "Ann Avery" in body
    assert "Are you OK to continue?" in body


def test_the_banner_goes_once_the_client_joins(session, clinician_user, signed_in):
    with at(START + timedelta(minutes=6)):
        participant_record_join(participant=session.participants.get())

    assert (
        "Not joined yet"
        not in page(signed_in(clinician_user), session, T5 + timedelta(minutes=2)).content.decode()
    )


def test_the_banner_lists_each_group_client_who_has_not_joined(group, client_bob, clinician_user, signed_in):
    with at(START + timedelta(minutes=1)):
        participant_record_join(participant=group.participants.get(client=client_bob))

    body = page(signed_in(clinician_user), group, T5).content.decode()
    banner = body.split("Not joined yet")[1].split("</section>")[0]
    assert "Ann Avery" in banner and "Bob" not in banner


# --- The one-tap text ---------------------------------------------------------------------------------


def test_one_tap_sends_the_text_at_once_and_puts_it_on_the_timeline(
    session, clinician_user, signed_in, django_capture_on_commit_callbacks
):
    http = signed_in(clinician_user)
    response = tap(http, session, session.participants.get(), T5, django_capture_on_commit_callbacks)

    [sms] = locmem.outbox
    assert sms.to == "+12125550101"
    assert sms.body.startswith(
        "Hi Ann, Dr. Smith is ready for your 10:00 AM EDT session. Are you OK to continue?"
    )
    assert "https://attend.example.org/j/" in sms.body
    message = OutboxMessage.objects.get(kind="check_in_text")
    assert (message.state, message.channel) == (OutboxState.ACCEPTED, "sms")
    body = response.content.decode()
    # Sent after the request (the test holds the commit): the page says it is queued, not sent;
    # tests/staff/test_check_in_honest.py sees the channel named once it has gone.
    assert "“Are you OK to continue?” to Ann is queued and goes out within a minute." in body
    assert "asked “Are you OK to continue?”" in body
    entry = AppointmentActivity.objects.get(kind=ActivityKind.CHECK_IN_SENT)
    assert entry.actor == clinician_user
    assert LogEntry.objects.get_for_object(entry).get().actor == clinician_user


def test_a_second_tap_does_not_send_twice(
    session, clinician_user, manager, signed_in, django_capture_on_commit_callbacks
):
    participant = session.participants.get()
    tap(signed_in(clinician_user), session, participant, T5, django_capture_on_commit_callbacks)
    again = tap(
        signed_in(manager),
        session,
        participant,
        T5 + timedelta(seconds=20),
        django_capture_on_commit_callbacks,
    )

    assert len(locmem.outbox) == 1
    assert OutboxMessage.objects.filter(kind="check_in_text").count() == 1
    assert AppointmentActivity.objects.filter(kind=ActivityKind.CHECK_IN_SENT).count() == 1
    assert "was already sent to Ann; it is not sent twice" in again.content.decode()


def test_no_text_without_consent_it_goes_by_email(
    session, consenting_ann, clinician_user, signed_in, django_capture_on_commit_callbacks
):
    with at(START):
        client_sms_opt_out(client=consenting_ann, source=ConsentEventSource.SMS_KEYWORD, now=START)

    tap(
        signed_in(clinician_user), session, session.participants.get(), T5, django_capture_on_commit_callbacks
    )

    assert locmem.outbox == []
    [email] = mail.outbox
    assert email.to == ["ann@example.test"]
    assert "Are you OK to continue?" in email.body
    assert "no consent to texts" in OutboxMessage.objects.get(kind="check_in_text").reason


def test_quiet_hours_do_not_hold_it(
    session, consenting_ann, clinician_user, signed_in, django_capture_on_commit_callbacks
):
    ClientPreferences.objects.create(
        practice=consenting_ann.practice, client=consenting_ann, quiet_start=time(9, 0), quiet_end=time(11, 0)
    )

    tap(
        signed_in(clinician_user), session, session.participants.get(), T5, django_capture_on_commit_callbacks
    )

    assert len(locmem.outbox) == 1


def test_it_is_refused_before_the_start_and_once_the_client_joined(
    session, clinician_user, signed_in, django_capture_on_commit_callbacks
):
    http = signed_in(clinician_user)
    participant = session.participants.get()
    early = tap(http, session, participant, START - timedelta(minutes=1), django_capture_on_commit_callbacks)
    assert "only while the session is running" in early.content.decode()
    with at(T5):
        participant_record_join(participant=participant)
    joined = tap(http, session, participant, T5 + timedelta(minutes=1), django_capture_on_commit_callbacks)
    assert "Ann has already joined" in joined.content.decode()
    assert locmem.outbox == []
    assert not OutboxMessage.objects.filter(kind="check_in_text").exists()


def test_the_clients_answer_shows_on_the_timeline(
    session, clinician_user, signed_in, settings, django_capture_on_commit_callbacks
):
    from django.test import Client as HttpClient

    from tests.messaging.test_inbound_sms import AUTH_TOKEN, PRACTICE_NUMBER, inbound, post

    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    session.practice.sms_from_number = PRACTICE_NUMBER
    session.practice.save()
    http = signed_in(clinician_user)
    tap(http, session, session.participants.get(), T5, django_capture_on_commit_callbacks)
    with at(T5 + timedelta(minutes=1)):
        post(HttpClient(), inbound("On my way, 2 min!"))

    body = page(http, session, T5 + timedelta(minutes=2)).content.decode()
    assert "Client replied" in body and "On my way, 2 min!" in body


# --- Who may tap -------------------------------------------------------------------------------------


def test_another_practices_manager_gets_404(
    session, other_manager, signed_in, django_capture_on_commit_callbacks
):
    http = signed_in(other_manager)
    response = tap(http, session, session.participants.get(), T5, django_capture_on_commit_callbacks)

    assert response.status_code == 404
    assert page(http, session, T5).status_code == 404
    assert locmem.outbox == []


def test_another_clinician_of_the_practice_gets_404(
    session, other_clinician, signed_in, django_capture_on_commit_callbacks
):
    response = tap(
        signed_in(other_clinician.user),
        session,
        session.participants.get(),
        T5,
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 404
    assert locmem.outbox == []


def test_a_biller_may_not_send_it(session, biller, signed_in, django_capture_on_commit_callbacks):
    response = tap(
        signed_in(biller), session, session.participants.get(), T5, django_capture_on_commit_callbacks
    )

    assert response.status_code == 403


def test_a_participant_of_another_session_is_404(
    session,
    practice,
    other_clinician,
    client_bob,
    service_type,
    clinician_user,
    signed_in,
    django_capture_on_commit_callbacks,
):
    with at(ny(2026, 6, 1, 9, 0)):
        elsewhere = appointment_book(
            practice=practice,
            clinician=other_clinician,
            clients=[client_bob],
            starts_at=START,
            service_type=service_type,
        )
    response = tap(
        signed_in(clinician_user),
        session,
        elsewhere.participants.get(),
        T5,
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 404


def test_only_post_is_allowed(session, clinician_user, signed_in):
    http = signed_in(clinician_user)
    with at(T5):
        response = http.get(f"/appointments/{session.pk}/check-in/{session.participants.get().pk}/")
    assert response.status_code == 405
