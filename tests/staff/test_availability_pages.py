"""Clinicians' weekly hours and time off: a clinician edits their own, managers anyone's; times
on the clinician's clock; field errors for hours that end first or overlap."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from scheduling.models import TimeOff, WeeklyHours

pytestmark = pytest.mark.django_db


def test_a_clinician_adds_and_removes_their_own_hours(signed_in, clinician_user, clinician):
    http = signed_in(clinician_user)
    index = http.get(reverse("availability_index"))
    assert index.status_code == 302 and index["Location"] == reverse(
        "clinician_availability", args=[clinician.pk]
    )
    added = http.post(
        reverse("weekly_hours_create", args=[clinician.pk]),
        {"weekday": "0", "starts_at": "09:00", "ends_at": "12:00"},
    )
    assert added.status_code == 302
    row = WeeklyHours.objects.get(clinician=clinician)
    assert (row.weekday, row.starts_at, row.ends_at) == (0, time(9), time(12))
    # Touching is fine, overlapping is not.
    assert (
        http.post(
            reverse("weekly_hours_create", args=[clinician.pk]),
            {"weekday": "0", "starts_at": "12:00", "ends_at": "17:00"},
        ).status_code
        == 302
    )
    overlap = http.post(
        reverse("weekly_hours_create", args=[clinician.pk]),
        {"weekday": "0", "starts_at": "11:00", "ends_at": "13:00"},
    )
    assert overlap.status_code == 400 and overlap.context["hours_form"].errors["starts_at"]
    backwards = http.post(
        reverse("weekly_hours_create", args=[clinician.pk]),
        {"weekday": "2", "starts_at": "17:00", "ends_at": "09:00"},
    )
    assert backwards.status_code == 400 and backwards.context["hours_form"].errors["ends_at"]
    junk = http.post(
        reverse("weekly_hours_create", args=[clinician.pk]), {"weekday": "9", "starts_at": "\x00"}
    )
    assert junk.status_code == 400 and {"weekday", "starts_at", "ends_at"} <= set(
        junk.context["hours_form"].errors
    )

    assert http.post(reverse("weekly_hours_delete", args=[clinician.pk, row.pk])).status_code == 302
    assert WeeklyHours.objects.filter(clinician=clinician).count() == 1


def test_time_off_is_read_on_the_clinicians_clock(signed_in, manager, clinician, practice):
    clinician.timezone = "America/Los_Angeles"
    clinician.save()
    http = signed_in(manager)
    response = http.post(
        reverse("time_off_create", args=[clinician.pk]),
        {"starts_at": "2027-03-01T09:00", "ends_at": "2027-03-05T17:00", "note": "Vacation"},
    )
    assert response.status_code == 302
    row = TimeOff.objects.get(clinician=clinician)
    assert row.starts_at == datetime(2027, 3, 1, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
    page = http.get(reverse("clinician_availability", args=[clinician.pk]))
    assert b"Mar 1, 2027 09:00" in page.content

    overlap = http.post(
        reverse("time_off_create", args=[clinician.pk]),
        {"starts_at": "2027-03-04T09:00", "ends_at": "2027-03-06T09:00"},
    )
    assert overlap.status_code == 400 and overlap.context["time_off_form"].errors["starts_at"]
    backwards = http.post(
        reverse("time_off_create", args=[clinician.pk]),
        {"starts_at": "2027-04-04T09:00", "ends_at": "2027-04-01T09:00"},
    )
    assert backwards.status_code == 400 and backwards.context["time_off_form"].errors["ends_at"]
    assert http.post(reverse("time_off_delete", args=[clinician.pk, row.pk])).status_code == 302
    assert not TimeOff.objects.exists()


def test_a_clinician_cannot_edit_a_colleagues_hours(signed_in, clinician_user, clinician, other_clinician):
    http = signed_in(clinician_user)
    assert http.get(reverse("clinician_availability", args=[other_clinician.pk])).status_code == 404
    response = http.post(
        reverse("weekly_hours_create", args=[other_clinician.pk]),
        {"weekday": "0", "starts_at": "09:00", "ends_at": "12:00"},
    )
    assert response.status_code == 404
    assert not WeeklyHours.objects.exists()


def test_front_desk_and_billers_do_not_edit_hours(signed_in, front_desk, biller, clinician):
    for user in (front_desk, biller):
        assert signed_in(user).get(reverse("clinician_availability", args=[clinician.pk])).status_code == 403


def test_another_practices_manager_gets_404_on_every_availability_route(signed_in, other_manager, clinician):
    hours = WeeklyHours.objects.create(clinician=clinician, weekday=1, starts_at=time(9), ends_at=time(17))
    off = TimeOff.objects.create(
        clinician=clinician,
        starts_at=datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")),
        ends_at=datetime(2027, 1, 2, tzinfo=ZoneInfo("UTC")),
    )
    http = signed_in(other_manager)
    assert http.get(reverse("clinician_availability", args=[clinician.pk])).status_code == 404
    for name, args in (
        ("weekly_hours_create", [clinician.pk]),
        ("weekly_hours_delete", [clinician.pk, hours.pk]),
        ("time_off_create", [clinician.pk]),
        ("time_off_delete", [clinician.pk, off.pk]),
    ):
        assert http.post(reverse(name, args=args), {}).status_code == 404, name
    assert WeeklyHours.objects.count() == 1 and TimeOff.objects.count() == 1
    assert b"Dr. Smith" not in http.get(reverse("availability_index")).content
