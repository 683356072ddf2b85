"""Known clients book instantly (issue 15 item 3), where the practice turns it on: a verified
address that belongs to exactly one active client of the practice books through the booking
services; anyone else makes a request; the pages answer the same until the code is entered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from messaging.backends import locmem
from practice.models import Client, ClientStatus, ConsentSource
from scheduling.models import Appointment, AppointmentSource, Hold, HoldKind
from scheduling.services import appointment_book, hold_place
from selfservice.models import BookingRequest, OnlineBooking
from tests.selfservice.test_booking_page import _code_from_mail, _details, _first_start, _needs, _without_csrf

pytestmark = pytest.mark.django_db


@pytest.fixture
def instant(booking_practice):
    OnlineBooking.objects.filter(practice=booking_practice).update(known_clients_book_instantly=True)
    return booking_practice


def _pick(client, practice, clinician) -> datetime:
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    return datetime.fromtimestamp(int(start), tz=UTC)


def _verify(client, practice, code):
    return client.post(reverse("book_verify", kwargs={"slug": practice.slug}), {"code": code})


def test_a_known_client_is_booked_at_once(client, instant, clinician, client_ann, frozen_now):
    starts_at = _pick(client, instant, clinician)
    _details(client, instant, email="ANN@example.test", phone="+12125550101")
    done = _verify(client, instant, _code_from_mail())
    assert done.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.starts_at == starts_at and appointment.clinician == clinician
    assert appointment.source == AppointmentSource.CLIENT_BOOKING
    assert [p.client for p in appointment.participants.all()] == [client_ann]
    assert not BookingRequest.objects.exists() and not Hold.objects.exists()
    page = client.get(done.url).content.decode()
    assert "booked" in page and "Request sent" not in page
    client_ann.refresh_from_db()
    assert client_ann.sms_consent_source == ConsentSource.ONLINE_BOOKING, "ticked, for their own number"


def test_a_known_client_is_found_by_a_texted_code_too(
    client, instant, clinician, client_ann, frozen_now, settings
):
    settings.SMS_BACKEND = "messaging.backends.locmem.LocMemSMSBackend"
    locmem.outbox.clear()
    _pick(client, instant, clinician)
    _details(client, instant, email="someone-else@example.org", phone="+12125550101", send_code_by="sms")
    code = re.match(r"(\d{6})", locmem.outbox[-1].body).group(1)
    _verify(client, instant, code)
    assert Appointment.objects.get().participants.get().client == client_ann
    locmem.outbox.clear()


def test_off_by_default_a_known_client_makes_a_request(
    client, booking_practice, clinician, client_ann, frozen_now
):
    _pick(client, booking_practice, clinician)
    _details(client, booking_practice, email=client_ann.email)
    _verify(client, booking_practice, _code_from_mail())
    assert BookingRequest.objects.count() == 1 and not Appointment.objects.exists()


@pytest.mark.parametrize("case", ["unknown", "shared", "inactive"])
def test_anyone_but_exactly_one_active_client_makes_a_request(
    client, instant, clinician, client_ann, client_bob, frozen_now, case
):
    email = "nobody@example.org"
    if case == "shared":
        Client.objects.filter(pk=client_bob.pk).update(email=client_ann.email)
        email = client_ann.email
    if case == "inactive":
        Client.objects.filter(pk=client_ann.pk).update(status=ClientStatus.INACTIVE)
        email = client_ann.email
    _pick(client, instant, clinician)
    _details(client, instant, email=email)
    done = _verify(client, instant, _code_from_mail())
    assert BookingRequest.objects.count() == 1 and not Appointment.objects.exists()
    assert "Request sent" in client.get(done.url).content.decode()


def test_the_pages_say_the_same_until_the_code_is_entered(client, instant, clinician, client_ann, frozen_now):
    _pick(client, instant, clinician)
    known = _details(client, instant, email=client_ann.email)
    known_page = _without_csrf(client.get(known.url))
    unknown = _details(client, instant, email="nobody@example.org")
    assert known.url == unknown.url
    assert _without_csrf(client.get(unknown.url)) == known_page
    first, second = (re.sub(r"\d{6}", "CODE", message.body) for message in mail.outbox)
    assert first == second, "the same e-mail, known or not"


def test_a_client_already_in_a_session_then_is_told_and_nothing_is_booked(
    client, instant, clinician, other_clinician, client_ann, service_type, frozen_now
):
    starts_at = _pick(client, instant, clinician)
    appointment_book(
        practice=instant,
        clinician=other_clinician,
        clients=[client_ann],
        starts_at=starts_at,
        service_type=service_type,
    )
    _details(client, instant, email=client_ann.email)
    back = _verify(client, instant, _code_from_mail())
    assert back.status_code == 302 and "/clinicians/" in back.url
    assert "You have another session at that time" in client.get(back.url).content.decode()
    assert Appointment.objects.count() == 1


def test_a_time_held_meanwhile_is_not_booked_over(
    client, instant, clinician, client_ann, service_type, frozen_now
):
    starts_at = _pick(client, instant, clinician)
    hold_place(
        practice=instant,
        clinician=clinician,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=service_type.default_minutes),
        expires_at=datetime(2026, 6, 1, tzinfo=UTC),
        kind=HoldKind.BOOKING_REQUEST,
        now=frozen_now,
    )
    _details(client, instant, email=client_ann.email)
    back = _verify(client, instant, _code_from_mail())
    assert "someone took that time" in client.get(back.url).content.decode()
    assert not Appointment.objects.exists()


def test_the_setting_is_on_the_self_service_page(instant, manager, signed_in):
    page = signed_in(manager).get(reverse("self_service_settings")).content.decode()
    assert "known_clients_book_instantly" in page
