"""Who may open the board and the clinician pages, what each sees, the refresh fragment, day
boundaries in the practice's zone (DST nights included) and query counts that stay flat."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from practice.models import ClinicianProfile, Role
from scheduling.models import Attendance
from tests.conftest import make_user
from tests.staff.board_helpers import message, ny, session, tech_check

pytestmark = pytest.mark.django_db

NOON = ny(2026, 6, 10, 12, 0)


@pytest.fixture
def today_sessions(practice, clinician, other_clinician, service_type, client_ann, client_bob):
    mine = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=ny(2026, 6, 10, 9, 0),
    )
    theirs = session(
        practice=practice,
        clinician=other_clinician,
        service_type=service_type,
        clients=[client_bob],
        starts_at=ny(2026, 6, 10, 15, 0),
    )
    return mine, theirs


@pytest.fixture(autouse=True)
def at_noon():
    with time_machine.travel(NOON, tick=False):
        yield


def shown(page) -> list[int]:
    return [row.appointment.pk for row in page.context["rows"]]


def test_a_late_client_has_the_one_tap_check_in_on_the_board_and_my_day(
    signed_in, manager, clinician_user, practice, clinician, service_type, client_ann
):
    late = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=NOON - timedelta(minutes=6),
    )
    check_in = reverse("appointment_check_in", args=[late.pk, late.participants.get().pk])

    for user, page_name in ((manager, "board"), (clinician_user, "my_day")):
        page = signed_in(user).get(reverse(page_name)).content.decode()
        assert "Late: not joined" in page
        assert f'action="{check_in}"' in page


def test_a_client_not_yet_late_has_no_check_in(
    signed_in, manager, practice, clinician, service_type, client_ann
):
    session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=NOON - timedelta(minutes=4),
    )

    assert "Are you OK to continue?" not in signed_in(manager).get(reverse("board")).content.decode()


# --- Roles --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_name", ["board", "board_live"])
def test_managers_and_front_desk_see_every_session_of_the_day(
    signed_in, manager, front_desk, today_sessions, page_name
):
    for user in (manager, front_desk):
        page = signed_in(user).get(reverse(page_name))
        assert page.status_code == 200
        assert shown(page) == [a.pk for a in today_sessions]


@pytest.mark.parametrize("page_name", ["board", "board_live"])
def test_clinicians_and_billers_have_no_board(signed_in, clinician_user, biller, today_sessions, page_name):
    assert signed_in(clinician_user).get(reverse(page_name)).status_code == 403
    assert signed_in(biller).get(reverse(page_name)).status_code == 403


def test_another_practices_manager_sees_none_of_it(signed_in, other_manager, today_sessions):
    page = signed_in(other_manager).get(reverse("board"))
    assert page.status_code == 200 and shown(page) == []
    assert "Ann" not in page.content.decode()


def test_without_2fa_the_board_sends_you_to_verify(client, manager, today_sessions):
    client.force_login(manager)
    response = client.get(reverse("board"))
    assert response.status_code == 302 and "/accounts/" in response["Location"]


def test_the_board_filters_by_clinician(signed_in, manager, today_sessions, other_clinician):
    page = signed_in(manager).get(reverse("board"), {"clinician": other_clinician.pk})
    assert shown(page) == [today_sessions[1].pk]
    # The refresh keeps the filter.
    assert f"clinician={other_clinician.pk}" in page.context["refresh_url"]


@pytest.mark.parametrize("page_name", ["my_day", "my_day_live", "my_week"])
def test_a_clinician_sees_only_their_own_sessions(
    signed_in, clinician_user, other_clinician, today_sessions, page_name
):
    page = signed_in(clinician_user).get(reverse(page_name))
    assert page.status_code == 200
    assert shown(page) == [today_sessions[0].pk]
    assert "Bob" not in page.content.decode()
    other = signed_in(other_clinician.user).get(reverse(page_name))
    assert shown(other) == [today_sessions[1].pk]


@pytest.mark.parametrize("page_name", ["my_day", "my_day_live", "my_week"])
def test_clinician_pages_are_for_clinicians(signed_in, manager, front_desk, biller, other_manager, page_name):
    for user in (manager, front_desk, biller, other_manager):
        assert signed_in(user).get(reverse(page_name)).status_code == 403


def test_a_clinician_without_a_profile_gets_an_empty_day_that_says_why(signed_in, practice, today_sessions):
    newcomer = make_user(practice, Role.CLINICIAN, "new@riverside.test", "New Person")
    page = signed_in(newcomer).get(reverse("my_day"))
    assert shown(page) == []
    assert "no clinician profile" in page.content.decode()


def test_home_takes_each_role_to_its_page(signed_in, manager, front_desk, clinician_user, biller):
    assert signed_in(manager).get("/")["Location"] == reverse("board")
    assert signed_in(front_desk).get("/")["Location"] == reverse("board")
    assert signed_in(clinician_user).get("/")["Location"] == reverse("my_day")
    assert signed_in(biller).get("/")["Location"] == reverse("appointment_list")


def test_my_week_groups_the_week_by_day_and_offers_the_host_link(
    signed_in, clinician_user, clinician, practice, service_type, client_ann, today_sessions
):
    from telehealth.models import Meeting

    thursday = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=ny(2026, 6, 11, 16, 0),
    )
    Meeting.objects.create(
        practice=practice, appointment=thursday, key=Meeting.new_key(), provider="fake", state="ready"
    )
    next_monday = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=ny(2026, 6, 15, 9, 0),
    )
    page = signed_in(clinician_user).get(reverse("my_week"))
    days = dict(page.context["days"])
    assert [d.isoformat() for d in days] == [f"2026-06-{day:02d}" for day in range(8, 15)]
    assert [row.appointment.pk for row in days[ny(2026, 6, 10).date()]] == [today_sessions[0].pk]
    assert [row.appointment.pk for row in days[ny(2026, 6, 11).date()]] == [thursday.pk]
    assert reverse("host_join", args=[thursday.pk]) in page.content.decode()
    following = signed_in(clinician_user).get(reverse("my_week"), {"date": "2026-06-15"})
    assert shown(following) == [next_monday.pk]


def test_my_day_lists_note_reminders_of_ended_sessions(signed_in, clinician_user, today_sessions):
    from messaging.models import OutboxMessage

    morning = today_sessions[0]
    participant = morning.participants.get()
    participant.attendance, participant.joined_at = Attendance.ATTENDED, morning.starts_at
    participant.save()
    OutboxMessage.objects.create(
        practice=morning.practice,
        appointment=morning,
        participant=participant,
        recipient_key="clinician",
        kind="note_reminder",
        channel="email",
        due_at=morning.ends_at + timedelta(minutes=10),
        state="delivered",
        sent_at=morning.ends_at + timedelta(minutes=10),
    )
    page = signed_in(clinician_user).get(reverse("my_day"))
    assert [row.appointment.pk for row in page.context["notes_due"]] == [morning.pk]
    assert "Notes to write" in page.content.decode()


# --- Refresh fragment --------------------------------------------------------------------------------


def test_the_refresh_endpoint_returns_the_fragment_only(signed_in, front_desk, today_sessions):
    http = signed_in(front_desk)
    page = http.get(reverse("board"))
    html = page.content.decode()
    assert 'data-refresh-url="/board/live/"' in html and 'aria-live="polite"' in html
    fragment = http.get(reverse("board_live"), HTTP_X_ATTEND_BACKGROUND="1")
    body = fragment.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in body and "<nav" not in body
    assert "data-summary=" in body and "Avery" in body
    # Actions in the fragment come back to the board, not to the fragment.
    assert 'name="next" value="/board/"' in body


def test_background_refreshes_do_not_keep_an_idle_session_alive(
    signed_in, front_desk, settings, today_sessions
):
    http = signed_in(front_desk)
    http.get(reverse("board"))
    with time_machine.travel(NOON + timedelta(minutes=settings.SESSION_IDLE_TIMEOUT_MINUTES - 1), tick=False):
        assert http.get(reverse("board_live"), HTTP_X_ATTEND_BACKGROUND="1").status_code == 200
    with time_machine.travel(NOON + timedelta(minutes=settings.SESSION_IDLE_TIMEOUT_MINUTES + 1), tick=False):
        response = http.get(reverse("board_live"), HTTP_X_ATTEND_BACKGROUND="1")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- Day boundaries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "inside", "outside"),
    [
        # 2026-11-01, clocks fall back at 02:00 EDT: a 25-hour day.
        (
            ny(2026, 11, 1, 12, 0),
            [
                ny(2026, 11, 1, 0, 0),
                ny(2026, 11, 1, 1, 30),
                ny(2026, 11, 1, 1, 30, fold=1),
                ny(2026, 11, 1, 23, 15),
            ],
            [ny(2026, 10, 31, 23, 15), ny(2026, 11, 2, 0, 0)],
        ),
        # 2026-03-08, clocks spring forward at 02:00 EST: a 23-hour day.
        (
            ny(2026, 3, 8, 12, 0),
            [ny(2026, 3, 8, 0, 0), ny(2026, 3, 8, 3, 0), ny(2026, 3, 8, 23, 15)],
            [ny(2026, 3, 7, 23, 15), ny(2026, 3, 9, 0, 0)],
        ),
    ],
)
def test_today_is_the_practice_days_wall_clock_across_dst(
    signed_in, front_desk, practice, clinician, service_type, client_ann, today, inside, outside
):
    # A list, not a dict: 01:30 EDT and 01:30 EST compare equal within one zone (fold is ignored).
    made = [
        session(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            clients=[client_ann],
            starts_at=when,
            minutes=15,
        ).pk
        for when in inside + outside
    ]
    with time_machine.travel(today, tick=False):
        page = signed_in(front_desk).get(reverse("board"))
    assert shown(page) == made[: len(inside)]


def test_a_practice_in_another_zone_has_its_own_today(signed_in, other_practice, other_manager):
    # 2026-06-10 12:00 in New York is 09:00 in Los Angeles: one calendar day, shifted.
    clinician = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. West")
    from decimal import Decimal

    from practice.models import Client
    from scheduling.models import ServiceType

    kind = ServiceType.objects.create(practice=other_practice, name="Therapy", default_fee=Decimal("0"))
    zed = Client.objects.create(practice=other_practice, first_name="Zed", last_name="Zimmer")
    late_evening = session(  # 23:00 in Los Angeles is already tomorrow in New York
        practice=other_practice,
        clinician=clinician,
        service_type=kind,
        clients=[zed],
        starts_at=ny(2026, 6, 11, 2, 0),
    )
    page = signed_in(other_manager).get(reverse("board"))
    assert shown(page) == [late_evening.pk]


# --- Query counts ------------------------------------------------------------------------------------

# Session, user, 2FA device, membership, audit actor, the page's own ~7 reads, the queue count and
# the dispatcher heartbeat of the navigation, and the session save: the same for 5 or 50 sessions.
MAX_QUERIES = 18


def _busy_day(practice, clinician, service_type, client_ann, client_bob, count):
    for index in range(count):
        appointment = session(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            clients=[client_ann, client_bob] if index % 3 == 0 else [client_ann],
            starts_at=ny(2026, 6, 10, 0, 0) + timedelta(minutes=20 * index),
            minutes=15,
        )
        for participant in appointment.participants.all():
            message(participant, "t24_sms", "delivered")
            message(participant, "t15_sms", "failed")
            tech_check(participant, passed=index % 2 == 0, problems=[] if index % 2 == 0 else ["slow_upload"])


@pytest.mark.parametrize("count", [5, 50])
@pytest.mark.parametrize("page_name", ["board", "board_live"])
def test_board_queries_do_not_grow_with_the_sessions(
    signed_in,
    front_desk,
    practice,
    clinician,
    service_type,
    client_ann,
    client_bob,
    django_assert_max_num_queries,
    count,
    page_name,
):
    _busy_day(practice, clinician, service_type, client_ann, client_bob, count)
    http = signed_in(front_desk)
    with django_assert_max_num_queries(MAX_QUERIES):
        page = http.get(reverse(page_name))
    assert len(page.context["rows"]) == count


@pytest.mark.parametrize("count", [5, 50])
def test_clinician_day_queries_do_not_grow_with_the_sessions(
    signed_in,
    clinician_user,
    practice,
    clinician,
    service_type,
    client_ann,
    client_bob,
    django_assert_max_num_queries,
    count,
):
    _busy_day(practice, clinician, service_type, client_ann, client_bob, count)
    http = signed_in(clinician_user)
    with django_assert_max_num_queries(MAX_QUERIES):
        page = http.get(reverse("my_day"))
    assert len(page.context["rows"]) == count
