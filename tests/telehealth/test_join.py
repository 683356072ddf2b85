"""The one-tap join page /j/<token> and the clinician's host link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest
import time_machine
from django.urls import reverse

from practice.models import Modality, TelehealthProvider
from scheduling.models import AppointmentStatus, Attendance
from scheduling.services import appointment_book, appointment_cancel, appointment_reschedule
from telehealth.models import JoinEvent, JoinSource, Meeting, MeetingState
from telehealth.providers import fake
from telehealth.services import join_link_for

pytestmark = pytest.mark.django_db

BOOKED_AT = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 in New York
OPENS = STARTS - timedelta(minutes=15)
ENDS = STARTS + timedelta(minutes=45)
TINY = timedelta(microseconds=1)


@pytest.fixture(autouse=True)
def _clean_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def book(django_capture_on_commit_callbacks, practice, clinician, service_type):
    def _book(clients, *, starts_at=STARTS, service=None, booked_at=BOOKED_AT):
        with time_machine.travel(booked_at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return appointment_book(
                practice=practice,
                clinician=clinician,
                clients=clients,
                starts_at=starts_at,
                service_type=service or service_type,
                modality=Modality.TELEHEALTH,
                now=booked_at,
            )

    return _book


@pytest.fixture
def session(book, client_ann):
    return book([client_ann])


def link_of(appointment, client=None) -> str:
    participant = appointment.participants.get(**({"client": client} if client else {}))
    return reverse("join", args=[join_link_for(participant).token])


def open_at(client, url: str, moment: datetime):
    with time_machine.travel(moment, tick=False):
        return client.get(url)


# --- Inside the window ---------------------------------------------------------------------------


def test_inside_the_window_the_link_redirects_and_records_the_join(client, session):
    response = open_at(client, link_of(session), STARTS + timedelta(minutes=2))

    meeting = Meeting.objects.get(appointment=session)
    assert response.status_code == 302
    assert response["Location"] == meeting.join_url
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    [event] = JoinEvent.objects.filter(appointment=session)
    assert (event.source, event.occurred_at) == (JoinSource.LINK, STARTS + timedelta(minutes=2))
    participant = session.participants.get()
    assert participant.joined_at == STARTS + timedelta(minutes=2)
    assert participant.attendance == Attendance.ATTENDED
    session.refresh_from_db()
    assert session.status == AppointmentStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("moment", "opens"),
    [(OPENS - TINY, False), (OPENS, True), (ENDS - TINY, True), (ENDS, False)],
    ids=["just-before-opening", "at-opening", "just-before-the-end", "at-the-end"],
)
def test_the_window_edges_are_exact(client, session, moment, opens):
    response = open_at(client, link_of(session), moment)

    assert (response.status_code == 302) is opens
    assert JoinEvent.objects.filter(appointment=session).exists() is opens


def test_too_early_says_when_in_the_clients_time_and_offers_the_tech_check(client, session):
    url = link_of(session)

    response = open_at(client, url, OPENS - timedelta(hours=3))

    page = response.content.decode()
    assert response.status_code == 200
    assert "a little early" in page
    assert "Tuesday, November 24 at 10:00 AM EST" in page
    assert "opens at 9:45 AM EST" in page
    assert reverse("tech_check", args=[url.rsplit("/", 1)[1]]) in page
    assert "Avery" not in page  # first name only
    assert response["Referrer-Policy"] == "no-referrer"


def test_times_follow_the_clients_own_time_zone(client, session, client_ann):
    client_ann.timezone = "America/Los_Angeles"
    client_ann.save()

    page = open_at(client, link_of(session), OPENS - timedelta(hours=3)).content.decode()

    assert "7:00 AM PST" in page


def test_after_the_end_the_page_says_it_ended(client, session):
    response = open_at(client, link_of(session), ENDS + timedelta(hours=1))

    assert response.status_code == 200
    assert "This session has ended" in response.content.decode()


def test_a_cancelled_session_says_so_and_records_nothing(client, session, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=session, now=BOOKED_AT)

    response = open_at(client, link_of(session), STARTS)

    assert "This session was cancelled" in response.content.decode()
    assert not JoinEvent.objects.exists()
    assert session.participants.get().joined_at is None


def test_the_meeting_not_ready_yet_gives_a_retrying_page(client, session):
    Meeting.objects.filter(appointment=session).update(state=MeetingState.FAILED)

    response = open_at(client, link_of(session), STARTS)

    assert response.status_code == 503
    assert "getting your session ready" in response.content.decode()
    assert not JoinEvent.objects.exists()


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 32, "x" * 200])
def test_an_unknown_token_gives_the_invalid_link_page(client, session, token):
    response = client.get(reverse("join", args=[token]))

    assert response.status_code == 404
    assert "This link doesn't work" in response.content.decode()


def test_each_participant_has_their_own_unguessable_token(book, client_ann, client_bob, group_service):
    appointment = book([client_ann, client_bob], service=group_service)

    ann, bob = link_of(appointment, client_ann), link_of(appointment, client_bob)

    token = ann.rsplit("/", 1)[1]
    assert ann != bob
    assert len(token) == 32  # 192 bits, URL-safe base64
    # Only a hash is stored: a copy of the database does not hold working links.
    stored = appointment.participants.get(client=client_ann).join_link
    assert token not in (stored.token_hash, stored.nonce)


def test_in_a_group_each_join_marks_only_that_client(client, book, client_ann, client_bob, group_service):
    appointment = book([client_ann, client_bob], service=group_service)

    open_at(client, link_of(appointment, client_bob), STARTS)

    joined = {p.client_id: p.joined_at for p in appointment.participants.all()}
    assert joined == {client_ann.pk: None, client_bob.pk: STARTS}


# --- Reschedule, DST ---------------------------------------------------------------------------


def test_a_rescheduled_sessions_link_leads_to_the_new_session(
    client, session, django_capture_on_commit_callbacks
):
    url = link_of(session)
    new_start = STARTS + timedelta(days=2)
    with time_machine.travel(BOOKED_AT, tick=False), django_capture_on_commit_callbacks(execute=True):
        moved = appointment_reschedule(appointment=session, starts_at=new_start, now=BOOKED_AT)

    at_old_time = open_at(client, url, STARTS)
    at_new_time = open_at(client, url, new_start)

    assert "Thursday, November 26 at 10:00 AM EST" in at_old_time.content.decode()
    assert at_new_time.status_code == 302
    assert at_new_time["Location"] == Meeting.objects.get(appointment=moved).join_url
    [event] = JoinEvent.objects.all()
    assert event.appointment == moved
    assert moved.participants.get().joined_at == new_start


def test_the_window_is_right_on_the_night_the_clocks_go_back(client, book, client_ann):
    # 01:30 EST on 2026-11-01 is the second 01:30 of that night (06:30 UTC).
    new_york = ZoneInfo("America/New_York")
    starts = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=new_york)
    assert starts.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    appointment = book([client_ann], starts_at=starts, booked_at=datetime(2026, 10, 30, 12, 0, tzinfo=UTC))
    url = link_of(appointment)

    # The first 01:30 (EDT) is an hour before the session: too early despite the wall clock.
    first_half_past_one = datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=new_york)
    too_early = open_at(client, url, first_half_past_one)
    just_before = open_at(client, url, datetime(2026, 11, 1, 6, 15, tzinfo=UTC) - TINY)
    at_opening = open_at(client, url, datetime(2026, 11, 1, 6, 15, tzinfo=UTC))

    page = too_early.content.decode()
    assert "Sunday, November 1 at 1:30 AM EST" in page
    assert "opens at 1:15 AM EST" in page
    assert just_before.status_code == 200
    assert at_opening.status_code == 302


# --- Providers through the join page ------------------------------------------------------------


def test_a_jitsi_link_hands_the_client_a_non_moderator_token(client, settings, practice, book, client_ann):
    secret = "jitsi-test-secret-0123456789abcdef"
    settings.TELEHEALTH_PROVIDERS = {
        **settings.TELEHEALTH_PROVIDERS,
        "jitsi": {"base_url": "https://meet.riverside.test", "app_id": "attend", "app_secret": secret},
    }
    practice.telehealth_provider = TelehealthProvider.JITSI
    practice.save()
    appointment = book([client_ann])

    response = open_at(client, link_of(appointment), STARTS)

    target = urlsplit(response["Location"])
    claims = jwt.decode(
        parse_qs(target.query)["jwt"][0],
        secret,
        algorithms=["HS256"],
        audience="jitsi",
        options={"verify_exp": False, "verify_nbf": False},
    )
    assert target.path == "/" + claims["room"]
    assert claims["context"]["user"] == {"name": "Ann", "moderator": False, "affiliation": "member"}


# --- Host link ------------------------------------------------------------------------------


def test_the_clinician_gets_the_host_link(signed_in, clinician_user, session):
    response = signed_in(clinician_user).get(reverse("host_join", args=[session.pk]))

    assert response.status_code == 302
    assert response["Location"] == Meeting.objects.get(appointment=session).host_url
    assert JoinEvent.objects.get().source == JoinSource.HOST_LINK
    assert session.participants.get().joined_at is None  # the clinician is not a client


def test_another_practices_manager_gets_404_for_the_host_link(signed_in, other_manager, session):
    response = signed_in(other_manager).get(reverse("host_join", args=[session.pk]))

    assert response.status_code == 404
    assert not JoinEvent.objects.exists()


@pytest.mark.parametrize("persona", ["manager", "front_desk", "other_clinician"])
def test_nobody_but_the_sessions_clinician_gets_the_host_link(request, signed_in, session, persona):
    user = request.getfixturevalue(persona)
    user = getattr(user, "user", user)  # other_clinician is a profile

    response = signed_in(user).get(reverse("host_join", args=[session.pk]))

    assert response.status_code in (403, 404)
    assert "Location" not in response


def test_the_host_link_explains_when_the_meeting_is_not_ready(signed_in, clinician_user, session):
    Meeting.objects.filter(appointment=session).update(
        state=MeetingState.FAILED, last_error="Zoom answered 500"
    )

    response = signed_in(clinician_user).get(reverse("host_join", args=[session.pk]))

    assert response.status_code == 409
    assert "could not create" in response.content.decode()


# --- The fake provider's stand-in meeting page (development and the demo) --------------------------


def test_the_fake_providers_link_opens_a_local_stand_in_for_the_meeting(
    client, session, django_capture_on_commit_callbacks
):
    from scheduling.lifecycle import appointments_sweep_lifecycle

    response = open_at(client, link_of(session), STARTS + timedelta(minutes=2))
    target = urlsplit(response["Location"])
    assert target.path.startswith("/meeting/fake/")

    page = open_at(client, target.path, STARTS + timedelta(minutes=2))
    html = page.content.decode()
    assert page.status_code == 200
    assert "1 of 1 client joined: the session is in progress" in html
    assert "Ann" not in html  # whoever holds the link learns no client's name
    session.refresh_from_db()
    assert session.status == AppointmentStatus.IN_PROGRESS

    # Opening the page changes nothing (a GET), and the end of the session completes it.
    with (
        time_machine.travel(ENDS + timedelta(minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        appointments_sweep_lifecycle()
    page = open_at(client, target.path, ENDS + timedelta(minutes=2))
    assert "the session is completed" in page.content.decode()


def test_the_stand_in_page_of_a_cancelled_or_unknown_meeting_is_not_found(
    client, session, django_capture_on_commit_callbacks
):
    meeting = Meeting.objects.get(appointment=session)
    assert client.get(f"/meeting/fake/{'x' * 32}").status_code == 404
    with time_machine.travel(BOOKED_AT, tick=False), django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(appointment=session)
    meeting.refresh_from_db()
    assert client.get(f"/meeting/fake/{meeting.key}").status_code == 404
