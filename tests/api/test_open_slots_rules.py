"""The API's open slots come from the one selector: service length, holds, audience rules."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.models import Hold, HoldKind, WeeklyHours
from tests.api.conftest import API

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_9AM = datetime(2026, 2, 2, 9, 0, tzinfo=NEW_YORK)
FRIDAY = datetime(2026, 1, 30, 12, 0, tzinfo=NEW_YORK)


def _hours(clinician):
    WeeklyHours.objects.create(clinician=clinician, weekday=0, starts_at=time(9), ends_at=time(12))


def _hold(practice, clinician, starts_at, expires_at, minutes=45):
    return Hold.objects.create(
        practice=practice,
        clinician=clinician,
        kind=HoldKind.BOOKING_REQUEST,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        expires_at=expires_at,
    )


@pytest.mark.django_db
def test_the_api_uses_the_service_length_the_holds_and_the_audience(api, practice, clinician, service_type):
    _hours(clinician)
    _hold(practice, clinician, MONDAY_9AM, expires_at=MONDAY_9AM)
    path = f"{API}/clinicians/{clinician.pk}/open-slots/"
    params = {"from": "2026-02-02T00:00:00-05:00", "to": "2026-02-03T00:00:00-05:00"}

    with time_machine.travel(FRIDAY, tick=False):
        staff = api.get(path, params | {"service_type": service_type.pk}).json()
    with time_machine.travel(MONDAY_9AM - timedelta(hours=1), tick=False):
        new_client = api.get(
            path, params | {"service_type": service_type.pk, "audience": "new_client"}
        ).json()

    assert staff["minutes"] == 45
    assert [s["starts_at"] for s in staff["results"]] == [
        "2026-02-02T14:45:00Z",
        "2026-02-02T15:30:00Z",
        "2026-02-02T16:15:00Z",
    ]
    assert new_client["results"] == []  # 24 hours' notice for a new client


def test_an_unknown_service_type_is_a_field_error(api, clinician):
    response = api.get(
        f"{API}/clinicians/{clinician.pk}/open-slots/",
        {"from": "2026-02-02T00:00:00-05:00", "to": "2026-02-03T00:00:00-05:00", "service_type": 999999},
    )
    assert response.status_code == 400
    assert "service_type" in response.content.decode()
