"""Self-service settings (managers) and matching profiles (the clinician, or a manager)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from scheduling.models import BookingPolicy
from selfservice.models import Concern, MatchingProfile, OnlineBooking, Payer

pytestmark = pytest.mark.django_db


def _settings_data(service_type, **overrides):
    data = {
        "online-enabled": "on",
        "online-services": [service_type.pk],
        "online-accepts_new_clients": "on",
        "online-request_hold_hours": "24",
        "online-cancellation_policy": "",
        "online-concerns": "Anxiety\nDepression\n  anxiety \nCouples",
        "online-payers": "Self-pay\nAetna",
        "policy-buffer_minutes": "10",
        "policy-new_client_notice_hours": "48",
        "policy-move_notice_hours": "2",
        "policy-horizon_days": "30",
        "policy-clients_may_reschedule": "on",
        "policy-max_moves_per_session": "2",
        "policy-max_moves_per_client": "4",
    }
    data.update(overrides)
    return data


def test_a_manager_turns_the_booking_page_on_with_lists_and_policy(
    practice, service_type, manager, signed_in
):
    session = signed_in(manager)
    response = session.post(reverse("self_service_settings"), _settings_data(service_type))
    assert response.status_code == 302
    online = OnlineBooking.objects.get(practice=practice)
    assert online.enabled and list(online.services.all()) == [service_type]
    assert list(Concern.objects.for_practice(practice).values_list("name", flat=True)) == [
        "Anxiety",
        "Depression",
        "Couples",
    ]
    assert set(Payer.objects.for_practice(practice).values_list("name", flat=True)) == {"Self-pay", "Aetna"}
    policy = BookingPolicy.objects.get(practice=practice)
    assert (policy.buffer_minutes, policy.new_client_notice_hours, policy.horizon_days) == (10, 48, 30)


def test_bad_numbers_are_field_errors_not_500s(practice, service_type, manager, signed_in):
    session = signed_in(manager)
    for value in ("-1", "²", "1" * 30, "\x00"):
        response = session.post(
            reverse("self_service_settings"), _settings_data(service_type, **{"policy-horizon_days": value})
        )
        assert response.status_code == 400
    assert not OnlineBooking.objects.filter(practice=practice).exists()


def test_front_desk_and_clinicians_cannot_change_self_service_settings(
    practice, service_type, front_desk, clinician_user, signed_in
):
    for user in (front_desk, clinician_user):
        assert signed_in(user).get(reverse("self_service_settings")).status_code == 403


def test_a_clinician_edits_their_own_matching_profile_only(
    practice, clinician, other_clinician, clinician_user, signed_in
):
    anxiety = Concern.objects.create(practice=practice, name="Anxiety")
    session = signed_in(clinician_user)
    data = {
        "accepting_new_clients": "on",
        "concerns": [anxiety.pk],
        "age_groups": ["adult"],
        "states_licensed": ["NY"],
    }
    assert session.post(reverse("matching_profile", args=[clinician.pk]), data).status_code == 302
    profile = MatchingProfile.objects.get(clinician=clinician)
    assert list(profile.concerns.all()) == [anxiety] and profile.states_licensed == ["NY"]
    assert session.get(reverse("matching_profile", args=[other_clinician.pk])).status_code == 403


def test_another_practices_clinician_is_a_404(clinician, other_manager, signed_in):
    assert signed_in(other_manager).get(reverse("matching_profile", args=[clinician.pk])).status_code == 404
