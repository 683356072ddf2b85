"""No bytes make the administration pages fail: every form answers with field errors (400) or
a redirect, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from practice.models import Membership
from scheduling.models import WeeklyHours

pytestmark = pytest.mark.django_db

NASTY = [
    "\x00",
    "' OR 1=1 --",
    "9" * 400,
    "-1",
    "\uff11\uff12",
    "<script>",
    "\ud7ff",
    "2027-02-30T25:61",
    " ",
]


@pytest.fixture
def routes(manager, front_desk, clinician, service_type):
    from datetime import time

    member = Membership.objects.get(user=front_desk)
    hours = WeeklyHours.objects.create(clinician=clinician, weekday=0, starts_at=time(9), ends_at=time(10))
    return [
        (reverse("team"), ["full_name", "email", "role"]),
        (reverse("member_role", args=[member.pk]), ["role"]),
        (
            reverse("practice_settings"),
            ["name", "phone", "timezone", "business_hours_start", "no_show_fee", "languages"],
        ),
        (reverse("practice_credentials"), ["provider", "client_secret", "clear"]),
        (reverse("service_create"), ["name", "default_minutes", "default_fee", "is_group"]),
        (reverse("service_edit", args=[service_type.pk]), ["name", "default_minutes", "default_fee"]),
        (reverse("weekly_hours_create", args=[clinician.pk]), ["weekday", "starts_at", "ends_at"]),
        (reverse("time_off_create", args=[clinician.pk]), ["starts_at", "ends_at", "note"]),
        (reverse("weekly_hours_delete", args=[clinician.pk, hours.pk + 1000]), []),
    ]


def test_no_input_makes_a_server_error(signed_in, manager, routes):
    http = signed_in(manager)
    for url, fields in routes:
        for value in NASTY:
            response = http.post(url, {name: value for name in fields})
            assert response.status_code in (302, 400, 404), (url, value, response.status_code)
    for value in NASTY:
        for key in ("actor", "kind", "date_from", "date_to", "page"):
            assert http.get(reverse("audit_log"), {key: value}).status_code in (200, 400), (key, value)
    assert http.get("/accounts/invite/%00%ff/").status_code == 404
    assert http.get("/settings/hours/99999999999999999999/").status_code == 404
