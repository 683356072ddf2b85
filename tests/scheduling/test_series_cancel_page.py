"""Cancelling from a session of a series offers "this session" or "this and following"; a
single session gets no such choice."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from scheduling.models import AppointmentStatus, Frequency
from scheduling.services import appointment_book, series_book

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def clock():
    with time_machine.travel(datetime(2026, 10, 1, 9, tzinfo=NEW_YORK), tick=False):
        yield


@pytest.fixture
def sessions(clock, practice, clinician, client_ann, service_type):
    series = series_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        first_starts_at=datetime(2026, 10, 19, 10, tzinfo=NEW_YORK),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=4,
        service_type=service_type,
    )
    return list(series.appointments.order_by("starts_at"))


def _statuses(rows):
    for row in rows:
        row.refresh_from_db()
    return [row.status for row in rows]


def test_this_and_following_cancels_the_rest_of_the_series(signed_in, front_desk, sessions):
    http = signed_in(front_desk)
    url = reverse("appointment_cancel", args=[sessions[1].pk])
    assert "This and following sessions" in http.get(url).content.decode()
    response = http.post(url, {"scope": "following", "by_client": "on", "reason": "moving away"})
    assert response.status_code == 302
    assert _statuses(sessions) == [AppointmentStatus.SCHEDULED] + [AppointmentStatus.CANCELLED] * 3
    assert all(row.cancelled_by_client and row.cancel_reason == "moving away" for row in sessions[1:])


def test_this_session_cancels_one(signed_in, front_desk, sessions):
    response = signed_in(front_desk).post(
        reverse("appointment_cancel", args=[sessions[1].pk]), {"scope": "this"}
    )
    assert response.status_code == 302
    assert _statuses(sessions).count(AppointmentStatus.CANCELLED) == 1


def test_a_single_session_has_no_choice(
    signed_in, front_desk, clock, practice, clinician, client_ann, service_type
):
    single = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=datetime(2026, 10, 20, 10, tzinfo=NEW_YORK),
        service_type=service_type,
    )
    http = signed_in(front_desk)
    url = reverse("appointment_cancel", args=[single.pk])
    assert "This and following" not in http.get(url).content.decode()
    # A "following" sent anyway is ignored: one session is cancelled.
    assert http.post(url, {"scope": "following"}).status_code == 302
    single.refresh_from_db()
    assert single.status == AppointmentStatus.CANCELLED
