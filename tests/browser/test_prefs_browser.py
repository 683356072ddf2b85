"""The client's preference center and the clinician's reminder-settings page in a real browser:
keyboard only, every control found by its label, screenshots in test-artifacts/."""

from __future__ import annotations

from datetime import time

import pytest
from django.conf import settings
from django.utils import timezone

from messaging.models import ClientPreferences, Sequence, StepOverride
from messaging.preferences import preference_link_for
from messaging.services import sequence_for
from scheduling.services import appointment_book
from tests.conftest import verified_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ann(client_ann):
    client_ann.sms_consent_at = timezone.now()
    client_ann.sms_consent_source = "intake_form"
    client_ann.save()
    return client_ann


@pytest.fixture
def bilingual(practice):
    sequence_for(practice)
    Sequence.objects.filter(practice=practice).update(languages=["en", "es"])
    return practice


def tab_to(page, locator, limit: int = 40):
    """Press Tab until ``locator`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if locator.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError("never reached the control with the Tab key")


def test_a_client_changes_channel_quiet_hours_and_language_with_the_keyboard(
    page, live_server, bilingual, ann, screenshot
):
    token = preference_link_for(ann, timezone.now())
    page.goto(f"{live_server.url}/p/{token}")
    screenshot(page, "before")

    email_only = page.get_by_label("E-mail only, no texts")
    tab_to(page, page.get_by_label("Texts and e-mail"))
    page.keyboard.press("ArrowDown")  # radio groups move with the arrow keys
    assert email_only.is_checked()

    tab_to(page, page.get_by_label("Quiet from"))
    page.keyboard.type("0930P")
    tab_to(page, page.get_by_label("Quiet until"))
    page.keyboard.type("0700A")

    language = page.get_by_label("Language of your messages / Idioma de sus mensajes")
    tab_to(page, language)
    page.keyboard.press("ArrowDown")  # English -> Español
    assert language.input_value() == "es"
    screenshot(page, "filled")

    tab_to(page, page.get_by_role("button", name="Save my preferences"))
    page.keyboard.press("Enter")
    page.get_by_role("status").wait_for()
    screenshot(page, "saved")

    assert "Your preferences are saved" in page.get_by_role("status").inner_text()
    preferences = ClientPreferences.objects.get(client=ann)
    assert (preferences.quiet_start, preferences.quiet_end, preferences.language) == (
        time(21, 30),
        time(7, 0),
        "es",
    )
    ann.refresh_from_db()
    assert ann.preferred_channel == "email"
    assert page.problems == []


def _sign_in(context, live_server, user):
    http = verified_session(user)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": http.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


def test_a_clinician_switches_the_15_minute_text_off_for_one_session(
    browser, live_server, practice, clinician, clinician_user, ann, service_type, tomorrow_10am, screenshot
):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    context = browser.new_context()
    _sign_in(context, live_server, clinician_user)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/appointments/{appointment.pk}/")

    link = page.get_by_role("link", name="Reminder settings")
    tab_to(page, link)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Reminders for this session").wait_for()
    screenshot(page, "settings")

    t15 = page.get_by_label("15 minutes before (text)")
    tab_to(page, t15)
    page.keyboard.press("ArrowDown")  # "As usual: on" -> "Off for this session"
    assert t15.input_value() == "off"
    tab_to(page, page.get_by_role("button", name="Save reminder settings"))
    page.keyboard.press("Enter")
    page.get_by_text("Reminder settings saved (1 changed).").wait_for()

    override = StepOverride.objects.get()
    assert (override.appointment_id, override.enabled, override.set_by_name) == (
        appointment.pk,
        False,
        "Dr. Smith",
    )

    page.goto(f"{live_server.url}/appointments/{appointment.pk}/")
    page.get_by_text("Switched off by Dr. Smith for this session. It will not be sent.").wait_for()
    screenshot(page, "timeline")
    context.close()
