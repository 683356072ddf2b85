"""The client home /h/<token>: upcoming sessions on the client's clock, join and tech check,
move or cancel and preferences through fresh links minted by a POST; "e-mail me my link"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from messaging.backends import locmem
from practice.consent import client_sms_opt_out
from practice.models import Client
from scheduling.models import ManageLink
from scheduling.services import appointment_book, appointment_cancel
from selfservice.home import home_link_for
from selfservice.models import ClientHomeLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def sessions(practice, clinician, client_ann, service_type):
    now = timezone.now()
    first = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=(now + timedelta(days=2)).replace(microsecond=0),
    )
    cancelled = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        service_type=service_type,
        starts_at=(now + timedelta(days=3)).replace(microsecond=0),
    )
    appointment_cancel(appointment=cancelled)
    return first, cancelled


def test_the_home_lists_upcoming_sessions_on_the_clients_clock(client, client_ann, sessions):
    first, _ = sessions
    token = home_link_for(client=client_ann, now=timezone.now())
    page = client.get(reverse("client_home", args=[token]))
    html = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    local = first.starts_at.astimezone(client_ann.zoneinfo(client_ann.practice))
    assert local.strftime("%A, %B %-d") in html
    assert html.count('name="action" value="manage"') == 1, "the cancelled session is not listed"
    assert ManageLink.objects.count() == 0, "opening the page writes nothing"


def test_move_or_cancel_opens_the_session_page_with_a_fresh_link(client, client_ann, sessions):
    first, _ = sessions
    token = home_link_for(client=client_ann, now=timezone.now())
    participant = first.participants.get()
    response = client.post(
        reverse("client_home", args=[token]), {"action": "manage", "session": participant.pk}
    )
    assert response.status_code == 302 and response.url.startswith("/a/")
    assert client.get(response.url).status_code == 200


def test_another_clients_session_or_bad_ids_are_404(
    client, client_ann, client_bob, practice, clinician, service_type
):
    bob_session = appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_bob],
        service_type=service_type,
        starts_at=timezone.now() + timedelta(days=2),
    )
    token = home_link_for(client=client_ann, now=timezone.now())
    url = reverse("client_home", args=[token])
    for value in (bob_session.participants.get().pk, "²", "9" * 30, "\x00", "-1"):
        assert client.post(url, {"action": "manage", "session": value}).status_code == 404


def test_an_unknown_or_expired_link_is_a_plain_404(client, client_ann):
    assert client.get(reverse("client_home", args=["nope"])).status_code == 404
    token = home_link_for(client=client_ann, now=timezone.now() - timedelta(days=31))
    assert client.get(reverse("client_home", args=[token])).status_code == 404


def test_email_me_my_link_answers_the_same_and_sends_only_to_a_known_client(client, practice, client_ann):
    url = reverse("home_link_request", args=[practice.slug])
    known = client.post(url, {"address": client_ann.email.upper()})
    unknown = client.post(url, {"address": "stranger@example.org"})
    strip = lambda r: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())  # noqa: E731
    assert strip(known) == strip(unknown)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [client_ann.email]
    link = re.search(r"/h/(\S+)", mail.outbox[0].body).group(1)
    assert client.get(reverse("client_home", args=[link])).status_code == 200
    assert ClientHomeLink.objects.count() == 1


def test_link_requests_are_rate_limited_per_address(client, practice, client_ann):
    url = reverse("home_link_request", args=[practice.slug])
    for _ in range(3):
        client.post(url, {"address": client_ann.email})
    refused = client.post(url, {"address": client_ann.email})
    assert "Too many links" in refused.content.decode() and len(mail.outbox) == 3


@pytest.fixture
def sms_outbox(settings):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    locmem.outbox.clear()
    yield locmem.outbox
    locmem.outbox.clear()


def test_text_me_my_link_answers_the_same_and_texts_only_a_known_number(
    client, practice, client_ann, sms_outbox
):
    url = reverse("home_link_request", args=[practice.slug])
    known = client.post(url, {"address": "(212) 555-0101"})
    unknown = client.post(url, {"address": "212 555 0199"})
    strip = lambda r: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())  # noqa: E731
    assert strip(known) == strip(unknown)
    assert [text.to for text in sms_outbox] == ["+12125550101"] and not mail.outbox
    link = re.search(r"/h/(\S+)", sms_outbox[0].body).group(1)
    assert client.get(reverse("client_home", args=[link])).status_code == 200


def test_a_shared_number_or_one_that_said_stop_gets_no_link(
    client, practice, client_ann, client_bob, sms_outbox
):
    url = reverse("home_link_request", args=[practice.slug])
    Client.objects.filter(pk=client_bob.pk).update(phone=client_ann.phone)
    client.post(url, {"address": "+12125550101"})
    assert not sms_outbox, "a family's shared phone: whose sessions would it be?"
    Client.objects.filter(pk=client_bob.pk).update(phone="+12125550177")
    client_sms_opt_out(client=client_ann, source="sms_keyword", now=timezone.now())
    client.post(url, {"address": "+12125550101"})
    assert not sms_outbox


@pytest.mark.parametrize("typed", ["not an address", "+44 20 7946 0958", "123", "ann@", "212 555 01x1"])
def test_what_is_neither_an_email_nor_a_us_mobile_is_a_field_error(client, practice, typed, sms_outbox):
    response = client.post(reverse("home_link_request", args=[practice.slug]), {"address": typed})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a valid email address" in page or "e-mail address or a US mobile number" in page
    assert not sms_outbox and not mail.outbox
