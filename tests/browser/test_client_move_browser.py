"""A client moves their own session from a phone in three taps (issue 15): "Pick a new time", a
time, "Yes, move my session" — the move goes through appointment_reschedule."""

from __future__ import annotations

from datetime import time as clock
from datetime import timedelta

import pytest

from scheduling.models import Appointment, AppointmentStatus, WeeklyHours
from tests.browser.test_client_page_browser import MIN_TAP_TARGET, PHONE, phone, session_link  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_client_moves_their_session_in_three_taps_on_a_phone(
    phone,  # noqa: F811
    live_server,
    practice,
    clinician,
    client_ann,
    service_type,
    screenshot,
):
    for weekday in range(7):
        WeeklyHours.objects.create(
            clinician=clinician, weekday=weekday, starts_at=clock(7), ends_at=clock(21)
        )
    appointment, path = session_link(practice, clinician, client_ann, service_type, timedelta(days=3))

    phone.goto(live_server.url + path)
    phone.get_by_role("link", name="Pick a new time").tap()  # 1
    first_time = phone.locator(".move-slots a").first
    first_time.wait_for()
    assert first_time.bounding_box()["height"] >= MIN_TAP_TARGET
    screenshot(phone, "times")
    first_time.tap()  # 2
    phone.get_by_role("heading", name="Move your session?").wait_for()
    screenshot(phone, "confirm")
    phone.get_by_role("button", name="Yes, move my session").tap()  # 3
    phone.get_by_text("Done: your session is moved").wait_for()
    screenshot(phone, "moved")

    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULED
    moved = Appointment.objects.get(rescheduled_from=appointment)
    assert moved.status == AppointmentStatus.SCHEDULED and moved.starts_at != appointment.starts_at
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.problems == []
