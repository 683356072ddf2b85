"""Replies about a session by text (SPEC F4): C confirms, R asks for a new time, anything else is
kept on the session's timeline. Routed to the sender's relevant session at the practice texting
from the number written to."""

from __future__ import annotations

import logging

import pytest
import time_machine

from messaging import dispatch
from messaging.backends import locmem
from messaging.services import message_plan_for
from practice.models import Client, ConsentAction
from scheduling.models import ActivityChannel, ActivityKind, AppointmentActivity, FollowUp, FollowUpKind
from scheduling.services import appointment_book, appointment_cancel
from tests.messaging.conftest import ANN_PHONE, OTHER_PRACTICE_NUMBER, ny
from tests.messaging.test_inbound_sms import inbound, post, reply_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("twilio_settings")]

BOOKED_AT = ny(2026, 6, 1, 9, 0)
SESSION = ny(2026, 6, 10, 10, 0)
REPLY_AT = ny(2026, 6, 9, 10, 5)


def book(practice, clinician, clients, service_type, starts_at=SESSION):
    with time_machine.travel(BOOKED_AT, tick=False):
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            starts_at=starts_at,
            service_type=service_type,
        )
        message_plan_for(appointment=appointment)
        return appointment


@pytest.fixture
def session(ann, clinician, service_type):
    return book(ann.practice, clinician, [ann], service_type)


def text(web, body, **kwargs):
    with time_machine.travel(REPLY_AT, tick=False):
        return post(web, inbound(body, **kwargs))


def activities(appointment):
    return list(
        AppointmentActivity.objects.filter(appointment=appointment).values_list("kind", "channel", "body")
    )


# --- C: confirm -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["C", "c", " C ", "C.", "c!", "CONFIRM", "confirm", "Confirm.", "confirmed", "Confirmar", "confirmo"],
)
def test_c_or_confirm_in_any_spelling_confirms_the_session(web, session, body):
    response = text(web, body)

    session.refresh_from_db()
    assert session.status == "confirmed"
    assert activities(session) == [(ActivityKind.CONFIRMED, ActivityChannel.SMS, "")]
    [answer] = reply_of(response)
    assert (
        answer
        == "Thanks, Ann: your session with Dr. Smith on Wednesday, June 10 at 10:00 AM EDT is confirmed."
    )


def test_a_redelivered_confirmation_is_recorded_once(web, session):
    params = inbound("C")
    with time_machine.travel(REPLY_AT, tick=False):
        post(web, params)
        post(web, params)

    assert AppointmentActivity.objects.filter(appointment=session).count() == 1


def test_confirming_by_text_is_audit_logged_on_the_appointment(web, session):
    from auditlog.models import LogEntry

    text(web, "C")

    changes = [entry.changes for entry in LogEntry.objects.get_for_object(session)]
    assert any("status" in (change or {}) for change in changes)


# --- R: reschedule request -------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["R", "r", "R.", "reschedule", "RESCHEDULE", " Reschedule! ", "Reprogramar"])
def test_r_or_reschedule_asks_the_front_desk_for_a_new_time(web, session, body):
    response = text(web, body)

    item = FollowUp.objects.get(appointment=session)
    assert item.kind == FollowUpKind.RESCHEDULE_REQUESTED
    assert "by text" in item.detail
    session.refresh_from_db()
    assert session.status == "scheduled"  # it stays booked until the front desk moves it
    assert activities(session) == [(ActivityKind.RESCHEDULE_REQUESTED, ActivityChannel.SMS, "")]
    [answer] = reply_of(response)
    assert "Riverside Counseling will contact you to find a new time" in answer
    assert "Dr. Smith" in answer and "Ann" in answer


# --- Anything else -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["Running 5 min late, sorry", "ok", "Can we do 11 instead?", "CC", "Rr"])
def test_any_other_reply_is_kept_on_the_timeline_with_no_answer(web, session, body):
    response = text(web, body)

    assert reply_of(response) == []
    assert activities(session) == [(ActivityKind.REPLIED, ActivityChannel.SMS, body.strip())]
    session.refresh_from_db()
    assert session.status == "scheduled"
    assert not FollowUp.objects.exists()


def test_the_reply_shows_on_the_session_page(web, session, manager, signed_in):
    text(web, "Running 5 min late, sorry")

    page = signed_in(manager).get(f"/appointments/{session.pk}/")

    assert "Client replied" in page.content.decode()
    assert "Running 5 min late, sorry" in page.content.decode()


def test_the_reply_text_is_never_logged(web, session, caplog):
    with caplog.at_level(logging.DEBUG):
        text(web, "My therapy is hard this week")
        text(web, "C")

    assert "therapy" not in caplog.text
    assert "0101" not in caplog.text and "Ann" not in caplog.text


def test_yes_stays_an_opt_in_keyword_and_is_also_kept_on_the_timeline(
    web, numbers, client_ann, clinician, service_type
):
    appointment = book(client_ann.practice, clinician, [client_ann], service_type)

    response = text(web, "Yes")

    client_ann.refresh_from_db()
    assert client_ann.has_sms_consent
    assert client_ann.consent_events.get().action == ConsentAction.OPT_IN
    assert "again" in reply_of(response)[0]
    assert activities(appointment) == [(ActivityKind.REPLIED, ActivityChannel.SMS, "Yes")]
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"  # YES is not a confirmation


def test_stop_is_still_a_keyword_not_a_reply(web, session, ann):
    text(web, "STOP")

    assert not AppointmentActivity.objects.exists()


# --- Which session ------------------------------------------------------------------------------


