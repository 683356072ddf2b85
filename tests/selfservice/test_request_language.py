"""The booking page's language follows the request (issue 15 leftovers): someone who asked for a
time on the Spanish page gets the practice's decline and "another time" e-mails in Spanish, dates
in Spanish order on their own clock, and becomes a client whose messages are in Spanish."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from messaging.languages import client_language
from messaging.services import sequence_set_languages
from selfservice.models import BookingRequest
from selfservice.services import (
    booking_request_approve,
    booking_request_create,
    booking_request_decline,
    booking_request_propose,
)
from tests.selfservice.test_booking_requests import NORA

pytestmark = pytest.mark.django_db


@pytest.fixture
def spanish_too(booking_practice):
    sequence_set_languages(practice=booking_practice, languages=["en", "es"])
    return booking_practice


def _request(practice, clinician, service_type, now, *, page_language):
    return booking_request_create(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        modality="telehealth",
        starts_at=(now + timedelta(hours=48)).replace(minute=0, second=0, microsecond=0),
        person=NORA,
        needs={"concern_ids": [], "age_group": "adult", "state": "NY"},
        page_language=page_language,
        now=now,
    )


def test_a_request_from_the_spanish_page_is_declined_in_spanish(
    spanish_too, clinician, service_type, manager, frozen_now, django_capture_on_commit_callbacks
):
    request = _request(spanish_too, clinician, service_type, frozen_now, page_language="es")
    with django_capture_on_commit_callbacks(execute=True):
        booking_request_decline(request=request, by=manager, reason="Dr. Smith is away.", now=frozen_now)
    message = mail.outbox[-1]
    assert message.subject == f"{spanish_too.name}: sobre su solicitud"
    assert message.body.startswith("Hola, Nora:")
    assert "miércoles, 6 de mayo" in message.body, "a Spanish date on the person's clock (Los Angeles)"
    assert "Dr. Smith is away." in message.body, "the practice's own words, as written"


def test_another_time_is_proposed_in_spanish(
    spanish_too, clinician, service_type, manager, frozen_now, django_capture_on_commit_callbacks
):
    request = _request(spanish_too, clinician, service_type, frozen_now, page_language="es")
    with django_capture_on_commit_callbacks(execute=True):
        booking_request_propose(
            request=request,
            starts_at=request.starts_at + timedelta(hours=2, minutes=15),
            by=manager,
            now=frozen_now,
        )
    body = mail.outbox[-1].body
    assert "Hola, Nora:" in body and "miércoles, 6 de mayo" in body and "11:15" in body
    assert "Accept" not in body


def test_the_english_page_and_a_language_no_longer_offered_write_in_the_default(
    spanish_too, clinician, service_type, manager, frozen_now, django_capture_on_commit_callbacks
):
    request = _request(spanish_too, clinician, service_type, frozen_now, page_language="en")
    with django_capture_on_commit_callbacks(execute=True):
        booking_request_decline(request=request, by=manager, reason="Full.", now=frozen_now)
    assert mail.outbox[-1].body.startswith("Hello Nora,")

    later = _request(spanish_too, clinician, service_type, frozen_now + timedelta(days=1), page_language="es")
    sequence_set_languages(practice=spanish_too, languages=["en"])
    with django_capture_on_commit_callbacks(execute=True):
        booking_request_decline(request=later, by=manager, reason="Full.", now=frozen_now)
    assert mail.outbox[-1].body.startswith("Hello Nora,")


def test_a_new_client_from_the_spanish_page_gets_messages_in_spanish(
    spanish_too, clinician, service_type, manager, frozen_now
):
    request = _request(spanish_too, clinician, service_type, frozen_now, page_language="es")
    approved = booking_request_approve(request=request, by=manager, now=frozen_now)
    client = approved.appointment.participants.get().client
    assert client_language(client) == "es"
    assert BookingRequest.objects.get(pk=request.pk).page_language == "es"
