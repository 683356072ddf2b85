"""The integration pages in a real browser: .ics import (upload, preview, confirm, with the file
carried through the form as the browser sends it) and registering a webhook endpoint."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from integrations.models import WebhookEndpoint
from scheduling.models import Appointment
from tests.conftest import verified_session

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, live_server, user) -> None:
    """Give the browser the session of a user who passed 2FA (as verified_session does)."""
    http = verified_session(user)
    host = urlsplit(live_server.url).hostname
    page.context.add_cookies(
        [{"name": "sessionid", "value": http.cookies["sessionid"].value, "domain": host, "path": "/"}]
    )


def test_importing_an_ics_file_with_preview_and_confirmation(
    page, live_server, screenshot, tmp_path, front_desk, clinician, client_ann, service_type
):
    start = (timezone.now() + timedelta(days=7)).replace(hour=15, minute=0, second=0, microsecond=0)
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    ics = tmp_path / "export.ics"
    ics.write_bytes(
        (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:browser-1\r\nDTSTAMP:{stamp}\r\nDTSTART:{stamp}\r\nDURATION:PT45M\r\n"
            "SUMMARY:A very long summary line that an exporting calendar folds onto a second line\r\n"
            " because it is longer than seventy-five octets\r\nEND:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:browser-2\r\nDTSTAMP:{stamp}\r\nDTSTART:{stamp}\r\n"
            "RRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        ).encode()
    )
    sign_in(page, live_server, front_desk)

    page.goto(live_server.url + "/calendar/import/")
    page.select_option("#id_clinician", str(clinician.pk))
    page.select_option("#id_service_type", str(service_type.pk))
    page.select_option("#id_client", str(client_ann.pk))
    page.set_input_files("#id_file", str(ics))
    page.get_by_role("button", name="Preview").click()

    page.get_by_text("Repeating events are not imported").wait_for()
    screenshot(page, "preview")
    assert not Appointment.objects.exists()
    page.get_by_role("button", name="Book 1 session").click()

    page.get_by_text("1 session booked.").wait_for()
    screenshot(page, "done")
    booked = Appointment.objects.get()
    assert booked.starts_at == start and booked.external_id == "ics:browser-1"
    assert page.problems == []


def test_registering_a_webhook_endpoint_shows_the_secret_once(page, live_server, screenshot, manager):
    sign_in(page, live_server, manager)

    page.goto(live_server.url + "/settings/webhooks/")
    page.fill("#id_url", "https://ehr.example.com/attend")
    page.get_by_label("Session no-show").check()
    page.get_by_role("button", name="Add endpoint").click()

    secret = page.locator("#secret").input_value()
    screenshot(page, "secret")
    assert secret == WebhookEndpoint.objects.get().secret
    page.get_by_role("link", name="Done").click()
    page.get_by_role("button", name="Send a test event").click()
    page.get_by_text("Test event").first.wait_for()
    screenshot(page, "endpoint")
    assert secret not in page.content()
    assert page.problems == []
