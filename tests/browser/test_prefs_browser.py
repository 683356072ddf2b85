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

    # She chose Español: the page she comes back to speaks it (practice.client_language).
    assert "Sus preferencias quedaron guardadas" in page.get_by_role("status").inner_text()
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


def test_a_client_answers_the_survey_and_asks_for_the_next_session(
    page, live_server, practice, clinician, ann, service_type, screenshot
):
    from datetime import timedelta

    import time_machine

    from messaging.after_session import after_session_link_for
    from messaging.models import SurveyResponse
    from scheduling.models import FollowUp

    starts_at = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    with time_machine.travel(starts_at - timedelta(days=1)):  # booked the day before
        appointment = appointment_book(
            practice=practice,
            clinician=clinician,
            clients=[ann],
            starts_at=starts_at,
            service_type=service_type,
        )
    token = after_session_link_for(appointment.participants.get(), timezone.now())
    page.goto(f"{live_server.url}/s/{token}")
    screenshot(page, "page")

    # Tab reaches a radio group once; the arrow keys then move the choice along it.
    overall = page.get_by_role("group", name="How was your session overall?")
    tab_to(page, overall.get_by_label("1"))
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    assert overall.get_by_label("4").is_checked()
    joining = page.get_by_role("group", name="How easy was it to join?")
    tab_to(page, joining.get_by_label("1"))
    page.keyboard.press("Space")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert joining.get_by_label("5").is_checked()
    tab_to(page, page.get_by_label("Anything you'd like us to know? (optional)"))
    page.keyboard.type("The sound was clear.")
    tab_to(page, page.get_by_role("button", name="Send my answers"))
    page.keyboard.press("Enter")
    page.get_by_text("Thank you for your answers.").wait_for()

    tab_to(page, page.get_by_role("button", name="Book my next session"))
    page.keyboard.press("Enter")
    page.get_by_text("will contact you to book your next session").wait_for()
    screenshot(page, "done")

    answer = SurveyResponse.objects.get()
    assert (answer.session_rating, answer.joining_rating, answer.comment) == (4, 5, "The sound was clear.")
    assert FollowUp.objects.get().kind == "booking_requested"
    assert page.problems == []
