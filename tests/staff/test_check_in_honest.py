"""Contacting a late client goes through Attend and says what really happened: no sms: link that
opens the staff member's own phone, the button names the channel the message will take, and the
confirmation names the channel it took."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from messaging.backends import locmem
from tests.staff.board_helpers import ny, session

pytestmark = pytest.mark.django_db

NOON = ny(2026, 6, 10, 12, 0)


@pytest.fixture(autouse=True)
def channels(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    locmem.outbox.clear()


@pytest.fixture
def late(practice, clinician, service_type, client_ann):
    return session(
        practice=practice,
        clinician=clinician,
        service_type=service_type,
        clients=[client_ann],
        starts_at=NOON - timedelta(minutes=6),
    )


def board(http) -> str:
    with time_machine.travel(NOON, tick=False):
        return http.get(reverse("board")).content.decode()


def check_in(http, appointment):
    participant = appointment.participants.get()
    with time_machine.travel(NOON, tick=False):
        response = http.post(reverse("appointment_check_in", args=[appointment.pk, participant.pk]))
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_board_has_no_sms_link_to_the_staff_members_own_phone(signed_in, front_desk, late, client_ann):
    client_ann.sms_consent_at = timezone.now()
    client_ann.save()
    html = board(signed_in(front_desk))
    assert 'href="sms:' not in html
    assert "Text: Are you OK to continue?" in html


# Real commits: the check-in is sent as soon as the request's transaction commits.
@pytest.mark.django_db(transaction=True)
def test_without_consent_the_check_in_is_offered_and_reported_as_an_email(
    signed_in, front_desk, late, client_ann
):
    assert client_ann.sms_consent_at is None
    http = signed_in(front_desk)
    html = board(http)
    assert "Text: Are you OK" not in html
    assert "E-mail: Are you OK to continue?" in html

    (flash,) = check_in(http, late)

    assert flash == "“Are you OK to continue?” sent to Ann by e-mail (no consent to texts on record)."
    assert locmem.outbox == []


@pytest.mark.django_db(transaction=True)
def test_with_consent_the_check_in_is_reported_as_a_text(signed_in, front_desk, late, client_ann):
    client_ann.sms_consent_at = timezone.now()
    client_ann.save()

    (flash,) = check_in(signed_in(front_desk), late)

    assert flash == "“Are you OK to continue?” sent to Ann by text."
    assert len(locmem.outbox) == 1


def test_a_client_who_cannot_be_reached_gets_no_button(signed_in, front_desk, late, client_ann):
    client_ann.email = ""
    client_ann.save()
    html = board(signed_in(front_desk))
    assert "Are you OK to continue?" not in html
