"""The self-service API: services, booking requests (list, approve, decline), matching attributes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.dateparse import parse_datetime

from practice.tokens import api_token_create
from selfservice.models import BookingRequestStatus
from selfservice.services import Person, booking_request_create
from tests.api.conftest import API, api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(practice):
    return api_client(api_token_create(practice=practice, name="EHR")[1])


@pytest.fixture
def other_api(other_practice):
    return api_client(api_token_create(practice=other_practice, name="Harbor")[1])


@pytest.fixture
def booking_request(booking_practice, clinician, service_type, frozen_now):
    return booking_request_create(
        practice=booking_practice,
        clinician=clinician,
        service_type=service_type,
        modality="telehealth",
        starts_at=(frozen_now + timedelta(days=2)).replace(minute=0),
        person=Person("Nora", "Quinn", "nora@example.org", "", "America/New_York", False),
        needs={"concern_ids": [], "state": "NY"},
        now=frozen_now,
    )


def test_service_types_are_listed(api, service_type):
    body = api.get(f"{API}/service-types/").json()
    assert body["count"] == 1 and body["results"][0]["default_minutes"] == 45


def test_booking_requests_list_filter_and_approve(api, booking_request, frozen_now):
    listed = api.get(f"{API}/booking-requests/", {"status": "pending"}).json()
    assert [row["id"] for row in listed["results"]] == [booking_request.pk]
    approved = api.post(f"{API}/booking-requests/{booking_request.pk}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["appointment"] is not None
    again = api.post(f"{API}/booking-requests/{booking_request.pk}/approve/")
    assert again.status_code == 400


def test_decline_needs_a_reason_and_frees_the_slot(api, booking_request, frozen_now):
    assert (
        api.post(f"{API}/booking-requests/{booking_request.pk}/decline/", {}, format="json").status_code
        == 400
    )
    declined = api.post(
        f"{API}/booking-requests/{booking_request.pk}/decline/", {"reason": "Not this week."}, format="json"
    )
    assert declined.status_code == 200 and declined.json()["status"] == BookingRequestStatus.DECLINED


def test_propose_moves_the_hold_and_approve_then_waits_for_the_person(api, booking_request, frozen_now):
    asked = booking_request.starts_at
    proposed = asked + timedelta(minutes=45)
    bad = api.post(
        f"{API}/booking-requests/{booking_request.pk}/propose/",
        {"starts_at": (asked.replace(hour=3)).isoformat()},
        format="json",
    )
    assert bad.status_code == 400 and "no longer open" in bad.content.decode()
    assert (
        api.post(f"{API}/booking-requests/{booking_request.pk}/propose/", {}, format="json").status_code
        == 400
    )
    answer = api.post(
        f"{API}/booking-requests/{booking_request.pk}/propose/",
        {"starts_at": proposed.isoformat()},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["status"] == "proposed"
    assert parse_datetime(body["starts_at"]) == proposed
    assert parse_datetime(body["requested_starts_at"]) == asked
    assert api.post(f"{API}/booking-requests/{booking_request.pk}/approve/").status_code == 400


def test_another_practice_gets_404_and_changes_nothing(other_api, booking_request, frozen_now):
    assert other_api.get(f"{API}/booking-requests/{booking_request.pk}/").status_code == 404
    assert other_api.post(f"{API}/booking-requests/{booking_request.pk}/approve/").status_code == 404
    assert other_api.post(f"{API}/booking-requests/{booking_request.pk}/propose/", {}).status_code == 404
    assert other_api.get(f"{API}/booking-requests/").json()["count"] == 0
    booking_request.refresh_from_db()
    assert booking_request.status == BookingRequestStatus.PENDING


def test_matching_attributes_of_a_clinician(api, booking_practice, clinician, other_clinician):
    body = api.get(f"{API}/clinicians/{clinician.pk}/matching/").json()
    assert body["concerns"] == ["Anxiety"] and body["states_licensed"] == ["NY", "NJ"]
    bare = api.get(f"{API}/clinicians/{other_clinician.pk}/matching/").json()
    assert bare["accepting_new_clients"] is False and bare["clinician"] == other_clinician.pk
