"""A manager invites a clinician from the team page; the clinician opens the e-mailed link, sets
a password and enrols an authenticator app, then lands on their day. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.oath import totp

from practice.models import Membership, Role, User
from tests.browser.test_board_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _code_for(secret: str) -> str:
    key = b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    return f"{totp(key):06d}"


def test_invite_set_password_and_enrol_two_step_sign_in(browser, live_server, manager, practice, screenshot):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, live_server.url, manager, reverse("team"))
    page.get_by_label("Name").fill("Nina Newcomer")
    page.get_by_label("E-mail").fill("nina@riverside.test")
    page.get_by_label("Role").select_option(Role.CLINICIAN)
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("Invitation sent to nina@riverside.test").wait_for()
    screenshot(page, "invited")
    context.close()

    link = re.search(r"https?://\S+?(/accounts/invite/\S+/)", mail.outbox[-1].body).group(1)
    newcomer = browser.new_context()
    page = newcomer.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}{link}")
    page.get_by_role("heading", name="Join Riverside Counseling").wait_for()
    page.locator("#id_password1").fill("a-long-good-passphrase")
    page.locator("#id_password2").fill("a-long-good-passphrase")
    screenshot(page, "set-password")
    page.get_by_role("button", name="Set password and continue").click()

    page.get_by_role("heading", name="Set up two-step sign-in").wait_for()
    secret = page.locator("code.secret").inner_text()
    screenshot(page, "enrol")
    page.get_by_label("Code").fill(_code_for(secret))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.get_by_text("I have saved them").click()
    page.wait_for_url(f"{live_server.url}{reverse('my_day')}*")
    screenshot(page, "my-day")
    assert problems == []
    user = User.objects.get(email="nina@riverside.test")
    assert Membership.objects.get(user=user, practice=practice).role == Role.CLINICIAN
    assert user.totpdevice_set.filter(confirmed=True).exists()
    newcomer.close()


def test_every_settings_page_renders_without_console_errors(
    page, live_server, manager, clinician, service_type, screenshot
):
    sign_in(page, live_server.url, manager, reverse("settings_hub"))
    for name, args in (
        ("settings_hub", []),
        ("practice_settings", []),
        ("service_list", []),
        ("service_edit", [service_type.pk]),
        ("availability_index", []),
        ("clinician_availability", [clinician.pk]),
        ("team", []),
        ("audit_log", []),
    ):
        page.goto(f"{live_server.url}{reverse(name, args=args)}")
        page.locator("h1").wait_for()
        screenshot(page, name)
    page.goto(f"{live_server.url}{reverse('clinician_availability', args=[clinician.pk])}")
    page.locator("#hours_weekday").select_option("1")
    page.locator("#hours_starts_at").fill("09:00")
    page.locator("#hours_ends_at").fill("08:00")
    page.get_by_role("button", name="Add hours").click()
    page.get_by_text("The hours must end after they start").wait_for()
    screenshot(page, "hours-error")
    # A form with errors answers 400 (the browser notes it); nothing else may complain.
    assert [p for p in page.problems if "status of 400" not in p] == []
