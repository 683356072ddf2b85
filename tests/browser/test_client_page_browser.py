"""The client's session page /a/<token> on a phone-sized screen in a real browser (SPEC F4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.client_actions import manage_link_for
from scheduling.models import ActivityKind, AppointmentActivity
from scheduling.services import appointment_book
from tests.browser.conftest import _counts

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
MIN_TAP_TARGET = 44  # CSS pixels (WCAG 2.5.5)


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if _counts(msg) else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    context.close()


def session_link(practice, clinician, client, service_type, starts_in: timedelta) -> tuple:
    now = timezone.now()
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client],
        starts_at=now + starts_in,
        service_type=service_type,
    )
    token = manage_link_for(participant=appointment.participants.get(), now=now)
    return appointment, reverse("client_manage", args=[token])


def test_confirm_with_one_tap_on_a_phone(
    phone, live_server, practice, clinician, client_ann, service_type, screenshot
):
    appointment, path = session_link(practice, clinician, client_ann, service_type, timedelta(days=3))

    phone.goto(live_server.url + path)
    screenshot(phone, "before")
    confirm = phone.get_by_role("button", name="Confirm I'll be there")
    box = confirm.bounding_box()
    assert box["height"] >= MIN_TAP_TARGET
    assert box["width"] <= PHONE["width"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    confirm.tap()

    phone.get_by_role("status").wait_for()
    screenshot(phone, "confirmed")
    assert "Thanks, your session is confirmed." in phone.get_by_role("status").inner_text()
    appointment.refresh_from_db()
    assert appointment.status == "confirmed"
    assert phone.problems == []


def test_a_late_cancellation_is_announced_and_needs_the_tick_box(
    phone, live_server, practice, clinician, client_ann, service_type, screenshot
):
    appointment, path = session_link(practice, clinician, client_ann, service_type, timedelta(hours=5))

    phone.goto(live_server.url + path)
    assert "This would be a late cancellation." in phone.locator("#cancel-policy").inner_text()
    phone.get_by_role("button", name="Cancel my session").tap()
    assert "tick the box" in phone.get_by_role("alert").inner_text()

    phone.get_by_label("Yes, I want to cancel this session").check()
    phone.get_by_role("button", name="Cancel my session").tap()
    phone.get_by_role("status").wait_for()
    screenshot(phone, "cancelled")

    appointment.refresh_from_db()
    assert (appointment.status, appointment.is_late_cancel, appointment.cancelled_by_client) == (
        "cancelled",
        True,
        True,
    )
    assert AppointmentActivity.objects.get().kind == ActivityKind.CANCELLED
    assert phone.problems == []