def test_a_reply_from_a_number_with_no_session_is_answered_and_records_nothing(web, ann):
    response = text(web, "C")

    assert reply_of(response) == [
        "We couldn't find an upcoming session for this number. "
        "Please call Riverside Counseling at (212) 555-0100."
    ]
    assert not AppointmentActivity.objects.exists()
    assert text(web, "hello").content.count(b"<Message>") == 0


def test_a_reply_from_an_unknown_number_changes_nothing(web, session):
    response = text(web, "C", sender="+12125559999")

    assert "couldn't find" in reply_of(response)[0]
    session.refresh_from_db()
    assert session.status == "scheduled"


def test_a_reply_goes_to_the_next_session_not_a_later_one(web, ann, clinician, service_type):
    later = book(ann.practice, clinician, [ann], service_type, starts_at=ny(2026, 6, 17, 10, 0))
    sooner = book(ann.practice, clinician, [ann], service_type)

    text(web, "C")

    sooner.refresh_from_db()
    later.refresh_from_db()
    assert (sooner.status, later.status) == ("confirmed", "scheduled")


def test_a_cancelled_or_past_session_is_not_the_target(web, ann, clinician, service_type):
    cancelled = book(ann.practice, clinician, [ann], service_type)
    with time_machine.travel(BOOKED_AT, tick=False):
        appointment_cancel(appointment=cancelled)
    past = book(ann.practice, clinician, [ann], service_type, starts_at=ny(2026, 6, 5, 10, 0))

    response = text(web, "R")

    assert "couldn't find" in reply_of(response)[0]
    assert not FollowUp.objects.filter(appointment__in=[cancelled, past]).exists()


def test_a_session_under_way_gets_the_reply(web, session):
    with time_machine.travel(ny(2026, 6, 10, 10, 7), tick=False):
        post(web, inbound("Sorry, my wifi is down, joining by phone"))

    assert activities(session)[0][0] == ActivityKind.REPLIED


def test_a_reply_to_one_practices_number_never_touches_the_other_practices_session(
    web, ann, ann_elsewhere, clinician, service_type, other_practice
):
    from practice.models import ClinicianProfile
    from scheduling.models import ServiceType

    mine = book(ann.practice, clinician, [ann], service_type)
    their_clinician = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. Other")
    their_service = ServiceType.objects.create(practice=other_practice, name="Therapy")
    theirs = book(other_practice, their_clinician, [ann_elsewhere], their_service)

    text(web, "C", to=OTHER_PRACTICE_NUMBER)

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == ("scheduled", "confirmed")


@pytest.fixture
def ann_and_her_son(ann, practice):
    """Two clients of the practice sharing one (family) phone."""
    return ann, Client.objects.create(
        practice=practice,
        first_name="Leo",
        last_name="Avery",
        phone=ANN_PHONE,
        email="leo@example.test",
        sms_consent_at=ann.sms_consent_at,
        sms_consent_source="intake_form",
    )


def test_a_number_shared_by_two_clients_goes_to_the_session_last_texted_about(
    web, ann_and_her_son, clinician, other_clinician, service_type
):
    ann, leo = ann_and_her_son
    anns = book(ann.practice, clinician, [ann], service_type)
    leos = book(ann.practice, other_clinician, [leo], service_type, starts_at=ny(2026, 6, 11, 16, 0))
    # Leo's day-before text is the last one the family phone got.
    with time_machine.travel(ny(2026, 6, 9, 10, 0), tick=False):
        dispatch.dispatch_due()
    with time_machine.travel(ny(2026, 6, 10, 16, 0), tick=False):
        dispatch.dispatch_due()
    assert "Leo" in locmem.outbox[-1].body

    with time_machine.travel(ny(2026, 6, 10, 16, 5), tick=False):
        response = post(web, inbound("C"))

    anns.refresh_from_db()
    leos.refresh_from_db()
    assert (anns.status, leos.status) == ("scheduled", "confirmed")
    assert "Thanks, Leo" in reply_of(response)[0]


def test_a_number_shared_by_two_clients_with_nothing_to_go_by_changes_nothing(
    web, ann_and_her_son, clinician, other_clinician, service_type
):
    ann, leo = ann_and_her_son
    anns = book(ann.practice, clinician, [ann], service_type)
    leos = book(ann.practice, other_clinician, [leo], service_type, starts_at=ny(2026, 6, 11, 16, 0))

    response = text(web, "C")
    text(web, "is it tomorrow?")

    assert reply_of(response) == [
        "We couldn't tell which session you mean. Please call Riverside Counseling at (212) 555-0100."
    ]
    anns.refresh_from_db()
    leos.refresh_from_db()
    assert (anns.status, leos.status) == ("scheduled", "scheduled")
    assert not AppointmentActivity.objects.exists()


def test_two_clients_sharing_a_number_in_one_group_session_confirm_it(
    web, ann_and_her_son, clinician, group_service
):
    ann, leo = ann_and_her_son
    group = book(ann.practice, clinician, [ann, leo], group_service)

    text(web, "C")

    group.refresh_from_db()
    assert group.status == "confirmed"


def test_a_session_that_can_no_longer_be_confirmed_gets_a_plain_answer(web, session):
    from scheduling.services import participant_record_join

    with time_machine.travel(ny(2026, 6, 10, 10, 1), tick=False):
        participant_record_join(participant=session.participants.get())
        response = post(web, inbound("C"))

    assert reply_of(response) == [
        "This session can no longer be changed by text. Please call Riverside Counseling at (212) 555-0100."
    ]


def test_the_reply_text_stays_out_of_the_audit_log(web, session):
    from auditlog.models import LogEntry

    text(web, "My therapy is hard this week")

    entry = AppointmentActivity.objects.get()
    [logged] = LogEntry.objects.get_for_object(entry)
    assert "body" not in logged.changes
    assert "therapy" not in str(logged.changes) + str(logged.serialized_data or "")
