"""GET /api/v1/clinicians/{id}/open-slots/: weekly hours minus time off minus booked sessions,
in the clinician's local time across the US daylight-saving nights (SPEC F4, F10)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.models import TimeOff, WeeklyHours
from scheduling.services import appointment_book
from tests.api.conftest import API, assert_error_shape

NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
SUNDAY, MONDAY = 6, 0


@pytest.fixture(autouse=True)
def _before_march_2026():
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def hours(clinician):
    WeeklyHours.objects.create(clinician=clinician, weekday=SUNDAY, starts_at=time(0), ends_at=time(6))
    WeeklyHours.objects.create(clinician=clinician, weekday=MONDAY, starts_at=time(9), ends_at=time(12))


def slots(api, clinician, start: str, end: str, minutes: int | None = 60) -> list[tuple[str, str]]:
    params = {"from": start, "to": end}
    if minutes:
        params["minutes"] = minutes
    response = api.get(f"{API}/clinicians/{clinician.pk}/open-slots/", params)
    assert response.status_code == 200, response.content
    return [(slot["starts_at"], slot["ends_at"]) for slot in response.json()["results"]]


def test_the_spring_forward_night_has_five_working_hours(api, clinician, hours):
    found = slots(api, clinician, "2026-03-08T00:00:00-05:00", "2026-03-08T12:00:00-04:00")

    # 00:00 EST is 05:00Z; 06:00 EDT is 10:00Z: five hours, not six.
    assert [start for start, _ in found] == [f"2026-03-08T{h:02d}:00:00Z" for h in range(5, 10)]


def test_the_fall_back_night_has_seven_working_hours(api, clinician, hours):
    with time_machine.travel(datetime(2026, 10, 25, tzinfo=UTC), tick=False):
        found = slots(api, clinician, "2026-11-01T00:00:00-04:00", "2026-11-01T12:00:00-05:00")

    # 00:00 EDT is 04:00Z; 06:00 EST is 11:00Z: seven hours.
    assert [start for start, _ in found] == [f"2026-11-01T{h:02d}:00:00Z" for h in range(4, 11)]


def test_monday_hours_keep_their_local_time_across_the_change(api, clinician, hours):
    before = slots(api, clinician, "2026-03-02T00:00:00-05:00", "2026-03-03T00:00:00-05:00", minutes=180)
    after = slots(api, clinician, "2026-03-09T00:00:00-04:00", "2026-03-10T00:00:00-04:00", minutes=180)

    assert before == [("2026-03-02T14:00:00Z", "2026-03-02T17:00:00Z")]  # 09:00 EST
    assert after == [("2026-03-09T13:00:00Z", "2026-03-09T16:00:00Z")]  # 09:00 EDT


def test_booked_sessions_and_time_off_are_not_open(api, practice, clinician, client_ann, service_type, hours):
    monday_9 = datetime(2026, 3, 2, 9, 0, tzinfo=NEW_YORK)
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,  # 45 minutes
        starts_at=monday_9,
    )
    TimeOff.objects.create(
        clinician=clinician, starts_at=monday_9 + timedelta(hours=2), ends_at=monday_9 + timedelta(hours=5)
    )

    found = slots(api, clinician, "2026-03-02T00:00:00-05:00", "2026-03-03T00:00:00-05:00", minutes=45)

    # Free from 09:45 (the session's end) to 11:00 (the time off): one 45-minute slot fits.
    assert found == [("2026-03-02T14:45:00Z", "2026-03-02T15:30:00Z")]


def test_slots_in_the_past_are_not_offered(api, clinician, hours):
    with time_machine.travel(datetime(2026, 3, 2, 10, 30, tzinfo=NEW_YORK), tick=False):
        found = slots(api, clinician, "2026-03-02T00:00:00-05:00", "2026-03-03T00:00:00-05:00")

    assert [start for start, _ in found] == ["2026-03-02T16:00:00Z"]  # 11:00; 09:00 and 10:00 are gone


def test_the_default_length_is_the_clinicians_session_length(api, clinician, hours):
    response = api.get(
        f"{API}/clinicians/{clinician.pk}/open-slots/",
        {"from": "2026-03-02T00:00:00-05:00", "to": "2026-03-03T00:00:00-05:00"},
    )

    body = response.json()
    assert (body["minutes"], body["timezone"]) == (45, "America/New_York")
    assert len(body["results"]) == 4  # 09:00, 09:45, 10:30, 11:15 in three hours


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-04-03T00:00:00Z"}, "to"),  # 32 days
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, "to"),
        ({"from": "2026-03-02T00:00:00", "to": "2026-03-03T00:00:00Z"}, "from"),  # no offset
        ({"from": "2026-03-02T00:00:00Z"}, "to"),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z", "minutes": 2}, "minutes"),
    ],
)
def test_bad_ranges_are_field_errors(api, clinician, params, field):
    response = api.get(f"{API}/clinicians/{clinician.pk}/open-slots/", params)

    assert field in assert_error_shape(response, 400)["errors"]


def test_another_practices_clinician_is_not_found(other_api, clinician, hours):
    response = other_api.get(
        f"{API}/clinicians/{clinician.pk}/open-slots/",
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"},
    )

    assert_error_shape(response, 404)
