"""A manager changes a reminder step in a real browser (the segment counter follows the typing
and the server settles it), then opens the metrics page and the charts are drawn on their
canvases. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse

from messaging.services import sequence_for
from scheduling.models import Appointment, AppointmentParticipant
from tests.conftest import verified_session

pytestmark = pytest.mark.django_db(transaction=True)

# Whether any pixel of the canvas was painted (a blank canvas is all transparent).
CANVAS_PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""


def sign_in(page, live_server, user) -> None:
    """The browser gets the session of a user who passed 2FA (tests.conftest.verified_session)."""
    http = verified_session(user)
    cookie = http.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )


@pytest.fixture
def history(practice, clinician, service_type, client_ann, now_ny):
    """Three weeks of sessions, one in four a no-show, so the charts have something to draw."""
    start = (now_ny - timedelta(days=21)).replace(hour=9, minute=0, second=0, microsecond=0)
    for n in range(12):
        starts_at = start + timedelta(days=n // 2 * 3, hours=n % 2 * 2)
        no_show = n % 4 == 0
        appointment = Appointment.objects.create(
            practice=practice,
            clinician=clinician,
            service_type=service_type,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=45),
            status="no_show" if no_show else "completed",
            fee=Decimal("150.00"),
        )
        AppointmentParticipant.objects.create(
            appointment=appointment, client=client_ann, attendance="no_show" if no_show else "attended"
        )


@pytest.fixture
def now_ny(practice):
    from django.utils import timezone

    return timezone.now().astimezone(practice.zoneinfo)


def test_manager_edits_a_step_and_sees_the_metrics_charts(
    page, live_server, manager, practice, history, screenshot
):
    step = sequence_for(practice).steps.get(key="t15_sms")
    sign_in(page, live_server, manager)

    page.goto(live_server.url + reverse("step_edit", args=[step.pk]))
    counter = page.locator("#segment-counter")
    assert "1 SMS segment (GSM-7)" in counter.inner_text()
    body = page.locator("textarea[name=body]")
    body.fill(
        "{{ client_name }}, your session starts soon 🙂 " + "Please join on time. " * 6 + "{{ join_link }}"
    )
    page.locator("#segment-counter[data-settled=true]").wait_for()
    assert "(UCS-2)" in counter.inner_text() and "estimate" not in counter.inner_text()
    assert "keep it to 2" in page.locator("#preview-errors").inner_text()
    screenshot(page, "step-too-long")

    body.fill("Hi {{ client_name }}, {{ clinician_name }} is ready in 15 minutes. Join: {{ join_link }}")
    page.locator("#segment-counter[data-settled=true]").wait_for()
    assert "1 SMS segment (GSM-7)" in counter.inner_text()
    assert page.locator("#preview-body").inner_text().startswith("Hi Jordan, Dr. Smith is ready")
    page.locator("input[name=holdout_percent]").fill("10")
    screenshot(page, "step-edited")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**" + reverse("sequence_settings"))
    assert "was saved" in page.locator(".messages").inner_text()
    step.refresh_from_db()
    assert step.body.startswith("Hi {{ client_name }}") and step.holdout_percent == 10
    screenshot(page, "sequence-saved")

    page.get_by_role("link", name="Metrics").first.click()
    page.locator("html[data-charts-drawn='4']").wait_for(state="attached")
    for chart in ("chart-weekly", "chart-clinicians", "chart-utilization"):
        assert page.evaluate(CANVAS_PAINTED, chart), f"{chart} was not drawn"
    assert "25.0%" in page.locator(".metric-grid").inner_text()  # 3 no-shows of 12
    screenshot(page, "metrics")
    assert page.problems == []


def test_the_automatic_texts_page_counts_segments_as_the_manager_types(
    page, live_server, manager, practice, screenshot
):
    sign_in(page, live_server, manager)
    page.goto(live_server.url + reverse("auto_texts_settings"))
    stop_box = page.locator("textarea[name=reply_stop__en__body]")
    counter = stop_box.locator("xpath=following-sibling::p[contains(@class, 'segment-counter')]")
    assert "1 SMS segment (GSM-7); at most 2." in counter.inner_text()

    stop_box.fill("{{ practice_name }}: you will get no more texts from us, ¡adiós! " + "Bye now. " * 12)
    assert "3 SMS segments (UCS-2)" in counter.inner_text()
    assert "over" in counter.get_attribute("class")
    assert counter.evaluate("element => getComputedStyle(element).fontWeight") == "600", "marked"
    screenshot(page, "auto-texts-too-long")
    # The e-mail's boxes (the no-show notice) get no counter.
    assert page.locator("textarea:not([data-sms-max]) + p.segment-counter").count() == 0
    assert page.problems == []
