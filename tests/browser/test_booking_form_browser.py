"""The booking form in a real browser: finding clients by typing, picking several without Ctrl,
and the field grid holding together when an error shows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from practice.models import Client
from scheduling.models import Appointment
from tests.browser.test_integrations_browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def many_clients(practice):
    names = ["Ava Thompson", "Benjamin Carter", "Chloe Nguyen", "Daniel Kim", "Elena García", "Farid Haddad"]
    names += [f"Client Number{i:02d}" for i in range(40)]
    return [
        Client.objects.create(practice=practice, first_name=n.split()[0], last_name=n.split()[1])
        for n in names
    ]


def test_clients_are_found_by_typing_and_picked_without_ctrl(
    page, live_server, screenshot, front_desk, clinician, group_service, many_clients
):
    sign_in(page, live_server, front_desk)
    page.goto(live_server.url + "/appointments/new/")
    search = page.get_by_role("searchbox", name="Search clients by name")

    search.fill("gar")  # accents do not matter: Elena García
    visible = page.locator("#id_clients label:visible")
    assert visible.count() == 1 and "Elena García" in visible.inner_text()
    search.press("Enter")  # the only one left is picked
    assert page.get_by_label("Elena García").is_checked()

    search.fill("chl")
    page.get_by_label("Chloe Nguyen").check()
    search.fill("")
    assert page.locator("#id_clients label:visible").count() == len(many_clients)
    assert page.locator(".picker-chosen").inner_text() == "Chosen: Elena García, Chloe Nguyen"
    screenshot(page, "picked")

    start = timezone.localtime(timezone.now() + timedelta(days=3), clinician.practice.zoneinfo)
    page.select_option("#id_clinician", str(clinician.pk))
    page.select_option("#id_service_type", str(group_service.pk))
    page.fill("#id_date", "")  # an error first: the grid holds
    page.get_by_role("button", name="Book").click()
    page.get_by_text("Please correct the highlighted fields below.").wait_for()
    date_field = page.locator(".field:has(#id_date)")
    assert date_field.locator("label").count() == 1 and date_field.locator(".errorlist").count() == 1
    time_field = page.locator(".field:has(#id_start_time)")
    assert date_field.bounding_box()["y"] == time_field.bounding_box()["y"]  # still one row
    screenshot(page, "error")

    page.fill("#id_date", start.strftime("%Y-%m-%d"))
    page.fill("#id_start_time", "10:00")
    page.get_by_role("button", name="Book").click()
    page.wait_for_url(re.compile(r".*/appointments/\d+/$"))
    booked = Appointment.objects.get()
    assert {c.first_name for c in booked.clients.all()} == {"Chloe", "Elena"}
    assert page.problems == []
