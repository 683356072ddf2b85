"""A practice that takes no new clients online (the self-service setting "new clients accepted"
off): the booking page says so up front, an existing client may still ask for a time, and someone
new learns it only after the code (so the page never tells whether an address is a client's),
with nothing held."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling.models import Hold
from selfservice.models import BookingRequest, OnlineBooking
from tests.selfservice.test_booking_page import _code_from_mail, _details
from tests.selfservice.test_instant_booking import _pick, _verify

pytestmark = pytest.mark.django_db

NOT_TAKING = "is not taking new clients online right now"


@pytest.fixture
def closed(booking_practice):
    OnlineBooking.objects.filter(practice=booking_practice).update(accepts_new_clients=False)
    return booking_practice


def test_the_first_page_says_so(client, closed, booking_practice):
    page = client.get(reverse("book_start", kwargs={"slug": closed.slug})).content.decode()
    assert NOT_TAKING in page


def test_the_first_page_is_silent_when_new_clients_are_welcome(client, booking_practice):
    page = client.get(reverse("book_start", kwargs={"slug": booking_practice.slug})).content.decode()
    assert NOT_TAKING not in page


def test_someone_new_is_told_after_the_code_and_nothing_is_held(client, closed, clinician, frozen_now):
    _pick(client, closed, clinician)
    _details(client, closed, email="new.person@example.org")
    answer = _verify(client, closed, _code_from_mail())
    assert not BookingRequest.objects.exists() and not Hold.objects.exists()
    page = client.get(answer.url).content.decode()
    assert NOT_TAKING in page


def test_an_existing_client_may_still_ask_for_a_time(client, closed, clinician, client_ann, frozen_now):
    _pick(client, closed, clinician)
    _details(client, closed, email=client_ann.email)
    _verify(client, closed, _code_from_mail())
    assert BookingRequest.objects.count() == 1 and Hold.objects.count() == 1
