"""The public booking page end to end (Django test client): needs → matches → a time → details →
code → a request that holds the slot."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse

from scheduling.models import Hold
from selfservice.models import BookingRequest, Concern, OnlineBooking, Payer, VerificationCode

pytestmark = pytest.mark.django_db


def _needs(client, practice, **overrides):
    data = {
        "concerns": [Concern.objects.get(practice=practice, name="Anxiety").pk],
        "modality": "telehealth",
        "language": "",
        "payer": Payer.objects.get(practice=practice, name="Aetna").pk,
        "age_group": "adult",
        "state": "NY",
        "timezone": "America/New_York",
    }
    data.update(overrides)
    return client.post(reverse("book_start", kwargs={"slug": practice.slug}), data)


def _first_start(client, practice, clinician) -> str:
    page = client.get(reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}))
    assert page.status_code == 200
    return re.search(r'name="start" value="(\d+)"', page.content.decode()).group(1)


def _details(client, practice, **overrides):
    data = {
        "first_name": "Nora",
        "last_name": "Quinn",
        "email": "nora@example.org",
        "phone": "+12125550123",
        "sms_consent": "on",
        "policy": "on",
        "website": "",
    }
    data.update(overrides)
    return client.post(reverse("book_details", kwargs={"slug": practice.slug}), data)


def _without_csrf(response) -> str:
    """The page as a person sees it: each render masks the CSRF token differently."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def _code_from_mail() -> str:
    return re.search(r"Your code is (\d{6})", mail.outbox[-1].body).group(1)


def test_a_new_client_requests_a_matched_slot_and_it_is_held(client, booking_practice, clinician, frozen_now):
    practice = booking_practice
    assert _needs(client, practice).status_code == 302
    matches = client.get(reverse("book_matches", kwargs={"slug": practice.slug}))
    assert clinician.display_name in matches.content.decode()
    assert "Works with anxiety" in matches.content.decode()
    start = _first_start(client, practice, clinician)
    # New clients keep 24 hours' notice: Monday noon → the first time is Tuesday 12:00 or later.
    assert int(start) >= (frozen_now + timedelta(hours=24)).timestamp()
    chosen = client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    assert chosen.status_code == 302
    assert _details(client, practice).status_code == 302
    assert Hold.objects.count() == 0, "nothing is held before the e-mail is verified"
    verified = client.post(
        reverse("book_verify", kwargs={"slug": practice.slug}), {"code": _code_from_mail()}
    )
    assert verified.status_code == 302
    request = BookingRequest.objects.get()
    assert request.hold is not None and int(request.starts_at.timestamp()) == int(start)
    assert request.email == "nora@example.org" and request.sms_consent
    done = client.get(verified.url)
    assert "Request sent" in done.content.decode()


def test_no_client_data_in_any_url(client, booking_practice, clinician, frozen_now):
    practice = booking_practice
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    response = _details(client, practice)
    assert "nora" not in response.url.lower() and "quinn" not in response.url.lower()


def test_a_wrong_code_holds_nothing_and_five_wrong_tries_burn_the_code(
    client, booking_practice, clinician, frozen_now
):
    practice = booking_practice
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    _details(client, practice)
    code = _code_from_mail()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        page = client.post(reverse("book_verify", kwargs={"slug": practice.slug}), {"code": wrong})
        assert page.status_code == 200 and "not right" in page.content.decode()
    page = client.post(reverse("book_verify", kwargs={"slug": practice.slug}), {"code": code})
    assert page.status_code == 200, "the right code no longer works after five wrong tries"
    assert not BookingRequest.objects.exists() and not Hold.objects.exists()


def test_the_honeypot_sends_no_code_and_answers_like_a_person(
    client, booking_practice, clinician, frozen_now
):
    practice = booking_practice
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    response = _details(client, practice, website="http://spam.example")
    assert response.status_code == 302 and response.url.endswith("/verify/")
    assert mail.outbox == [] and not VerificationCode.objects.exists()


def test_codes_are_rate_limited_per_address(client, booking_practice, clinician, frozen_now):
    practice = booking_practice
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    for _ in range(3):
        assert _details(client, practice).status_code == 302
    refused = _details(client, practice)
    assert refused.status_code == 200 and "Too many codes" in refused.content.decode()
    assert len(mail.outbox) == 3


def test_the_same_answer_whether_or_not_the_email_is_known(
    client, booking_practice, clinician, client_ann, frozen_now
):
    practice = booking_practice
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    known = _details(client, practice, email=client_ann.email)
    unknown = _details(client, practice, email="nobody-here@example.org")
    assert known.status_code == unknown.status_code == 302 and known.url == unknown.url
    assert _without_csrf(client.get(known.url)) == _without_csrf(client.get(unknown.url))


def test_a_slot_taken_meanwhile_says_so_and_shows_fresh_times(
    client, booking_practice, clinician, client_bob, service_type, frozen_now
):
    from datetime import UTC, datetime

    from scheduling.services import appointment_book

    practice = booking_practice
    _needs(client, practice)
    start = _first_start(client, practice, clinician)
    client.post(
        reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}), {"start": start}
    )
    _details(client, practice)
    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_bob],
        starts_at=datetime.fromtimestamp(int(start), tz=UTC),
        service_type=service_type,
    )
    response = client.post(
        reverse("book_verify", kwargs={"slug": practice.slug}), {"code": _code_from_mail()}
    )
    assert response.status_code == 302
    page = client.get(response.url)
    assert "someone took that time" in page.content.decode()
    assert f'value="{start}"' not in page.content.decode()
    assert not BookingRequest.objects.exists()


def test_the_page_is_off_until_the_practice_turns_it_on(client, booking_practice):
    OnlineBooking.objects.filter(practice=booking_practice).update(enabled=False)
    assert client.get(reverse("book_start", kwargs={"slug": booking_practice.slug})).status_code == 404


def test_hard_filters_hide_a_clinician_not_licensed_in_the_clients_state(
    client, booking_practice, clinician, frozen_now
):
    _needs(client, booking_practice, state="CA")
    page = client.get(reverse("book_matches", kwargs={"slug": booking_practice.slug}))
    assert clinician.display_name not in page.content.decode()
    assert "No therapist here fits" in page.content.decode()


@pytest.mark.parametrize(
    ("zone", "first_time"), [("America/New_York", "12:00 PM"), ("America/Los_Angeles", "9:00 AM")]
)
def test_times_show_on_the_clock_the_client_chose(
    client, booking_practice, clinician, frozen_now, zone, first_time
):
    """Monday noon in New York, 24 h notice: the first time is Tuesday 12:00 in New York, which a
    client in Los Angeles reads as 9:00 AM, on Tuesday either way."""
    _needs(client, booking_practice, timezone=zone)
    page = client.get(
        reverse("book_times", kwargs={"slug": booking_practice.slug, "clinician_pk": clinician.pk})
    )
    html = page.content.decode()
    first_button = re.search(r'name="start" value="\d+" class="[^"]*">([^<]+)<', html).group(1)
    assert first_button == first_time
    assert "Tuesday, May 5" in html and "Monday, May 4" not in html
