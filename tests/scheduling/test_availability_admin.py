"""Weekly hours and time off are edited in the operator console, scoped to the operator's
practices; the EHR webhook secret is never shown there."""

from __future__ import annotations

from datetime import time

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from practice.models import ClinicianProfile, Role
from scheduling.ehr import ehr_webhook_secret_rotate
from scheduling.models import EhrWebhookSecret, WeeklyHours
from tests.conftest import make_user


@pytest.fixture
def op(signed_in, practice):
    user = make_user(practice, Role.MANAGER, "opal@riverside.test", "Opal Operator")
    user.is_staff = True
    user.save()
    # The group practice/migrations/0010_operators_group.py makes.
    user.groups.add(Group.objects.get(name="Operators"))
    return signed_in(user)


def test_an_operator_adds_weekly_hours_for_their_clinician(op, clinician):
    response = op.post(
        reverse("admin:scheduling_weeklyhours_add"),
        {"clinician": clinician.pk, "weekday": 0, "starts_at": "09:00", "ends_at": "17:00"},
    )

    assert response.status_code == 302, response.content
    hours = WeeklyHours.objects.get()
    assert (hours.clinician, hours.starts_at, hours.ends_at) == (clinician, time(9), time(17))


def test_an_operator_cannot_pick_another_practices_clinician(op, other_practice):
    theirs = ClinicianProfile.objects.create(practice=other_practice, display_name="Dr. Harbor")

    response = op.post(
        reverse("admin:scheduling_weeklyhours_add"),
        {"clinician": theirs.pk, "weekday": 0, "starts_at": "09:00", "ends_at": "17:00"},
    )

    assert response.status_code == 200  # the form again, with an error
    assert not WeeklyHours.objects.exists()


def test_hours_ending_before_they_start_are_refused(op, clinician):
    op.post(
        reverse("admin:scheduling_weeklyhours_add"),
        {"clinician": clinician.pk, "weekday": 0, "starts_at": "17:00", "ends_at": "09:00"},
    )

    assert not WeeklyHours.objects.exists()


def test_the_webhook_secret_is_never_shown(op, practice):
    raw = ehr_webhook_secret_rotate(practice=practice)
    record = EhrWebhookSecret.objects.get()

    listing = op.get(reverse("admin:scheduling_ehrwebhooksecret_changelist"))
    page = op.get(reverse("admin:scheduling_ehrwebhooksecret_change", args=[record.pk]))

    assert listing.status_code == page.status_code == 200
    assert raw not in listing.content.decode() and raw not in page.content.decode()
