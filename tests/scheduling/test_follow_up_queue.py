"""A failed tech check reaches the clinician and the front desk, who resolve it with a note."""

import pytest
from django.urls import reverse

from scheduling.models import FollowUp
from scheduling.services import appointment_book
from telehealth.services import tech_check_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_check(practice, clinician, client_ann, service_type, tomorrow_10am):
    appointment = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    tech_check_record(
        participant=appointment.participants.get(),
        camera_ok=False,
        microphone_ok=True,
        browser_ok=True,
        network_ok=True,
        problems=["camera_blocked"],
        details={},
    )
    return FollowUp.objects.get()


def test_the_sessions_clinician_and_the_front_desk_see_the_item(
    signed_in, clinician_user, front_desk, failed_check
):
    for user in (clinician_user, front_desk):
        page = signed_in(user).get(reverse("follow_up_list"))
        assert [item.pk for item in page.context["items"]] == [failed_check.pk]
        assert "Tech check failed" in page.content.decode()


def test_another_clinician_and_another_practice_do_not(
    signed_in, other_clinician, other_manager, failed_check
):
    assert signed_in(other_clinician.user).get(reverse("follow_up_list")).context["items"] == []
    assert signed_in(other_manager).get(reverse("follow_up_list")).context["items"] == []
    response = signed_in(other_manager).post(
        reverse("follow_up_resolve", args=[failed_check.pk]), {"note": "x"}
    )
    assert response.status_code == 404


def test_resolving_records_who_and_the_note(signed_in, front_desk, failed_check):
    http = signed_in(front_desk)

    http.post(reverse("follow_up_resolve", args=[failed_check.pk]), {"note": "Called; camera allowed now"})

    failed_check.refresh_from_db()
    assert failed_check.resolved_by == front_desk
    assert failed_check.resolution_note == "Called; camera allowed now"
    assert http.get(reverse("follow_up_list")).context["items"] == []


def test_billers_have_no_queue(signed_in, biller, failed_check):
    assert signed_in(biller).get(reverse("follow_up_list")).status_code == 403


def test_another_clinician_of_the_practice_cannot_resolve_the_item(signed_in, other_clinician, failed_check):
    response = signed_in(other_clinician.user).post(
        reverse("follow_up_resolve", args=[failed_check.pk]), {"note": "x"}
    )
    assert response.status_code == 404
    failed_check.refresh_from_db()
    assert failed_check.resolved_at is None
