"""The practice's answer to a booking request: approve books, decline frees the time, expiry
lets the hold go; the staff queue; tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from practice.models import Client, ConsentEvent, ConsentEventSource, ConsentSource
from scheduling.models import Appointment, AppointmentSource, Hold
from selfservice.models import BookingRequest, BookingRequestStatus
from selfservice.services import (
    Person,
    add_business_hours,
    booking_request_approve,
    booking_request_create,
    booking_request_decline,
    booking_requests_expire,
)

pytestmark = pytest.mark.django_db

NORA = Person(
    first_name="Nora",
    last_name="Quinn",
    email="nora@example.org",
    phone="+12125550123",
    timezone="America/Los_Angeles",
    sms_consent=True,
)


def _request(practice, clinician, service_type, now, hours_ahead=48):
    return booking_request_create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        modality="telehealth",
        starts_at=(now + timedelta(hours=hours_ahead)).replace(minute=0, second=0, microsecond=0),
        person=NORA,
        needs={"concern_ids": [], "age_group": "adult", "state": "NY"},
        now=now,
    )


def test_approve_books_the_slot_for_a_new_client_record(
    booking_practice, clinician, service_type, manager, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    approved = booking_request_approve(request=request, by=manager, now=frozen_now)
    assert approved.status == BookingRequestStatus.APPROVED and approved.hold is None
    appointment = approved.appointment
    assert appointment.source == AppointmentSource.CLIENT_BOOKING
    assert appointment.starts_at == request.starts_at and appointment.clinician == clinician
    client = appointment.participants.get().client
    assert (client.first_name, client.email, client.timezone) == (
        "Nora",
        "nora@example.org",
        "America/Los_Angeles",
    )
    assert client.has_sms_consent
    assert client.sms_consent_source == ConsentSource.ONLINE_BOOKING, "not 'Intake form'"
    event = ConsentEvent.objects.get(client=client)
    assert event.source == ConsentEventSource.ONLINE_BOOKING
    assert client.no_show_policy_accepted_on == frozen_now.date(), "accepted on the booking page"
    assert not Hold.objects.exists()


def test_approve_uses_the_existing_client_with_that_email(
    booking_practice, clinician, service_type, manager, client_ann, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    BookingRequest.objects.filter(pk=request.pk).update(email=client_ann.email.upper())
    approved = booking_request_approve(request=request, by=manager, now=frozen_now)
    assert approved.appointment.participants.get().client == client_ann
    assert Client.objects.filter(practice=booking_practice).count() == 1


def test_decline_frees_the_time_and_tells_the_person_why(
    booking_practice, clinician, service_type, manager, frozen_now, django_capture_on_commit_callbacks
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    with pytest.raises(ValidationError):
        booking_request_decline(request=request, by=manager, reason="  ", now=frozen_now)
    with django_capture_on_commit_callbacks(execute=True):
        booking_request_decline(
            request=request, by=manager, reason="Dr. Kim is not taking this time.", now=frozen_now
        )
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.DECLINED and not Hold.objects.exists()
    assert "Dr. Kim is not taking this time." in mail.outbox[-1].body
    with pytest.raises(ValidationError, match="already declined"):
        booking_request_approve(request=request, by=manager, now=frozen_now)


def test_a_request_held_24_business_hours_expires_and_cannot_be_approved(
    booking_practice, clinician, service_type, manager, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now, hours_ahead=24 * 7)
    # Monday noon + 24 business hours (08:00-19:00, weekdays) = Wednesday 14:00.
    assert request.expires_at == datetime(2026, 5, 6, 14, 0, tzinfo=frozen_now.tzinfo)
    later = request.expires_at + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        with pytest.raises(ValidationError, match="expired"):
            booking_request_approve(request=request, by=manager, now=later)
        assert booking_requests_expire(now=later) == 1
        assert booking_requests_expire(now=later) == 0, "safe to run twice"
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.EXPIRED
    assert not Appointment.objects.exists()


def test_business_hours_skip_the_weekend(practice):
    friday_6pm = datetime(2026, 5, 8, 22, 0, tzinfo=UTC)  # 18:00 in New York
    assert add_business_hours(start=friday_6pm, hours=2, practice=practice) == datetime(
        2026, 5, 11, 13, 0, tzinfo=UTC
    )  # Monday 09:00 New York


def test_the_queue_shows_pending_requests_and_approves_by_post(
    booking_practice, clinician, service_type, front_desk, signed_in, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    session = signed_in(front_desk)
    page = session.get(reverse("booking_requests"))
    assert page.status_code == 200 and "Nora Quinn" in page.content.decode()
    assert session.get(reverse("booking_request_approve", args=[request.pk])).status_code == 405
    session.post(reverse("booking_request_approve", args=[request.pk]))
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.APPROVED


def test_another_practice_cannot_see_or_answer_a_request(
    booking_practice, clinician, service_type, other_manager, signed_in, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    session = signed_in(other_manager)
    assert "Nora" not in session.get(reverse("booking_requests")).content.decode()
    assert session.post(reverse("booking_request_approve", args=[request.pk])).status_code == 404
    assert (
        session.post(reverse("booking_request_decline", args=[request.pk]), {"reason": "x"}).status_code
        == 404
    )
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.PENDING


def test_the_worker_sweeps_requests_every_minute(booking_practice, clinician, service_type, frozen_now):
    from django_q.models import Schedule

    from selfservice.tasks import sweep_booking_requests

    schedule = Schedule.objects.get(name="selfservice.sweep_booking_requests")
    assert schedule.func == "selfservice.tasks.sweep_booking_requests" and schedule.minutes == 1
    request = _request(booking_practice, clinician, service_type, frozen_now, hours_ahead=24 * 7)
    with time_machine.travel(request.expires_at + timedelta(seconds=1), tick=False):
        assert sweep_booking_requests() == 1


def test_signed_events_say_requested_and_approved_without_the_persons_details(
    booking_practice, clinician, service_type, manager, frozen_now
):
    from integrations.models import WebhookEndpoint, WebhookEvent

    WebhookEndpoint.objects.create(
        practice=booking_practice,
        url="https://ehr.example.org/hooks",
        secret="whsec_dGVzdA==",
        event_types=["booking.requested", "booking.approved", "booking.declined"],
    )
    request = _request(booking_practice, clinician, service_type, frozen_now)
    booking_request_approve(request=request, by=manager, now=frozen_now)
    events = list(WebhookEvent.objects.order_by("pk").values_list("type", "body"))
    assert [event_type for event_type, _ in events] == ["booking.requested", "booking.approved"]
    for _, body in events:
        assert "Nora" not in body and "nora@example.org" not in body and "+1212" not in body
