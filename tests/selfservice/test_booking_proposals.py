"""'Propose another time' (issue 15 item 7): the practice moves a request's hold to another open
time, the person accepts (booked as an approval is) or declines from a link; a GET never answers;
expiry as for any request; events; tenancy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from integrations.models import WebhookEndpoint, WebhookEvent
from practice.models import ConsentSource
from scheduling.models import Appointment, AppointmentSource, Hold
from scheduling.services import appointment_book
from selfservice.models import BookingRequest, BookingRequestStatus
from selfservice.services import (
    booking_request_accept_proposal,
    booking_request_approve,
    booking_request_decline_proposal,
    booking_request_propose,
    booking_requests_expire,
)
from tests.selfservice.test_booking_requests import _request

pytestmark = pytest.mark.django_db


def _link_in_mail() -> str:
    match = re.search(r"https?://\S+/r/(\S+)", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def test_propose_moves_the_hold_and_mails_a_link(
    booking_practice, clinician, service_type, manager, frozen_now, django_capture_on_commit_callbacks
):
    request = _request(booking_practice, clinician, service_type, frozen_now)  # Wednesday 12:00
    asked = request.starts_at
    proposed = asked + timedelta(hours=2, minutes=15)  # Wednesday 14:15, on the 45-minute grid
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request, token = booking_request_propose(
            request=request, starts_at=proposed, by=manager, now=frozen_now
        )
    assert request.status == BookingRequestStatus.PROPOSED
    assert (request.requested_starts_at, request.starts_at) == (asked, proposed)
    assert request.ends_at == proposed + timedelta(minutes=45)
    hold = Hold.objects.get()
    assert (hold.starts_at, hold.ends_at, hold.pk) == (proposed, request.ends_at, request.hold_id)
    assert request.proposed_by == manager and request.proposed_at == frozen_now
    assert request.expires_at > frozen_now
    message = mail.outbox[-1]
    assert message.to == ["nora@example.org"]
    assert "Wednesday, May 6, 11:15 AM PDT" in message.body, "on the person's clock (Los Angeles)"
    assert _link_in_mail() == token
    assert token not in request.proposal_token_hash, "stored hashed"


def test_a_time_overlapping_the_requests_own_hold_can_be_proposed(
    booking_practice, clinician, service_type, manager, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now, hours_ahead=49)  # Wed 13:00
    earlier = request.starts_at - timedelta(minutes=15)  # 12:45-13:30 overlaps 13:00-13:45
    request, _ = booking_request_propose(request=request, starts_at=earlier, by=manager, now=frozen_now)
    assert Hold.objects.get().starts_at == earlier


def test_a_time_that_is_not_open_is_refused_and_the_old_hold_stays(
    booking_practice, clinician, service_type, client_bob, manager, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    taken = request.starts_at + timedelta(minutes=45)
    appointment_book(
        practice=booking_practice,
        clinician=clinician,
        clients=[client_bob],
        starts_at=taken,
        service_type=service_type,
        now=frozen_now,
    )
    for starts_at in (taken, request.starts_at.replace(hour=3), request.starts_at):
        with pytest.raises(ValidationError):
            booking_request_propose(request=request, starts_at=starts_at, by=manager, now=frozen_now)
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.PENDING
    assert Hold.objects.get().pk == request.hold_id and request.hold.starts_at == request.starts_at


def test_the_person_accepts_by_post_only_and_is_booked_as_an_approval(
    booking_practice, clinician, service_type, manager, client, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    proposed = request.starts_at + timedelta(minutes=45)
    _, token = booking_request_propose(request=request, starts_at=proposed, by=manager, now=frozen_now)
    url = reverse("booking_proposal", args=[token])
    page = client.get(url)
    assert page.status_code == 200 and "Accept this time" in page.content.decode()
    assert "9:45 AM" in page.content.decode(), "12:45 in New York is 9:45 in Los Angeles"
    assert page["X-Robots-Tag"] == "noindex, nofollow"
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.PROPOSED, "a GET never answers"
    answered = client.post(url, {"answer": "accept"})
    assert answered.status_code == 302
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.APPROVED and request.decided_by == manager
    appointment = request.appointment
    assert (appointment.starts_at, appointment.source) == (proposed, AppointmentSource.CLIENT_BOOKING)
    booked = appointment.participants.get().client
    assert booked.email == "nora@example.org"
    assert booked.sms_consent_source == ConsentSource.ONLINE_BOOKING
    assert not Hold.objects.exists(), "the hold was taken up by the booking"
    assert "You're booked" in client.get(url).content.decode()
    again = client.post(url, {"answer": "accept"})
    assert again.status_code == 409 and Appointment.objects.count() == 1


def test_the_person_declines_and_the_time_is_free_again(
    booking_practice, clinician, service_type, manager, client, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    _, token = booking_request_propose(
        request=request, starts_at=request.starts_at + timedelta(minutes=45), by=manager, now=frozen_now
    )
    client.post(reverse("booking_proposal", args=[token]), {"answer": "decline"})
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.WITHDRAWN and request.hold is None
    assert not Hold.objects.exists() and not Appointment.objects.exists()
    assert "You declined this time" in client.get(reverse("booking_proposal", args=[token])).content.decode()


def test_a_proposal_expires_like_a_request(
    booking_practice, clinician, service_type, manager, client, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now, hours_ahead=24 * 7)
    request, token = booking_request_propose(
        request=request, starts_at=request.starts_at + timedelta(minutes=45), by=manager, now=frozen_now
    )
    with time_machine.travel(request.expires_at + timedelta(seconds=1), tick=False):
        answered = client.post(reverse("booking_proposal", args=[token]), {"answer": "accept"})
        assert answered.status_code == 409 and "expired" in answered.content.decode()
        assert booking_requests_expire() == 1
        assert booking_requests_expire() == 0
        assert "no longer held" in client.get(reverse("booking_proposal", args=[token])).content.decode()
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.EXPIRED and not Appointment.objects.exists()


def test_staff_cannot_approve_a_proposed_time_for_the_person_and_a_new_proposal_replaces_the_link(
    booking_practice, clinician, service_type, manager, client, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    request, first = booking_request_propose(
        request=request, starts_at=request.starts_at + timedelta(minutes=45), by=manager, now=frozen_now
    )
    with pytest.raises(ValidationError, match="person answers"):
        booking_request_approve(request=request, by=manager, now=frozen_now)
    request, second = booking_request_propose(
        request=request, starts_at=request.starts_at + timedelta(minutes=45), by=manager, now=frozen_now
    )
    assert client.get(reverse("booking_proposal", args=[first])).status_code == 404
    assert client.get(reverse("booking_proposal", args=[second])).status_code == 200
    assert Hold.objects.count() == 1
    assert client.get(reverse("booking_proposal", args=["x" * 200])).status_code == 404


def test_the_staff_page_lists_open_times_and_proposes_one(
    booking_practice, clinician, service_type, front_desk, signed_in, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    session = signed_in(front_desk)
    queue = session.get(reverse("booking_requests")).content.decode()
    assert reverse("booking_request_propose", args=[request.pk]) in queue
    page = session.get(reverse("booking_request_propose", args=[request.pk]))
    assert page.status_code == 200
    values = re.findall(r'name="start" value="(\d+)"', page.content.decode())
    assert values and str(int(request.starts_at.timestamp())) not in values, "the held time is not 'another'"
    assert (
        session.post(reverse("booking_request_propose", args=[request.pk]), {"start": "abc"}).status_code
        == 400
    )
    session.post(reverse("booking_request_propose", args=[request.pk]), {"start": values[0]})
    request.refresh_from_db()
    assert request.status == BookingRequestStatus.PROPOSED
    assert int(request.starts_at.timestamp()) == int(values[0])
    assert "waiting for the person" in session.get(reverse("booking_requests")).content.decode()


def test_another_practice_cannot_propose(
    booking_practice, clinician, service_type, other_manager, signed_in, frozen_now
):
    request = _request(booking_practice, clinician, service_type, frozen_now)
    session = signed_in(other_manager)
    assert session.get(reverse("booking_request_propose", args=[request.pk])).status_code == 404
    assert (
        session.post(reverse("booking_request_propose", args=[request.pk]), {"start": "1"}).status_code == 404
    )
    assert BookingRequest.objects.get().status == BookingRequestStatus.PENDING


def test_events_say_proposed_then_approved_or_declined_without_the_persons_details(
    booking_practice, clinician, service_type, manager, frozen_now
):
    WebhookEndpoint.objects.create(
        practice=booking_practice,
        url="https://ehr.example.org/hooks",
        secret="whsec_dGVzdA==",
        event_types=["booking.requested", "booking.proposed", "booking.approved", "booking.declined"],
    )
    request = _request(booking_practice, clinician, service_type, frozen_now)
    request, _ = booking_request_propose(
        request=request, starts_at=request.starts_at + timedelta(minutes=45), by=manager, now=frozen_now
    )
    booking_request_accept_proposal(request=request, now=frozen_now)
    events = list(WebhookEvent.objects.order_by("pk").values_list("type", "body"))
    assert [event_type for event_type, _ in events] == [
        "booking.requested",
        "booking.proposed",
        "booking.approved",
    ]
    assert '"status": "proposed"' in events[1][1] or '"status":"proposed"' in events[1][1]
    for _, body in events:
        assert "Nora" not in body and "nora@example.org" not in body


def test_time_given_back_is_announced_to_the_freed_time_subscribers(
    booking_practice, clinician, service_type, manager, frozen_now, django_capture_on_commit_callbacks
):
    from scheduling import freed_time

    heard = []
    freed_time.subscribe(heard.append)
    try:
        request = _request(booking_practice, clinician, service_type, frozen_now, hours_ahead=49)  # 13:00
        asked = (request.starts_at, request.ends_at)
        with django_capture_on_commit_callbacks(execute=True):
            request, _ = booking_request_propose(
                request=request,
                starts_at=request.starts_at - timedelta(minutes=15),
                by=manager,
                now=frozen_now,
            )
        # 12:45-13:30 is held now: of 13:00-13:45 only 13:30-13:45 is free.
        assert [f.windows for f in heard] == [((request.ends_at, asked[1]),)]
        assert heard[0].service_type_id == service_type.pk and heard[0].source == freed_time.REQUEST_DECLINED
        with django_capture_on_commit_callbacks(execute=True):
            booking_request_decline_proposal(request=request, now=frozen_now)
        assert heard[-1].windows == ((request.starts_at, request.ends_at),)
        assert heard[-1].key == f"booking_request:{request.pk}"
    finally:
        freed_time.unsubscribe(heard.append)
