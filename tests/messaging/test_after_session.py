"""The after-session page (SPEC F9 step 8): an opaque link in the close-out e-mail, a short
survey stored once per participant, "book my next session" into the front-desk queue, the
staff report, and pruning of expired links."""

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client as HttpClient

from messaging import dispatch
from messaging.after_session import (
    LINK_VALID_AFTER_SESSION,
    after_session_link_for,
    after_session_participant,
    survey_submit,
)
from messaging.models import AfterSessionLink, OutboxMessage, OutboxState, PreferenceLink, SurveyResponse
from messaging.preferences import preference_link_for
from messaging.tasks import prune_expired_links
from scheduling.models import Attendance, FollowUp, FollowUpKind
from scheduling.services import appointment_book
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

START = ny(2026, 6, 10, 10, 0)
END = START + timedelta(minutes=45)
AFTER = END + timedelta(minutes=30)


def book(practice, clinician, clients, starts_at, service_type, capture):
    with time_machine.travel(ny(2026, 6, 1, 9, 0), tick=False), capture(execute=True):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            starts_at=starts_at,
            service_type=service_type,
        )


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type, django_capture_on_commit_callbacks):
    return book(
        practice, clinician, [consenting_ann], START, service_type, django_capture_on_commit_callbacks
    )


@pytest.fixture
def participant(session):
    return session.participants.get()


@pytest.fixture
def token(participant):
    return after_session_link_for(participant, AFTER)


def sweep_at(moment):
    with time_machine.travel(moment, tick=False):
        dispatch.dispatch_due()


def csrf_of(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()).group(1)


def open_page(web, token, at=AFTER):
    with time_machine.travel(at, tick=False):
        return web.get(f"/s/{token}")


def post(web, token, data, at=AFTER):
    page = open_page(web, token, at)
    with time_machine.travel(at, tick=False):
        return web.post(f"/s/{token}", {"csrfmiddlewaretoken": csrf_of(page), **data})


@pytest.fixture
def web():
    return HttpClient(enforce_csrf_checks=True)


# --- The close-out message --------------------------------------------------------------------


def test_the_close_out_email_goes_30_minutes_after_the_end_with_a_working_link(session, web):
    sweep_at(ny(2026, 6, 1, 9, 0))
    mail.outbox.clear()

    sweep_at(AFTER)

    (email,) = [sent for sent in mail.outbox if sent.to == ["ann@example.test"]]
    assert email.subject == "How was your session with Dr. Smith?"
    link = next(word for word in email.body.split() if "/s/" in word)
    page = open_page(web, link.replace("https://attend.example.org/s/", ""))
    assert page.status_code == 200
    assert "Thank you, Ann" in page.content.decode()


def test_a_client_who_switched_the_close_out_email_off_does_not_get_it(session, consenting_ann):
    from messaging.models import ClientPreferences

    ClientPreferences.objects.create(
        practice=consenting_ann.practice, client=consenting_ann, opted_out_steps=["after_session"]
    )

    sweep_at(AFTER)

    row = OutboxMessage.objects.get(appointment=session, kind="after_session")
    assert row.state == OutboxState.SKIPPED
    assert "preference page" in row.reason


def test_no_close_out_message_after_a_no_show(session, participant):
    participant.attendance = Attendance.NO_SHOW
    participant.save()

    sweep_at(AFTER)

    row = OutboxMessage.objects.get(appointment=session, kind="after_session")
    assert row.state == OutboxState.SKIPPED
    assert row.reason == "The client did not attend (no-show)."


# --- The link ------------------------------------------------------------------------------------


def test_the_token_is_random_long_and_stored_only_as_a_hash(participant, token):
    link = AfterSessionLink.objects.get()
    assert len(token) >= 32
    assert token not in link.token_hash
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_the_link_works_for_14_days_after_the_session(participant, token):
    assert (
        after_session_participant(token, END + LINK_VALID_AFTER_SESSION - timedelta(seconds=1)) == participant
    )
    assert after_session_participant(token, END + LINK_VALID_AFTER_SESSION) is None
    assert after_session_participant("x" * 32, AFTER) is None
    assert after_session_participant("x" * 500, AFTER) is None


def test_an_expired_link_gets_a_friendly_404_and_changes_nothing(web, token):
    late = END + LINK_VALID_AFTER_SESSION + timedelta(minutes=1)
    with time_machine.travel(late, tick=False):
        page = HttpClient().get(f"/s/{token}")
        HttpClient().post(f"/s/{token}", {"action": "book"})
    assert page.status_code == 404
    assert "This link has expired" in page.content.decode()
    assert not FollowUp.objects.exists()


def test_the_page_is_never_cached_sends_no_referrer_and_names_no_one_but_the_client(web, token):
    page = open_page(web, token)
    assert "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "same-origin"  # the token never leaves for another site
    body = page.content.decode()
    assert "Avery" not in body  # the first name only
    assert "Individual therapy" not in body  # no service details


# --- The survey ---------------------------------------------------------------------------------


