"""The one-tap join link /j/<token> in a real browser (SPEC F6/F7)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from practice.models import TelehealthProvider
from scheduling.services import appointment_book
from telehealth.models import JoinEvent, Meeting, MeetingState
from telehealth.services import join_link_for

pytestmark = pytest.mark.django_db(transaction=True)


def book(practice, clinician, client, service_type, starts_at):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client],
        starts_at=starts_at,
        service_type=service_type,
    )
    return appointment, appointment.participants.get()


def ready_meeting(appointment, join_url: str) -> Meeting:
    # Created directly: the booking may already have made one with the practice's provider.
    # A URLField is only validated by forms, so an http:// page of the live server is fine.
    meeting, _ = Meeting.objects.update_or_create(
        appointment=appointment,
        defaults={
            "practice": appointment.practice,
            "key": Meeting.new_key(),
            "provider": TelehealthProvider.MANUAL,
            "state": MeetingState.READY,
            "join_url": join_url,
            "host_url": join_url,
            "next_attempt_at": None,
        },
    )
    return meeting


def test_join_link_inside_the_window_opens_the_meeting(
    page, live_server, practice, clinician, client_ann, service_type, screenshot
):
    appointment, participant = book(
        practice, clinician, client_ann, service_type, timezone.now() + timedelta(minutes=5)
    )
    meeting_page = live_server.url + reverse("healthz") + "?meeting=1"
    ready_meeting(appointment, meeting_page)

    response = page.goto(live_server.url + reverse("join", args=[join_link_for(participant).token]))
    screenshot(page, "meeting")

    assert page.url == meeting_page
    assert response.ok and page.inner_text("body").strip() == "ok"
    event = JoinEvent.objects.get()
    assert event.participant == participant
    participant.refresh_from_db()
    assert participant.joined_at is not None


def test_join_link_too_early_explains_when_it_opens_and_offers_the_tech_check(
    page, live_server, practice, clinician, client_ann, service_type, tomorrow_10am, screenshot
):
    appointment, participant = book(practice, clinician, client_ann, service_type, tomorrow_10am)
    ready_meeting(appointment, live_server.url + reverse("healthz"))
    token = join_link_for(participant).token

    page.goto(live_server.url + reverse("join", args=[token]))
    screenshot(page, "too-early")

    assert page.get_by_role("heading", name="Hi Ann, it's a little early").is_visible()
    assert "10:00 AM" in page.inner_text("main")
    assert "This link opens at 9:45 AM" in page.inner_text("main")
    assert not JoinEvent.objects.exists()

    page.get_by_role("link", name="Test my camera and connection").click()
    page.get_by_role("button", name="Start the check").wait_for()
    assert page.url == live_server.url + reverse("tech_check", args=[token])
    assert page.problems == []
