"""The tech-check page in a real browser (SPEC F8), with Chromium's fake camera and microphone."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling.models import FollowUp, FollowUpKind
from scheduling.services import appointment_book
from telehealth.models import TechCheckResult
from telehealth.services import join_link_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def participant(practice, clinician, client_ann, service_type, tomorrow_10am):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    return appointment.participants.get()


@pytest.fixture
def check_url(live_server, participant) -> str:
    return live_server.url + reverse("tech_check", args=[join_link_for(participant).token])


def wait_for_camera_picture(page, seconds: float = 10):
    # Polled from Python: page.wait_for_function evaluates a string, which the page's CSP
    # (script-src 'self', no unsafe-eval) rightly blocks.
    video = page.locator("#tc-video")
    for _ in range(int(seconds * 10)):
        if video.evaluate("v => v.videoWidth") > 0:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the camera preview never showed a picture")


def run_check(page):
    page.get_by_role("button", name="Start the check").click()
    page.locator("#tc-result").wait_for(state="visible", timeout=30_000)


def test_check_passes_with_camera_and_microphone(page, check_url, participant, screenshot):
    page.goto(check_url)
    screenshot(page, "start")
    page.get_by_role("button", name="Start the check").click()
    # The live preview shows the (fake) camera picture while the connection is tested.
    wait_for_camera_picture(page)
    screenshot(page, "preview")
    page.locator("#tc-result").wait_for(state="visible", timeout=30_000)
    screenshot(page, "result")

    assert page.locator("#tc-result-title").inner_text() == "You're all set for your session."
    for step in ("browser", "camera", "microphone", "network"):
        assert page.locator(f"#tc-step-{step}").get_attribute("data-state") == "ok"
    assert page.locator("#tc-help").is_hidden()
    result = TechCheckResult.objects.get()
    assert result.participant == participant
    assert result.passed and result.camera_ok and result.microphone_ok and result.network_ok
    assert result.details["rtt_ms"] is not None and result.details["upload_mbps"] > 0
    assert not FollowUp.objects.exists()
    # No CSP violations or script errors on the way.
    assert page.problems == []


def test_blocked_permission_is_reported_with_the_fix_and_the_practice_phone(
    page_without_media_permission, check_url, participant, practice, screenshot
):
    page = page_without_media_permission
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(check_url)
    run_check(page)
    screenshot(page, "result")

    assert page.locator("#tc-result-title").inner_text() == "Some things need fixing before your session."
    assert page.locator("#tc-step-camera").get_attribute("data-state") == "fail"
    assert page.locator("#tc-step-microphone").get_attribute("data-state") == "fail"
    problems = page.locator("#tc-problems").inner_text()
    assert "Your browser is blocking the camera." in problems
    assert "Your browser is blocking the microphone." in problems
    # Both need the same fix: it is shown once.
    assert problems.count("choose Allow for the camera and the microphone") == 1
    help_box = page.locator("#tc-help")
    assert help_box.is_visible()
    assert practice.phone.as_national in help_box.inner_text()

    result = TechCheckResult.objects.get()
    assert not result.passed and not result.camera_ok and not result.microphone_ok
    assert result.network_ok and result.browser_ok
    assert result.problems == ["camera_blocked", "microphone_blocked"]
    follow_up = FollowUp.objects.get()
    assert follow_up.kind == FollowUpKind.TECH_CHECK_FAILED and follow_up.participant == participant
    assert page.problems == []


def test_the_result_is_announced_and_takes_focus(page, check_url):
    page.goto(check_url)
    run_check(page)
    assert page.locator("#tc-progress").get_attribute("aria-live") == "polite"
    assert page.locator("#tc-progress").inner_text() == "Check finished: everything works."
    assert page.evaluate("document.activeElement.id") == "tc-result"


def test_start_button_works_from_the_keyboard(page, check_url):
    page.goto(check_url)
    page.get_by_role("button", name="Start the check").focus()
    page.keyboard.press("Enter")
    page.locator("#tc-result").wait_for(state="visible", timeout=30_000)
    assert TechCheckResult.objects.count() == 1


def test_unknown_token_shows_the_invalid_link_page(page, live_server, screenshot):
    response = page.goto(live_server.url + reverse("tech_check", args=["no-such-token"]))
    screenshot(page, "invalid")
    assert response.status == 404
    assert page.get_by_role("heading", name="This link doesn't work").is_visible()
