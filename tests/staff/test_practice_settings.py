"""Practice settings, telehealth credentials (write-only) and services, for owners and managers."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from messaging.models import Sequence
from messaging.sequences import sequence_for
from practice.credentials import practice_credentials, provider_overrides
from practice.models import Practice
from scheduling.models import ServiceType

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Riverside Counseling Group",
    "phone": "(212) 555-0199",
    "email": "desk@riverside.test",
    "address": "1 River Rd",
    "timezone": "America/Chicago",
    "business_hours_start": "07:30",
    "business_hours_end": "18:00",
    "late_cancel_window_hours": "48",
    "no_show_grace_minutes": "10",
    "no_show_fee": "75.00",
    "telehealth_provider": "zoom",
    "join_opens_minutes_before": "10",
    "sms_from_number": "(212) 555-0142",
    "email_sender_name": "Riverside",
    "languages": ["en", "es"],
}


def test_a_manager_changes_the_practice_settings(signed_in, manager, practice):
    http = signed_in(manager)
    assert http.get(reverse("practice_settings")).status_code == 200
    assert not Sequence.objects.filter(practice=practice).exists()  # the GET made nothing

    response = http.post(reverse("practice_settings"), VALID)

    assert response.status_code == 302
    practice.refresh_from_db()
    assert practice.name == "Riverside Counseling Group"
    assert practice.timezone == "America/Chicago"
    assert practice.business_hours_start == time(7, 30)
    assert practice.late_cancel_window_hours == 48
    assert practice.no_show_fee == Decimal("75.00")
    assert practice.sms_from_number.as_e164 == "+12125550142"
    assert practice.telehealth_provider == "zoom"
    assert sequence_for(practice).languages == ["en", "es"]
    entry = LogEntry.objects.get_for_object(practice).latest("timestamp")
    assert entry.actor == manager and "timezone" in entry.changes_dict


def test_settings_errors_are_beside_their_fields(signed_in, manager, practice):
    bad = {
        **VALID,
        "timezone": "Mars/Olympus",
        "business_hours_end": "06:00",
        "no_show_fee": "-1",
        "phone": "12",
        "languages": ["xx"],
        "late_cancel_window_hours": "\x00",
    }
    response = signed_in(manager).post(reverse("practice_settings"), bad)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"timezone", "no_show_fee", "phone", "languages", "late_cancel_window_hours"} <= set(errors)
    practice.refresh_from_db()
    assert practice.name == "Riverside Counseling"


def test_business_hours_must_end_after_they_start(signed_in, manager, practice):
    response = signed_in(manager).post(
        reverse("practice_settings"),
        {**VALID, "business_hours_start": "18:00", "business_hours_end": "09:00"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["business_hours_end"]


def test_credentials_are_write_only_and_blank_keeps_them(signed_in, manager, practice):
    http = signed_in(manager)
    saved = http.post(
        reverse("practice_credentials"),
        {"provider": "zoom", "account_id": "acc-1", "client_id": "cid-1", "client_secret": "s3cr3t-value"},
    )
    assert saved.status_code == 302
    practice.refresh_from_db()
    assert "s3cr3t-value" not in practice.telehealth_credentials  # encrypted at rest
    assert provider_overrides(practice, "zoom") == {
        "account_id": "acc-1",
        "client_id": "cid-1",
        "client_secret": "s3cr3t-value",
    }
    page = http.get(reverse("practice_settings"))
    assert b"s3cr3t-value" not in page.content and b"acc-1" not in page.content
    assert b"set" in page.content

    http.post(reverse("practice_credentials"), {"provider": "zoom", "client_secret": "rotated"})
    practice.refresh_from_db()
    assert provider_overrides(practice, "zoom")["client_id"] == "cid-1"
    assert provider_overrides(practice, "zoom")["client_secret"] == "rotated"
    entry = LogEntry.objects.get_for_object(practice).latest("timestamp")
    assert "rotated" not in str(entry.changes) and "zoom client_secret" in entry.changes_dict

    http.post(reverse("practice_credentials"), {"provider": "zoom", "clear": "on"})
    practice.refresh_from_db()
    assert practice_credentials(practice) == {}


def test_credentials_form_refuses_nothing_and_other_providers_fields(signed_in, manager):
    http = signed_in(manager)
    assert http.post(reverse("practice_credentials"), {"provider": "zoom"}).status_code == 400
    wrong = http.post(reverse("practice_credentials"), {"provider": "jitsi", "client_secret": "x"})
    assert wrong.status_code == 400 and wrong.context["credentials_form"].errors["client_secret"]
    assert http.post(reverse("practice_credentials"), {"provider": "\x00"}).status_code == 400


def test_stored_credentials_reach_the_provider(practice, settings):
    from practice.credentials import credentials_set

    settings.TELEHEALTH_PROVIDERS = {**settings.TELEHEALTH_PROVIDERS, "zoom": {"client_id": "deployment"}}
    credentials_set(practice=practice, provider="zoom", values={"client_id": "practice-own"})
    practice.refresh_from_db()
    assert provider_overrides(practice, "zoom") == {"client_id": "practice-own"}


def test_a_changed_secret_key_makes_stored_credentials_unreadable_not_an_error(practice, settings):
    from practice.credentials import credentials_set

    credentials_set(practice=practice, provider="jitsi", values={"app_secret": "abc"})
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    practice.refresh_from_db()
    assert practice_credentials(practice) == {}


def test_services_are_listed_added_and_edited(signed_in, manager, practice, service_type):
    http = signed_in(manager)
    assert b"Individual therapy" in http.get(reverse("service_list")).content
    created = http.post(
        reverse("service_create"),
        {
            "name": "Couples",
            "code": "90847",
            "default_minutes": "60",
            "default_fee": "180",
            "is_group": "on",
            "is_active": "on",
        },
    )
    assert created.status_code == 302
    couples = ServiceType.objects.get(practice=practice, name="Couples")
    assert couples.is_group and couples.default_minutes == 60
    edited = http.post(
        reverse("service_edit", args=[couples.pk]),
        {"name": "Couples therapy", "code": "90847", "default_minutes": "50", "default_fee": "170"},
    )
    assert edited.status_code == 302
    couples.refresh_from_db()
    assert couples.name == "Couples therapy" and not couples.is_active and not couples.is_group


def test_service_errors_are_field_level(signed_in, manager, service_type):
    http = signed_in(manager)
    duplicate = http.post(
        reverse("service_create"), {"name": "Individual therapy", "default_minutes": "50", "default_fee": "1"}
    )
    assert duplicate.status_code == 400 and duplicate.context["form"].errors["name"]
    bad = http.post(reverse("service_create"), {"name": "", "default_minutes": "2", "default_fee": "-5"})
    assert bad.status_code == 400
    assert {"name", "default_minutes", "default_fee"} <= set(bad.context["form"].errors)


def test_only_managers_open_the_settings_pages(signed_in, front_desk, clinician_user, biller, manager):
    names = ("settings_hub", "practice_settings", "service_list", "service_create", "audit_log", "team")
    for user in (front_desk, clinician_user, biller):
        http = signed_in(user)
        for name in names:
            assert http.get(reverse(name)).status_code == 403, (user, name)
    http = signed_in(manager)
    for name in names:
        assert http.get(reverse(name)).status_code == 200, name


def test_another_practices_manager_gets_404_on_a_service_and_changes_only_their_own(
    signed_in, other_manager, service_type, other_practice, practice
):
    http = signed_in(other_manager)
    assert http.get(reverse("service_edit", args=[service_type.pk])).status_code == 404
    assert http.post(reverse("service_edit", args=[service_type.pk]), {"name": "Hacked"}).status_code == 404
    assert b"Individual therapy" not in http.get(reverse("service_list")).content
    http.post(reverse("practice_settings"), {**VALID, "name": "Harbor Renamed"})
    assert Practice.objects.get(pk=practice.pk).name == "Riverside Counseling"
    assert Practice.objects.get(pk=other_practice.pk).name == "Harbor Renamed"