def test_answers_are_stored_once_per_participant_and_a_resubmission_updates_them(web, token, participant):
    response = post(
        web,
        token,
        {"action": "survey", "session_rating": "4", "joining_rating": "2", "comment": "Audio cut out."},
    )
    assert response.status_code == 302
    post(web, token, {"action": "survey", "session_rating": "5", "joining_rating": "3", "comment": ""})

    (answer,) = SurveyResponse.objects.all()
    assert (answer.session_rating, answer.joining_rating, answer.comment) == (5, 3, "")
    assert answer.clinician == participant.appointment.clinician
    assert "You answered already" in open_page(web, token).content.decode()


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"session_rating": "9", "joining_rating": "3"}, "Select a valid choice"),
        ({"session_rating": "", "joining_rating": "3"}, "This field is required"),
        ({"session_rating": "3", "joining_rating": "3", "comment": "x" * 501}, "at most 500 characters"),
    ],
)
def test_bad_answers_are_field_errors_and_store_nothing(web, token, data, field_error):
    response = post(web, token, {"action": "survey", **data})
    assert response.status_code == 200
    assert field_error in response.content.decode()
    assert not SurveyResponse.objects.exists()


def test_the_service_refuses_out_of_range_ratings(participant):
    with pytest.raises(Exception, match="1 to 5"):
        survey_submit(participant=participant, session_rating=0, joining_rating=6, comment="", now=AFTER)


def test_each_form_field_has_a_label(web, token):
    body = open_page(web, token).content.decode()
    for field in ("id_comment",):
        assert f'for="{field}"' in body
    assert body.count("<legend") >= 2  # the two rating groups are fieldsets with a legend


# --- Book my next session ------------------------------------------------------------------------


def test_book_my_next_session_puts_one_item_in_the_front_desk_queue(
    web, token, participant, front_desk, signed_in
):
    first = post(web, token, {"action": "book"})
    again = post(web, token, {"action": "book"})

    assert first["Location"].endswith("?booked=1")
    assert again["Location"].endswith("?booked=again")
    (item,) = FollowUp.objects.all()
    assert (item.kind, item.participant) == (FollowUpKind.BOOKING_REQUESTED, participant)
    queue = signed_in(front_desk).get("/queue/").content.decode()
    assert "Client asked to book their next session" in queue


# --- Report ----------------------------------------------------------------------------------------


@pytest.fixture
def answers(
    practice,
    clinician,
    other_clinician,
    consenting_ann,
    client_bob,
    service_type,
    django_capture_on_commit_callbacks,
):
    mine = book(
        practice, clinician, [consenting_ann], START, service_type, django_capture_on_commit_callbacks
    )
    theirs = book(
        practice, other_clinician, [client_bob], START, service_type, django_capture_on_commit_callbacks
    )
    survey_submit(
        participant=mine.participants.get(), session_rating=4, joining_rating=5, comment="Lovely.", now=AFTER
    )
    survey_submit(
        participant=theirs.participants.get(),
        session_rating=2,
        joining_rating=1,
        comment="Link broke.",
        now=AFTER,
    )


def report(http, start="2026-06-01", end="2026-06-30"):
    return http.get(f"/reports/feedback/?start={start}&end={end}")


def test_managers_see_every_clinicians_averages_and_comments_without_client_names(
    answers, manager, signed_in
):
    page = report(signed_in(manager))
    assert page.status_code == 200
    rows = {row.clinician_name: row for row in page.context["rows"]}
    assert (
        rows["Dr. Smith"].responses,
        rows["Dr. Smith"].session_average,
        rows["Dr. Smith"].joining_average,
    ) == (1, 4.0, 5.0)
    assert rows["Dr. Jones"].session_average == 2.0
    body = page.content.decode()
    assert "Lovely." in body and "Link broke." in body
    assert "Ann" not in body and "Bob" not in body


def test_a_clinician_sees_their_own_sessions_only(answers, clinician_user, signed_in):
    page = report(signed_in(clinician_user))
    assert [row.clinician_name for row in page.context["rows"]] == ["Dr. Smith"]
    assert "Link broke." not in page.content.decode()


def test_the_date_range_limits_the_report(answers, manager, signed_in):
    assert report(signed_in(manager), "2026-07-01", "2026-07-31").context["rows"] == []
    bad = report(signed_in(manager), "2026-07-31", "2026-07-01")
    assert bad.status_code == 200
    assert "The end must not be before the start" in bad.content.decode()


def test_front_desk_billers_and_other_practices_see_no_report(
    answers, front_desk, biller, other_manager, signed_in
):
    assert report(signed_in(front_desk)).status_code == 403
    assert report(signed_in(biller)).status_code == 403
    assert report(signed_in(other_manager)).context["rows"] == []


# --- Pruning ----------------------------------------------------------------------------------------


def test_the_daily_task_prunes_expired_preference_and_after_session_links(participant, consenting_ann):
    old = END - timedelta(days=40)
    after_session_link_for(participant, AFTER)  # valid until END + 14 days
    preference_link_for(consenting_ann, old)  # expired after 30 days
    fresh = preference_link_for(consenting_ann, END)

    with time_machine.travel(END + LINK_VALID_AFTER_SESSION + timedelta(minutes=1), tick=False):
        assert prune_expired_links() == 2

    assert not AfterSessionLink.objects.exists()
    assert PreferenceLink.objects.count() == 1
    assert fresh  # the fresh one still opens the page


def test_the_prune_task_is_scheduled_daily():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="messaging.prune_links")
    assert schedule.func == "messaging.tasks.prune_expired_links"
    assert schedule.schedule_type == Schedule.DAILY
