"""The calendar grid's page, its JSON feed and the move a drag ends in: roles, tenancy, dates
parsed safely, a fixed number of queries, working hours and time off on the practice's clock
across DST, and every booking rule on a move."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from practice.models import ClinicianProfile, Role
from scheduling.models import Appointment, AppointmentStatus, Frequency, TimeOff, WeeklyHours
from scheduling.services import series_book
from tests.conftest import make_user
from tests.staff.board_helpers import session

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
EVENTS = reverse("calendar_events")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def clock():
    with time_machine.travel(ny(2026, 10, 26, 8, 0), tick=False):
        yield


@pytest.fixture
def ann_session(clock, practice, clinician, service_type, client_ann):
    return session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=ny(2026, 10, 28, 10, 0),
    )


@pytest.fixture
def jones_session(clock, practice, other_clinician, service_type, client_bob):
    return session(
        practice=practice,
        clinician=other_clinician,
        service_type=service_type,
        clients=[client_bob],
        starts_at=ny(2026, 10, 28, 11, 0),
    )


def _feed(http, start="2026-10-26", end="2026-11-02", **params):
    return http.get(EVENTS, {"start": start, "end": end, **params})


def _sessions(response) -> list[dict]:
    return [e for e in response.json()["events"] if e.get("display") != "background"]


def _move(http, appointment, **data):
    return http.post(reverse("calendar_move", args=[appointment.pk]), data)


# --- The page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "front_desk", "biller", "clinician_user"])
def test_every_staff_role_opens_the_calendar(request, signed_in, role, clinician, other_clinician):
    response = signed_in(request.getfixturevalue(role)).get(reverse("calendar_grid"))
    assert response.status_code == 200
    config = response.context["config"]
    names = [r["title"] for r in config["resources"]]
    if role == "clinician_user":
        assert names == ["Dr. Smith"]
    else:
        assert names == ["Dr. Jones", "Dr. Smith"]
    assert config["canEdit"] is (role != "biller")
    assert bool(config["bookUrl"]) is (role != "biller")
    # The calendar is in the navigation, next to the Schedule list.
    assert b'href="/calendar/"' in response.content and b'href="/appointments/"' in response.content


def test_the_page_carries_no_client_names_and_no_inline_script(signed_in, manager, ann_session, client_ann):
    response = signed_in(manager).get(reverse("calendar_grid"), {"date": "2026-10-28", "view": "day"})
    body = response.content.decode()
    assert client_ann.last_name not in body
    assert "<script>" not in body and "<style" not in body and " style=" not in body
    assert 'type="application/json"' in body  # settings for calendar.js, read from json_script


@pytest.mark.parametrize("query", ["", "view=day"])
def test_the_view_picker_says_which_view_is_shown(signed_in, manager, query):
    # The page opens on the week: the picker must not claim "Day" meanwhile.
    response = signed_in(manager).get(reverse("calendar_grid") + "?" + query)
    shown = "day" if query else "week"
    assert response.context["config"]["view"] == f"resourceTimeGrid{shown.title()}"
    assert f'<option value="{shown}" selected>' in response.content.decode()


@pytest.mark.parametrize("query", ["date=2026-02-30", "date=99999-01-01", "view=month", "clinician=abc"])
def test_bad_page_filters_fall_back_to_this_week(signed_in, manager, query):
    response = signed_in(manager).get(reverse("calendar_grid") + "?" + query)
    assert response.status_code == 200
    assert response.context["config"]["view"] == "resourceTimeGridWeek"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for url in (reverse("calendar_grid"), EVENTS):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


# --- The feed -------------------------------------------------------------------------------------


def test_the_feed_shows_sessions_on_the_practice_clock_with_status_and_names(
    signed_in, manager, ann_session, jones_session, client_ann
):
    events = _sessions(_feed(signed_in(manager)))
    by_id = {e["id"]: e for e in events}
    ann = by_id[str(ann_session.pk)]
    assert ann["start"] == "2026-10-28T10:00:00" and ann["end"] == "2026-10-28T10:45:00"
    assert ann["title"] == client_ann.full_name
    assert ann["resourceIds"] == [str(ann_session.clinician_id)]
    assert ann["extendedProps"]["statusLabel"] == "Scheduled"
    assert "att-status-scheduled" in ann["classNames"]
    assert ann["startEditable"] is True
    assert set(by_id) == {str(ann_session.pk), str(jones_session.pk)}


def test_a_clinician_gets_only_their_own_sessions(signed_in, clinician_user, ann_session, jones_session):
    http = signed_in(clinician_user)
    assert [e["id"] for e in _sessions(_feed(http))] == [str(ann_session.pk)]
    # Asking for another clinician's column is a bad request, not a peek.
    response = _feed(http, clinician=jones_session.clinician_id)
    assert response.status_code == 400


def test_a_biller_reads_everything_but_can_move_nothing(signed_in, biller, ann_session, jones_session):
    events = _sessions(_feed(signed_in(biller)))
    assert len(events) == 2
    assert all(e["startEditable"] is False and e["extendedProps"]["moveUrl"] == "" for e in events)


def test_the_clinician_filter_narrows_the_feed(signed_in, manager, ann_session, jones_session):
    events = _sessions(_feed(signed_in(manager), clinician=jones_session.clinician_id))
    assert [e["id"] for e in events] == [str(jones_session.pk)]


def test_another_practices_manager_sees_none_of_it(signed_in, other_manager, ann_session, clinician):
    http = signed_in(other_manager)
    assert _sessions(_feed(http)) == []
    assert _feed(http, clinician=clinician.pk).status_code == 400


def test_moved_sessions_show_once_at_their_new_time_and_ended_ones_cannot_move(
    signed_in, manager, ann_session
):
    ann_session.status = AppointmentStatus.RESCHEDULED
    ann_session.save()
    completed = session(
        practice=ann_session.practice,
        clinician=ann_session.clinician,
        service_type=ann_session.service_type,
        clients=[],
        starts_at=ny(2026, 10, 27, 9, 0),
        status=AppointmentStatus.COMPLETED,
    )
    events = _sessions(_feed(signed_in(manager)))
    assert [e["id"] for e in events] == [str(completed.pk)]
    assert events[0]["startEditable"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-10-26"}, "required"),
        ({"start": "yesterday", "end": "2026-11-02"}, "YYYY-MM-DD"),
        ({"start": "2026-02-30", "end": "2026-03-02"}, "not a date on the calendar"),
        ({"start": "9999-12-30", "end": "9999-12-31"}, "between"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "between"),
        ({"start": "99999999-01-01", "end": "99999999-01-02"}, "YYYY-MM-DD"),
        ({"start": "2026-11-02", "end": "2026-10-26"}, "after the start"),
        ({"start": "2026-01-01", "end": "2026-12-31"}, "at most 42 days"),
        ({"start": "2026-10-26", "end": "2026-11-02", "clinician": "1 OR 1=1"}, "valid choice"),
    ],
)
def test_bad_ranges_are_a_400_with_a_message(signed_in, manager, params, message):
    response = signed_in(manager).get(EVENTS, params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_the_feed_takes_the_same_number_of_queries_for_2_and_40_sessions(
    django_assert_num_queries,
    signed_in,
    manager,
    practice,
    clinician,
    other_clinician,
    service_type,
    client_ann,
    client_bob,
    clock,
):
    http = signed_in(manager)
    for profile in (clinician, other_clinician):
        WeeklyHours.objects.create(clinician=profile, weekday=0, starts_at=time(9), ends_at=time(17))
        TimeOff.objects.create(clinician=profile, starts_at=ny(2026, 10, 29, 9), ends_at=ny(2026, 10, 29, 12))

    def add(first: int, count: int) -> None:
        for index in range(first, first + count):
            session(
                practice=practice,
                clinician=(clinician, other_clinician)[index % 2],
                service_type=service_type,
                # One client per clinician: a client is never in two sessions at once.
                clients=[(client_ann, client_bob)[index % 2]],
                starts_at=ny(2026, 10, 26, 8, 0) + timedelta(hours=index // 2 * 3),
            )

    def measure() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert _feed(http).status_code == 200
        return len(queries)

    _feed(http)  # warm the session and membership caches alike for both measurements
    add(0, 2)
    small = measure()
    add(2, 38)
    assert len(_sessions(_feed(http))) == 40
    with django_assert_num_queries(small):
        assert _feed(http).status_code == 200


def test_working_hours_and_time_off_are_background_events_on_the_practice_clock_across_dst(
    signed_in, manager, practice, clinician
):
    WeeklyHours.objects.create(clinician=clinician, weekday=0, starts_at=time(9), ends_at=time(17))
    TimeOff.objects.create(
        clinician=clinician, starts_at=ny(2026, 11, 2, 12), ends_at=ny(2026, 11, 2, 14), note="Dentist"
    )
    response = _feed(signed_in(manager), start="2026-10-26", end="2026-11-03")
    background = [e for e in response.json()["events"] if e.get("display") == "background"]
    hours = [(e["start"], e["end"]) for e in background if "att-hours" in e["classNames"]]
    # 09:00-17:00 on both Mondays, either side of the November 1 change.
    assert hours == [
        ("2026-10-26T09:00:00", "2026-10-26T17:00:00"),
        ("2026-11-02T09:00:00", "2026-11-02T17:00:00"),
    ]
    time_off = [e for e in background if "att-time-off" in e["classNames"]]
    assert [(e["start"], e["end"], e["title"]) for e in time_off] == [
        ("2026-11-02T12:00:00", "2026-11-02T14:00:00", "Time off")
    ]
    assert "Dentist" not in response.content.decode()


def test_a_clinician_in_another_zone_has_hours_shown_on_the_practice_clock(signed_in, manager, clinician):
    clinician.timezone = "America/Los_Angeles"
    clinician.save()
    WeeklyHours.objects.create(clinician=clinician, weekday=2, starts_at=time(9), ends_at=time(12))
    response = _feed(signed_in(manager), start="2026-10-26", end="2026-11-02")
    hours = [(e["start"], e["end"]) for e in response.json()["events"] if e.get("display") == "background"]
    assert hours == [("2026-10-28T12:00:00", "2026-10-28T15:00:00")]


# --- Moving ---------------------------------------------------------------------------------------


def test_a_move_goes_through_the_reschedule_service(signed_in, front_desk, ann_session, other_clinician):
    response = _move(
        signed_in(front_desk), ann_session, start="2026-10-28T14:30", clinician=other_clinician.pk
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and "Wed Oct 28, 2:30 PM" in body["message"]
    ann_session.refresh_from_db()
    assert ann_session.status == AppointmentStatus.RESCHEDULED
    new = Appointment.objects.get(rescheduled_from=ann_session)
    assert new.starts_at == ny(2026, 10, 28, 14, 30)
    assert new.clinician == other_clinician and new.duration == ann_session.duration
    assert body["ids"] == [new.pk]


def test_a_move_into_a_clash_is_refused_with_the_reason(signed_in, front_desk, ann_session, jones_session):
    response = _move(
        signed_in(front_desk), ann_session, start="2026-10-28T11:15", clinician=jones_session.clinician_id
    )
    assert response.status_code == 400
    assert "already has a session" in response.json()["message"]
    ann_session.refresh_from_db()
    assert ann_session.status == AppointmentStatus.SCHEDULED


def test_a_move_into_the_past_is_refused(signed_in, front_desk, ann_session):
    response = _move(signed_in(front_desk), ann_session, start="2026-10-25T10:00")
    assert response.status_code == 400 and "past" in response.json()["message"]


def test_a_time_that_does_not_exist_is_refused(signed_in, front_desk, practice, clinician, service_type):
    with time_machine.travel(ny(2027, 3, 1, 8, 0), tick=False):
        booked = session(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            clients=[],
            starts_at=ny(2027, 3, 13, 10, 0),
        )
        response = _move(signed_in(front_desk), booked, start="2027-03-14T02:30")
    assert response.status_code == 400 and "does not exist" in response.json()["message"]


def test_a_move_across_the_november_change_keeps_the_wall_clock(signed_in, front_desk, ann_session):
    response = _move(signed_in(front_desk), ann_session, start="2026-11-02T10:00")
    assert response.status_code == 200
    new = Appointment.objects.get(rescheduled_from=ann_session)
    assert new.starts_at == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 10:00 EST


@pytest.mark.parametrize(
    "start", ["", "tomorrow", "2026-10-28 10:00 PM", "99999-01-01T10:00", "0001-01-01T00:00"]
)
def test_bad_times_are_a_400_never_a_500(signed_in, front_desk, ann_session, start):
    response = _move(signed_in(front_desk), ann_session, start=start)
    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_a_get_changes_nothing(signed_in, front_desk, ann_session):
    response = signed_in(front_desk).get(
        reverse("calendar_move", args=[ann_session.pk]), {"start": "2026-10-28T14:00"}
    )
    assert response.status_code == 405
    ann_session.refresh_from_db()
    assert ann_session.status == AppointmentStatus.SCHEDULED


def test_another_practices_session_is_a_404(signed_in, other_manager, ann_session):
    response = _move(signed_in(other_manager), ann_session, start="2026-10-28T14:00")
    assert response.status_code == 404


def test_a_clinician_moves_their_own_but_not_anothers(signed_in, clinician_user, ann_session, jones_session):
    http = signed_in(clinician_user)
    assert _move(http, jones_session, start="2026-10-28T15:00").status_code == 404
    # Nor to another clinician's calendar.
    response = _move(http, ann_session, start="2026-10-28T15:00", clinician=jones_session.clinician_id)
    assert response.status_code == 400
    assert _move(http, ann_session, start="2026-10-28T15:00").status_code == 200


def test_a_biller_cannot_move(signed_in, biller, ann_session):
    assert _move(signed_in(biller), ann_session, start="2026-10-28T14:00").status_code == 403


def test_this_and_following_moves_the_rest_of_the_series(
    signed_in, front_desk, clock, practice, clinician, client_ann, service_type
):
    series = series_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        first_starts_at=ny(2026, 10, 27, 10, 0),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=3,
        service_type=service_type,
    )
    first, second, _ = series.appointments.order_by("starts_at")
    http = signed_in(front_desk)
    response = _move(http, second, start="2026-11-03T13:00", scope="following")
    assert response.status_code == 200, response.content
    assert response.json()["message"].startswith("Moved 2 sessions")
    live = Appointment.objects.filter(series=series).exclude(status=AppointmentStatus.RESCHEDULED)
    assert sorted(a.starts_at.astimezone(NEW_YORK).strftime("%m-%d %H:%M") for a in live) == [
        "10-27 10:00",
        "11-03 13:00",
        "11-10 13:00",
    ]
    # "This session" moves one only.
    response = _move(http, first, start="2026-10-27T09:00", scope="this")
    assert response.json()["ids"] and len(response.json()["ids"]) == 1


def test_feed_rows_link_only_to_ids(signed_in, manager, ann_session, client_ann):
    event = _sessions(_feed(signed_in(manager)))[0]
    assert event["extendedProps"]["url"] == f"/appointments/{ann_session.pk}/"
    assert client_ann.last_name not in event["extendedProps"]["url"] + event["extendedProps"]["moveUrl"]


def test_an_inactive_clinician_has_no_column(signed_in, manager, practice):
    user = make_user(practice, Role.CLINICIAN, "gone@riverside.test", "Gone")
    ClinicianProfile.objects.create(practice=practice, user=user, display_name="Dr. Gone", is_active=False)
    response = signed_in(manager).get(reverse("calendar_grid"))
    assert "Dr. Gone" not in [r["title"] for r in response.context["config"]["resources"]]
