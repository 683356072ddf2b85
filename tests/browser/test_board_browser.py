"""The today board, the clinician's day and the queue in a real browser: sign in with 2FA, watch
the board refresh itself, act on a queue item. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from scheduling.models import FollowUp, FollowUpKind
from scheduling.services import follow_up_raise, participant_record_join
from tests.staff.board_helpers import session, tech_check

pytestmark = pytest.mark.django_db(transaction=True)

TABLET = {"width": 820, "height": 1180}


def sign_in(page, base_url: str, user, next_path: str) -> None:
    """Password, then the authenticator code, exactly as a person does."""
    device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    page.goto(f"{base_url}{reverse('login')}?next={next_path}")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(
        f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    )
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base_url}{next_path}*")


@pytest.fixture
def fast_refresh(settings):
    settings.BOARD_REFRESH_SECONDS = 1


@pytest.fixture
def started_session(practice, clinician, service_type, client_ann, client_bob):
    """A group session that started a few minutes ago (kept inside today's local date)."""
    tz = practice.zoneinfo
    now = timezone.now()
    midnight = datetime.combine(timezone.localdate(now, timezone=tz), time.min, tzinfo=tz)
    starts_at = max(now - timedelta(minutes=8), midnight)
    return session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann, client_bob],
        starts_at=starts_at,
    )


def test_the_board_refreshes_itself_when_a_client_joins(
    page, live_server, front_desk, started_session, client_ann, fast_refresh, screenshot
):
    page.set_viewport_size(TABLET)
    sign_in(page, live_server.url, front_desk, reverse("board"))
    ann = started_session.participants.get(client=client_ann)
    card = page.locator(f"li.participant:has-text('{client_ann.full_name}')")
    assert card.locator("[data-status=presence]").inner_text() in ("Not joined yet", "Late: not joined")
    screenshot(page, "before")
    page.evaluate("() => { window.attendNoReload = true; }")

    participant_record_join(participant=ann)
    tech_check(
        started_session.participants.exclude(pk=ann.pk).get(), passed=False, problems=["camera_blocked"]
    )

    card.locator("[data-status=presence]").filter(has_text="Joined").wait_for(timeout=10_000)
    page.get_by_text("Camera blocked by the browser").wait_for(timeout=10_000)
    screenshot(page, "after")
    # The region was refreshed in place: the page itself never reloaded.
    assert page.evaluate("() => window.attendNoReload") is True
    assert "joined" in page.locator("#board-status").inner_text()
    assert page.problems == []


def test_a_queue_item_is_resolved_with_a_note(
    page, live_server, front_desk, started_session, client_bob, screenshot
):
    page.set_viewport_size(TABLET)
    bob = started_session.participants.get(client=client_bob)
    item = follow_up_raise(
        appointment=started_session,
        participant=bob,
        kind=FollowUpKind.TECH_CHECK_FAILED,
        detail="Problems: microphone_blocked",
    )
    sign_in(page, live_server.url, front_desk, reverse("follow_up_list"))
    page.get_by_role("link", name="Tech check failed 1").click()
    page.get_by_text("Microphone blocked by the browser").wait_for()
    screenshot(page, "queue")

    page.get_by_label("What was done").fill("Called Bob; allowed the microphone in Chrome")
    page.get_by_role("button", name="Mark handled").click()
    page.get_by_text("Marked as handled").wait_for()
    screenshot(page, "resolved")

    item.refresh_from_db()
    assert item.resolved_by == front_desk
    assert item.resolution_note == "Called Bob; allowed the microphone in Chrome"
    assert "kind=tech_check_failed" in page.url
    assert page.get_by_text("Nothing here").is_visible()
    assert not FollowUp.objects.open().exists()
    assert page.problems == []


def test_a_clinician_sees_their_day_on_a_phone(
    page, live_server, clinician_user, started_session, screenshot
):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url, clinician_user, reverse("my_day"))
    assert page.get_by_role("heading", name="My day").count() == 1 or page.locator(
        "h1"
    ).inner_text().startswith("My day")
    page.locator("li.participant").first.wait_for()
    screenshot(page, "my-day")
    # The page title names no client.
    assert "Avery" not in page.title() and "Baker" not in page.title()
    assert page.problems == []
