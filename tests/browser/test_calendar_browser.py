"""The calendar grid in a real browser: book by clicking an empty slot, move a session by
dragging it and confirming, and a refused move snaps back with its reason. Screenshots go to
test-artifacts/."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus, Frequency, WeeklyHours
from scheduling.services import series_book
from tests.browser.test_board_browser import sign_in
from tests.staff.board_helpers import session

pytestmark = pytest.mark.django_db(transaction=True)

# Tall enough for the whole day grid, so every point is on screen without scrolling.
DESKTOP = {"width": 1280, "height": 1700}

# Where ``hour`` (practice clock) is in the ``column``-th column of the grid: from the first
# time label on the left and the slot height the grid uses (two 30-minute slots an hour).
POINT_JS = """([column, hour]) => {
  const columns = [...document.querySelectorAll('.ec-body .ec-grid .ec-day')];
  const box = columns[column].getBoundingClientRect();
  const first = document.querySelector('.ec-body .ec-sidebar time').getAttribute('datetime');
  const firstHour = parseInt(first.slice(11, 13), 10);
  const main = getComputedStyle(document.querySelector('.ec-main'));
  const slot = parseFloat(main.getPropertyValue('--ec-slot-height'));
  return {x: box.left + box.width / 2, y: box.top + (hour - firstHour) * 2 * slot + 4};
}"""


@pytest.fixture
def day(practice):
    """A Wednesday six to twelve days ahead, on the practice's clock."""
    ahead = timezone.localdate(timezone=practice.zoneinfo) + timedelta(days=7)
    return ahead - timedelta(days=ahead.weekday()) + timedelta(days=2)


@pytest.fixture
def hours(clinician, other_clinician):
    for profile in (clinician, other_clinician):
        for weekday in range(5):
            WeeklyHours.objects.create(
                clinician=profile, weekday=weekday, starts_at=time(9), ends_at=time(17)
            )


def _at(practice, day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=practice.zoneinfo)


def _open_day(page, live_server, user, day) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, user, reverse("appointment_list"))
    page.goto(f"{live_server.url}{reverse('calendar_grid')}?view=day&date={day.isoformat()}")
    page.locator(".ec-bg-event.att-hours").first.wait_for()


def _point(page, column: int, hour: float) -> dict:
    return page.evaluate(POINT_JS, [column, hour])


def _drag(page, event, target: dict) -> None:
    """Press on the event, move in small steps (as a hand does) and let go over ``target``."""
    box = event.bounding_box()
    start = {"x": box["x"] + box["width"] / 2, "y": box["y"] + 6}
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(start["x"], start["y"] + 10, steps=5)
    page.mouse.move(target["x"], target["y"] + 2, steps=20)
    page.mouse.up()


def test_a_click_on_an_empty_slot_opens_the_booking_form_there(
    page, live_server, front_desk, clinician, other_clinician, hours, day, screenshot
):
    _open_day(page, live_server, front_desk, day)
    # Columns are sorted by name: Dr. Jones, then Dr. Smith.
    assert page.locator(".ec-col-head").all_inner_texts() == ["Dr. Jones", "Dr. Smith"]
    screenshot(page, "day")
    target = _point(page, 0, 11)
    page.mouse.click(target["x"], target["y"])
    page.wait_for_url("**/appointments/new/**")
    # Opaque ids, a date and a time in the address; no name.
    assert "clinician=" in page.url and "Jones" not in page.url
    assert page.get_by_label("Clinician").input_value() == str(other_clinician.pk)
    assert page.get_by_label("Date").input_value() == day.isoformat()
    assert page.get_by_label("Starts at").input_value().startswith("11:00")
    screenshot(page, "booking-form")
    assert page.problems == []


def test_a_session_moves_by_dragging_after_the_confirmation(
    page,
    live_server,
    front_desk,
    practice,
    clinician,
    other_clinician,
    service_type,
    client_ann,
    hours,
    day,
    screenshot,
):
    booked = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=_at(practice, day, 10),
    )
    _open_day(page, live_server, front_desk, day)
    event = page.locator(".ec-event.att-event").filter(has_text="Ann Avery")
    event.wait_for()
    screenshot(page, "before")
    _drag(page, event, _point(page, 1, 14))
    dialog = page.locator("#calendar-confirm")
    dialog.wait_for()
    text = dialog.locator("#calendar-confirm-text").inner_text()
    assert text.startswith("Move ") and "10:00 AM to " in text and text.endswith("2:00 PM?"), text
    screenshot(page, "confirm")
    page.get_by_role("button", name="Move", exact=True).click()
    page.locator("#calendar-status").filter(has_text="Moved to").wait_for()
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.RESCHEDULED
    moved = Appointment.objects.get(rescheduled_from=booked)
    assert moved.starts_at == _at(practice, day, 14)
    assert moved.clinician == clinician and moved.duration == booked.duration
    page.locator(".ec-event.att-event").filter(has_text="2:00 PM").wait_for()
    screenshot(page, "after")
    assert page.problems == []


