"""The client's session page, /a/<token> (SPEC F4): confirm, ask to reschedule, cancel within the
policy, or ask for a new time after a no-show. No account: the opaque token is the credential."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client as HttpClient

from messaging import dispatch
from messaging.backends import locmem
from messaging.services import message_plan_for
from practice.models import ClinicianProfile
from scheduling.client_actions import manage_link_for
from scheduling.lifecycle import appointments_sweep_lifecycle
from scheduling.models import (
    ActivityChannel,
    ActivityKind,
    AppointmentActivity,
    FollowUp,
    FollowUpKind,
    ManageLink,
    ServiceType,
)
from scheduling.services import appointment_book, appointment_reschedule

# The reminder engine's fixtures (in-memory channels, a client who can get texts), re-exported.
from tests.messaging.conftest import consenting_ann as consenting_ann
from tests.messaging.conftest import in_memory_channels as in_memory_channels
from tests.messaging.conftest import ny

pytestmark = pytest.mark.django_db

BOOKED_AT = ny(2026, 6, 1, 9, 0)
START = ny(2026, 6, 10, 10, 0)
EARLY = ny(2026, 6, 8, 12, 0)  # two days before: outside the 24-hour late-cancel window
LATE = ny(2026, 6, 9, 18, 0)  # 16 hours before: a late cancellation


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def web(db) -> HttpClient:
    return HttpClient(enforce_csrf_checks=False)


def book(practice, clinician, clients, service_type, starts_at=START):
    with at(BOOKED_AT):
        return appointment_book(
            practice=practice,
            clinician=clinician,
            clients=clients,
            starts_at=starts_at,
            service_type=service_type,
        )


@pytest.fixture
def session(practice, clinician, consenting_ann, service_type):
    return book(practice, clinician, [consenting_ann], service_type)


@pytest.fixture
def token(session):
    with at(BOOKED_AT):
        return manage_link_for(participant=session.participants.get(), now=BOOKED_AT)


def page(web, token, moment):
    with at(moment):
        return web.get(f"/a/{token}")


def press(web, token, moment, action, **extra):
    with at(moment):
        return web.post(f"/a/{token}", {"action": action, **extra})


# --- The link -----------------------------------------------------------------------------------


def test_the_day_before_text_carries_a_working_link_within_two_segments(session, web):
    from messaging.content import sms_segments

    with at(BOOKED_AT):
        message_plan_for(appointment=session)
    with at(ny(2026, 6, 9, 10, 0)):
        dispatch.dispatch_due()

    [sms] = locmem.outbox
    assert "Reply C to confirm, R to reschedule" in sms.body
    assert sms_segments(sms.body)[1] <= 2
    link = re.search(r"https://attend\.example\.org/a/(\S+)", sms.body).group(1)
    assert page(web, link, ny(2026, 6, 9, 10, 1)).status_code == 200


def test_the_page_shows_first_name_clinician_and_local_time_only(session, token, web):
    response = page(web, token, EARLY)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Hi Ann" in body and "Dr. Smith" in body
    assert "Wednesday, June 10 at 10:00 AM EDT" in body
    assert "Avery" not in body and "Individual therapy" not in body and "150" not in body
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert token not in body.split("<title>")[1].split("</title>")[0]


def test_only_a_hash_of_the_token_is_stored(token):
    assert not ManageLink.objects.filter(token_hash=token).exists()
    assert ManageLink.objects.count() == 1


@pytest.mark.parametrize("bad", ["nope", "x" * 65, "A" * 32])
def test_an_unknown_token_is_a_plain_404(web, session, bad):
    response = page(web, bad, EARLY)

    assert response.status_code == 404
    assert "This link no longer works" in response.content.decode()


def test_the_link_expires_when_the_session_ends(session, token, web):
    assert page(web, token, session.ends_at - timedelta(seconds=1)).status_code == 200
    assert page(web, token, session.ends_at).status_code == 404
    assert press(web, token, session.ends_at, "confirm").status_code == 404
    session.refresh_from_db()
    assert session.status == "scheduled"


def test_the_link_follows_a_rescheduled_session(session, token, web):
    with at(EARLY):
        moved = appointment_reschedule(appointment=session, starts_at=ny(2026, 6, 20, 14, 0))

    response = page(web, token, ny(2026, 6, 15, 9, 0))  # after the old time ended

    assert response.status_code == 200
    assert "Saturday, June 20 at 2:00 PM EDT" in response.content.decode()
    press(web, token, ny(2026, 6, 15, 9, 0), "confirm")
    moved.refresh_from_db()
    assert moved.status == "confirmed"


def test_another_practices_link_shows_only_that_practice(other_practice, other_client, web):
    clinician = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. Other")
    service = ServiceType.objects.create(practice=other_practice, name="Therapy")
    other_client.email = "zed@example.test"
    other_client.save()
    theirs = book(other_practice, clinician, [other_client], service)
    with at(BOOKED_AT):
        token = manage_link_for(participant=theirs.participants.get(), now=BOOKED_AT)

    body = page(web, token, EARLY).content.decode()

    assert "Harbor Therapy" in body and "Dr. Other" in body
    assert "Riverside" not in body and "Dr. Smith" not in body


# --- Confirm and reschedule ------------------------------------------------------------------------


def test_confirm_by_tap(session, token, web, manager, signed_in):
    response = press(web, token, EARLY, "confirm")

    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "confirmed"
    entry = AppointmentActivity.objects.get()
    assert (entry.kind, entry.channel) == (ActivityKind.CONFIRMED, ActivityChannel.LINK)
    after = page(web, token, EARLY).content.decode()
    assert "You have confirmed this session" in after
    staff_page = signed_in(manager).get(f"/appointments/{session.pk}/").content.decode()
    assert "Client confirmed" in staff_page and "Session link" in staff_page


def test_i_need_to_reschedule_goes_to_the_front_desk_queue(session, token, web, manager, signed_in):
    before = page(web, token, EARLY).content.decode()
    assert "The front desk will contact you to find a new time" in before
    # Picking a time themselves is offered too (tests/scheduling/test_self_reschedule.py).
    assert "Ask the front desk instead" in before and "Pick a new time" in before

    with at(EARLY):
        response = web.post(f"/a/{token}", {"action": "reschedule"}, follow=True)

    assert "let the front desk know" in response.content.decode()
    item = FollowUp.objects.get()
    assert (item.kind, item.participant.client.first_name) == (FollowUpKind.RESCHEDULE_REQUESTED, "Ann")
    assert "on their session page" in item.detail
    queue = signed_in(manager).get("/queue/").content.decode()
    assert "Client asked to reschedule" in queue


def test_an_unknown_action_is_a_400_and_changes_nothing(session, token, web):
    assert press(web, token, EARLY, "delete_everything").status_code == 400
    session.refresh_from_db()
    assert session.status == "scheduled"


def test_posting_needs_the_csrf_token(session, token):
    strict = HttpClient(enforce_csrf_checks=True)
    with at(EARLY):
        assert strict.post(f"/a/{token}", {"action": "confirm"}).status_code == 403


# --- Cancel within policy ---------------------------------------------------------------------------


def test_cancelling_early_is_within_policy(session, token, web):
    body = page(web, token, EARLY).content.decode()
    assert "Cancelling now is within Riverside Counseling's policy" in body
    assert "late cancellation" not in body

    press(web, token, EARLY, "cancel", sure="yes")

    session.refresh_from_db()
    assert (session.status, session.cancelled_by_client, session.is_late_cancel) == ("cancelled", True, False)
    assert session.cancelled_by is None
    assert AppointmentActivity.objects.get().kind == ActivityKind.CANCELLED


def test_cancelling_inside_the_window_says_plainly_it_is_a_late_cancellation(session, token, web):
    body = page(web, token, LATE).content.decode()
    assert "This would be a late cancellation." in body
    assert "less than 24 hours before your session" in body

    press(web, token, LATE, "cancel", sure="yes")

    session.refresh_from_db()
    assert (session.status, session.is_late_cancel) == ("cancelled", True)
    assert AppointmentActivity.objects.get().detail == "Late cancellation"


def test_cancelling_needs_the_tick_box(session, token, web):
    response = press(web, token, EARLY, "cancel")

    assert response.status_code == 200
    assert "tick the box" in response.content.decode()
    session.refresh_from_db()
    assert session.status == "scheduled"


def test_a_cancelled_session_offers_nothing_more(session, token, web):
    press(web, token, EARLY, "cancel", sure="yes")

    body = page(web, token, EARLY).content.decode()
    assert "10:00 AM EDT</strong> is cancelled." in body
    assert 'value="confirm"' not in body and 'value="cancel"' not in body
    assert press(web, token, EARLY, "confirm").status_code == 409


def test_a_group_client_cannot_cancel_everyones_session(
    practice, clinician, client_ann, client_bob, group_service, web
):
    group = book(practice, clinician, [client_ann, client_bob], group_service)
    with at(BOOKED_AT):
        token = manage_link_for(participant=group.participants.get(client=client_ann), now=BOOKED_AT)

    body = page(web, token, EARLY).content.decode()
    assert 'value="cancel"' not in body
    assert "This is a group session" in body
    assert press(web, token, EARLY, "cancel", sure="yes").status_code == 409
    group.refresh_from_db()
    assert group.status == "scheduled"


# --- After a no-show -------------------------------------------------------------------------------


def test_after_a_no_show_the_notice_link_offers_a_new_time_for_a_week(
    practice, session, web, django_capture_on_commit_callbacks
):
    with at(START + timedelta(minutes=15)), django_capture_on_commit_callbacks(execute=True):
        appointments_sweep_lifecycle()
    with at(session.ends_at):
        dispatch.dispatch_due()
    notice = locmem.outbox[-1]
    assert "we missed you" in notice.body
    token = re.search(r"https://attend\.example\.org/a/(\S+)", notice.body).group(1)

    body = page(web, token, session.ends_at + timedelta(days=6)).content.decode()
    assert "We missed you, Ann" in body and "Request a new time" in body
    assert 'value="confirm"' not in body and 'value="cancel"' not in body
    press(web, token, session.ends_at + timedelta(days=6), "reschedule")
    assert FollowUp.objects.filter(
        kind=FollowUpKind.RESCHEDULE_REQUESTED, detail__contains="after a no-show"
    ).exists()
    assert page(web, token, session.ends_at + timedelta(days=7, minutes=1)).status_code == 404


def test_the_policy_date_is_set_on_the_staff_client_form(practice, consenting_ann, manager, signed_in):
    http = signed_in(manager)
    form = {
        "first_name": "Ann",
        "last_name": "Avery",
        "phone": "+12125550101",
        "email": "ann@example.test",
        "preferred_channel": "sms",
        "status": "active",
        "sms_consent": "on",
        "consent_source": "verbal",
        "no_show_policy_accepted_on": "2026-05-01",
    }
    http.post(f"/clients/{consenting_ann.pk}/edit/", form)

    consenting_ann.refresh_from_db()
    assert str(consenting_ann.no_show_policy_accepted_on) == "2026-05-01"
    assert "Signed May 1, 2026" in http.get(f"/clients/{consenting_ann.pk}/").content.decode()
