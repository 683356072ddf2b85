"""On a phone-sized screen, in a real browser (issue 15): a known client books instantly from
the booking page, and a person accepts the time the practice proposed instead of theirs."""

from __future__ import annotations

import re
from datetime import time as clock
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from scheduling.models import Appointment, Hold
from selfservice.models import BookingRequest, BookingRequestStatus, OnlineBooking
from selfservice.services import Person, booking_request_create, booking_request_propose, proposal_times
from tests.browser.test_client_page_browser import MIN_TAP_TARGET, PHONE, phone  # noqa: F401 (fixture)
from tests.selfservice.conftest import make_booking_practice

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_known_client_books_instantly_from_a_phone(
    phone,  # noqa: F811
    live_server,
    practice,
    service_type,
    clinician,
    client_ann,
    screenshot,
):
    make_booking_practice(practice, service_type, clinician, weekdays=range(7), hours=(clock(7), clock(21)))
    OnlineBooking.objects.filter(practice=practice).update(known_clients_book_instantly=True)
    phone.goto(f"{live_server.url}/book/{practice.slug}/")
    phone.get_by_label("Anxiety").check()
    phone.get_by_label("Telehealth").check()
    phone.get_by_label("Which state will you be in during sessions?").select_option("NY")
    phone.get_by_role("button", name="Show matching therapists").tap()
    phone.get_by_role("link", name=re.compile(r"See .*'s times")).tap()
    first_time = phone.locator(".book-times button").first
    first_time.wait_for()
    first_time.tap()

    phone.get_by_label("First name").fill("Ann")
    phone.get_by_label("Last name").fill("Avery")
    phone.get_by_label("E-mail", exact=True).fill("ann@example.test")
    phone.get_by_label("I have read and accept").check()
    assert phone.get_by_label("By e-mail").is_checked(), "the code goes by e-mail unless they choose text"
    screenshot(phone, "1-details")
    phone.get_by_role("button", name="Send me a code").tap()

    phone.get_by_role("heading", name="Check your e-mail").wait_for()
    screenshot(phone, "2-code")
    code = re.search(r"Your code is (\d{6})", mail.outbox[-1].body).group(1)
    phone.get_by_label("The 6-digit code we sent you").fill(code)
    phone.get_by_role("button", name="Send my request").tap()

    phone.get_by_role("heading", name="You're booked").wait_for()
    screenshot(phone, "3-booked")
    appointment = Appointment.objects.get()
    assert [p.client for p in appointment.participants.all()] == [client_ann]
    assert not BookingRequest.objects.exists() and not Hold.objects.exists()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.problems == []


def test_a_person_accepts_the_time_the_practice_proposed_from_a_phone(
    phone,  # noqa: F811
    live_server,
    practice,
    service_type,
    clinician,
    manager,
    screenshot,
):
    make_booking_practice(practice, service_type, clinician, weekdays=range(7), hours=(clock(7), clock(21)))
    now = timezone.now()
    request = BookingRequest(clinician=clinician, service_type=service_type, practice=practice)
    asked, other = proposal_times(request, now=now)[:2]
    request = booking_request_create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        modality="telehealth",
        starts_at=asked.starts_at,
        person=Person("Nora", "Quinn", "nora@example.org", "", "America/Los_Angeles", False),
        needs={"concern_ids": []},
        now=now,
    )
    request, token = booking_request_propose(request=request, starts_at=other.starts_at, by=manager, now=now)

    phone.goto(f"{live_server.url}/r/{token}")
    accept = phone.get_by_role("button", name="Accept this time")
    accept.wait_for()
    assert accept.bounding_box()["height"] >= MIN_TAP_TARGET
    assert phone.get_by_role("button", name="Decline").is_visible()
    screenshot(phone, "1-proposal")
    accept.tap()

    phone.get_by_role("heading", name="You're booked").wait_for()
    screenshot(phone, "2-booked")
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.APPROVED
    assert request.appointment.starts_at == other.starts_at
    assert request.appointment.starts_at - asked.starts_at != timedelta(0)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.problems == []
