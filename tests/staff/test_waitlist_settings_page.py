"""Settings → Waitlist: owners and managers set how freed times are offered, with field-level
errors for bad numbers; every change is in the audit log."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry

from waitlist.models import WaitlistSettings

pytestmark = pytest.mark.django_db

URL = "/settings/waitlist/"
DEFAULTS = {
    "enabled": "on",
    "min_lead_minutes": "120",
    "wave_size_72h": "1",
    "hold_minutes_72h": "120",
    "wave_size_24h": "2",
    "hold_minutes_24h": "60",
    "wave_size_4h": "3",
    "hold_minutes_4h": "15",
    "wave_size_2h": "5",
    "hold_minutes_2h": "10",
    "offers_per_client_per_day": "2",
    "expired_in_a_row_to_pause": "3",
    "aging_days": "21",
    "max_cascade_steps": "3",
}


def test_a_manager_sees_the_defaults_and_changes_the_waves(signed_in, manager, practice):
    http = signed_in(manager)
    page = http.get(URL)
    assert page.status_code == 200
    assert 'name="hold_minutes_72h" value="120"' in page.content.decode()
    assert not WaitlistSettings.objects.exists()  # a GET writes nothing

    answer = http.post(URL, {**DEFAULTS, "wave_size_72h": "2", "hold_minutes_72h": "90"})

    assert answer.status_code == 302
    saved = WaitlistSettings.objects.get(practice=practice)
    assert (saved.wave_size_72h, saved.hold_minutes_72h, saved.enabled) == (2, 90, True)
    entry = LogEntry.objects.get_for_object(saved).latest("timestamp")
    assert entry.actor == manager


def test_bad_numbers_get_field_errors_and_nothing_is_saved(signed_in, manager, practice):
    http = signed_in(manager)
    for field, value, words in [
        ("wave_size_24h", "0", "greater than or equal to 1"),
        ("hold_minutes_4h", "99999", "less than or equal to 1440"),
        ("aging_days", "soon", "Enter a whole number"),
        ("min_lead_minutes", "300", "under 4 hours"),
        ("max_cascade_steps", "11", "less than or equal to 10"),
    ]:
        answer = http.post(URL, {**DEFAULTS, field: value})
        assert answer.status_code == 400, field
        form = answer.context["form"]
        assert words in " ".join(form.errors[field]), (field, form.errors)
    assert not WaitlistSettings.objects.exists()


def test_turning_the_waitlist_off(signed_in, manager, practice):
    data = {k: v for k, v in DEFAULTS.items() if k != "enabled"}
    assert signed_in(manager).post(URL, data).status_code == 302
    assert WaitlistSettings.objects.get(practice=practice).enabled is False


@pytest.mark.parametrize("role", ["front_desk", "clinician_user"])
def test_only_owners_and_managers_may_open_it(signed_in, role, request, practice):
    user = request.getfixturevalue(role)
    assert signed_in(user).get(URL).status_code == 403
    assert signed_in(user).post(URL, DEFAULTS).status_code == 403
    assert not WaitlistSettings.objects.exists()


def test_the_settings_hub_links_it(signed_in, manager):
    assert URL in signed_in(manager).get("/settings/").content.decode()
