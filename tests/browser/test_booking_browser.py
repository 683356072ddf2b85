"""A new client books from a phone (SPEC F4, issue 15): needs → a matched therapist → a time →
details → the e-mailed code → request sent, in a real browser on a phone-sized screen."""

from __future__ import annotations

import re
from datetime import time as clock

import pytest
from django.core import mail

from selfservice.models import BookingRequest
from tests.browser.test_client_page_browser import MIN_TAP_TARGET, PHONE, phone  # noqa: F401 (fixture)
from tests.selfservice.conftest import make_booking_practice

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_client_requests_a_matched_slot_from_a_phone(
    phone,  # noqa: F811
    live_server,
    practice,
    service_type,
    clinician,
    screenshot,
):
    make_booking_practice(practice, service_type, clinician, weekdays=range(7), hours=(clock(7), clock(21)))
    phone.goto(f"{live_server.url}/book/{practice.slug}/")
    screenshot(phone, "1-needs")
    phone.get_by_label("Anxiety").check()
    phone.get_by_label("Telehealth").check()
    phone.get_by_label("How will you pay?").select_option(label="Aetna")
    phone.get_by_label("Who are the sessions for?").select_option("adult")
    phone.get_by_label("Which state will you be in during sessions?").select_option("NY")
    phone.get_by_role("button", name="Show matching therapists").tap()

    phone.get_by_text("Works with anxiety").wait_for()
    screenshot(phone, "2-matches")
    phone.get_by_role("link", name=re.compile(r"See .*'s times")).tap()

    first_time = phone.locator(".book-times button").first
    first_time.wait_for()
    assert first_time.bounding_box()["height"] >= MIN_TAP_TARGET
    screenshot(phone, "3-times")
    first_time.tap()

    phone.get_by_label("First name").fill("Nora")
    phone.get_by_label("Last name").fill("Quinn")
    phone.get_by_label("E-mail", exact=True).fill("nora@example.org")
    phone.get_by_label("I have read and accept").check()
    screenshot(phone, "4-details")
    phone.get_by_role("button", name="Send me a code").tap()

    phone.get_by_text("Check your e-mail").first.wait_for()
    code = re.search(r"Your code is (\d{6})", mail.outbox[-1].body).group(1)
    phone.get_by_label("The 6-digit code we sent you").fill(code)
    phone.get_by_role("button", name="Send my request").tap()

    phone.get_by_role("heading", name="Request sent").wait_for()
    screenshot(phone, "5-sent")
    request = BookingRequest.objects.get()
    assert request.hold is not None and request.email == "nora@example.org"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.problems == []