def test_a_refused_move_snaps_back_and_says_why(
    page,
    live_server,
    front_desk,
    practice,
    clinician,
    service_type,
    client_ann,
    client_bob,
    hours,
    day,
    screenshot,
):
    booked = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=_at(practice, day, 10),
    )
    session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_bob],
        starts_at=_at(practice, day, 14),
    )
    _open_day(page, live_server, front_desk, day)
    event = page.locator(".ec-event.att-event").filter(has_text="Ann Avery")
    event.wait_for()
    original = event.bounding_box()
    _drag(page, event, _point(page, 1, 14.25))
    page.locator("#calendar-confirm").wait_for()
    page.get_by_role("button", name="Move", exact=True).click()
    status = page.locator("#calendar-status.cal-status-problem")
    status.wait_for()
    assert "already has a session" in status.inner_text()
    page.wait_for_timeout(300)
    assert event.bounding_box()["y"] == pytest.approx(original["y"], abs=2)
    screenshot(page, "refused")
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.SCHEDULED
    assert not Appointment.objects.filter(rescheduled_from=booked).exists()


def test_keeping_a_session_where_it_was_changes_nothing(
    page, live_server, clinician_user, practice, clinician, service_type, client_ann, hours, day
):
    booked = session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=_at(practice, day, 10),
    )
    _open_day(page, live_server, clinician_user, day)
    # A clinician sees their own column only.
    assert page.locator(".ec-col-head").all_inner_texts() == ["Dr. Smith"]
    event = page.locator(".ec-event.att-event").filter(has_text="Ann Avery")
    _drag(page, event, _point(page, 0, 15))
    page.locator("#calendar-confirm").wait_for()
    page.get_by_role("button", name="Keep it where it was").click()
    page.locator("#calendar-status").filter(has_text="Not moved").wait_for()
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.SCHEDULED
    assert page.problems == []


def test_a_biller_reads_the_calendar_without_dragging_or_booking(
    page, live_server, biller, practice, clinician, service_type, client_ann, hours, day
):
    session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=_at(practice, day, 10),
    )
    _open_day(page, live_server, biller, day)
    event = page.locator(".ec-event.att-event").filter(has_text="Ann Avery")
    event.wait_for()
    assert "ec-draggable" not in (event.get_attribute("class") or "")
    target = _point(page, 0, 12)
    page.mouse.click(target["x"], target["y"])
    page.wait_for_timeout(500)
    assert "/calendar/" in page.url
    assert page.problems == []


def test_a_series_session_moves_with_the_rest_of_its_series_when_asked(
    page, live_server, front_desk, practice, clinician, client_ann, service_type, hours, day, screenshot
):
    series = series_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        first_starts_at=_at(practice, day, 10),
        duration=timedelta(minutes=45),
        frequency=Frequency.WEEKLY,
        occurrences=3,
        service_type=service_type,
    )
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, front_desk, reverse("appointment_list"))
    page.goto(
        f"{live_server.url}{reverse('calendar_grid')}?view=week&clinician={clinician.pk}&date={day.isoformat()}"
    )
    event = page.locator(".ec-event.att-event").filter(has_text="series")
    event.wait_for()
    screenshot(page, "week")
    # Wednesday is the third column of the week; Thursday the fourth.
    _drag(page, event, _point(page, 3, 13))
    page.locator("#calendar-confirm-scope").wait_for()
    page.get_by_label("This and following sessions").check()
    screenshot(page, "confirm")
    page.get_by_role("button", name="Move", exact=True).click()
    page.locator("#calendar-status").filter(has_text="Moved 3 sessions").wait_for()
    live = Appointment.objects.filter(series=series).exclude(status=AppointmentStatus.RESCHEDULED)
    assert sorted(a.starts_at for a in live) == [
        _at(practice, day + timedelta(days=1 + 7 * week), 13) for week in range(3)
    ]
    assert page.problems == []
