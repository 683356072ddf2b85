"""'Nothing fits — tell me when something opens' on the booking page, and 'Remove me from the
waitlist' on the client home (issue 16 item 1)."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from practice.models import Client, ConsentSource
from selfservice.home import home_link_for
from selfservice.models import OnlineBooking
from tests.selfservice.test_booking_page import _code_from_mail, _needs, _without_csrf
from waitlist.models import EntryStatus, WaitlistEntry
from waitlist.services import entry_create_from_booking_page

pytestmark = pytest.mark.django_db


def _wish(client, practice, **overrides):
    data = {
        "clinician": "any",
        "weekdays": ["0", "2"],
        "day_parts": ["morning"],
        "latest_date": "2026-06-15",
        "first_name": "Nora",
        "last_name": "Quinn",
        "email": "nora@example.org",
        "phone": "+12125550123",
        "sms_consent": "on",
        "website": "",
    }
    data.update(overrides)
    return client.post(reverse("book_waitlist", kwargs={"slug": practice.slug}), data)


def _verify(client, practice):
    return client.post(
        reverse("book_waitlist_verify", kwargs={"slug": practice.slug}), {"code": _code_from_mail()}
    )


def test_a_new_person_joins_the_waitlist_after_the_code(
    client, booking_practice, clinician, service_type, frozen_now
):
    practice = booking_practice
    _needs(client, practice)
    times = client.get(reverse("book_times", kwargs={"slug": practice.slug, "clinician_pk": clinician.pk}))
    assert reverse("book_waitlist", kwargs={"slug": practice.slug}) in times.content.decode()
    form = client.get(reverse("book_waitlist", kwargs={"slug": practice.slug}))
    assert form.status_code == 200 and "Any therapist who fits" in form.content.decode()
    assert clinician.display_name in form.content.decode()
    sent = _wish(client, practice)
    assert sent.status_code == 302 and not WaitlistEntry.objects.exists(), "nothing before the code"
    done = _verify(client, practice)
    assert done.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert entry.client.email == "nora@example.org" and entry.client.source == "online_booking"
    assert entry.client.sms_consent_source == ConsentSource.ONLINE_BOOKING
    assert entry.client.timezone == "America/New_York"
    assert list(entry.clinicians.all()) == [clinician], "any who fits: the matched therapists"
    assert (entry.weekdays, entry.time_windows) == ([0, 2], [["08:00", "12:00"]])
    assert (entry.latest_date, entry.service_type, entry.modality) == (
        date(2026, 6, 15),
        service_type,
        "telehealth",
    )
    assert entry.status == EntryStatus.ACTIVE
    assert "on the waitlist" in client.get(done.url).content.decode()


def test_a_known_client_waits_as_themselves_and_asking_twice_updates_their_entry(
    client, booking_practice, clinician, client_ann, frozen_now
):
    practice = booking_practice
    for weekdays in (["1"], ["3", "4"]):
        _needs(client, practice)
        _wish(client, practice, email=client_ann.email, clinician=str(clinician.pk), weekdays=weekdays)
        _verify(client, practice)
    entry = WaitlistEntry.objects.get()
    assert entry.client == client_ann and entry.weekdays == [3, 4]
    assert Client.objects.count() == 1, "no second record"


def test_the_code_page_is_the_same_for_a_known_and_an_unknown_address(
    client, booking_practice, clinician, client_ann, frozen_now
):
    practice = booking_practice
    _needs(client, practice)
    known = _wish(client, practice, email=client_ann.email)
    known_page = _without_csrf(client.get(known.url))
    unknown = _wish(client, practice, email="nobody@example.org")
    assert known.url == unknown.url and _without_csrf(client.get(unknown.url)) == known_page


def test_a_practice_not_taking_new_clients_says_so_after_the_code(
    client, booking_practice, clinician, frozen_now
):
    OnlineBooking.objects.filter(practice=booking_practice).update(accepts_new_clients=False)
    _needs(client, booking_practice)
    _wish(client, booking_practice)
    answer = _verify(client, booking_practice)
    assert answer.status_code == 200 and "not taking new clients" in answer.content.decode()
    assert not WaitlistEntry.objects.exists() and not Client.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latest_date", "2026-05-01"),
        ("latest_date", "2027-05-01"),
        ("clinician", "99999"),
        ("weekdays", ["9"]),
    ],
)
def test_bad_wishes_are_field_errors(client, booking_practice, clinician, frozen_now, field, value):
    _needs(client, booking_practice)
    answer = _wish(client, booking_practice, **{field: value})
    assert answer.status_code == 200 and "field-error" in answer.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_without_answers_the_waitlist_page_starts_over(client, booking_practice, frozen_now):
    answer = client.get(reverse("book_waitlist", kwargs={"slug": booking_practice.slug}))
    assert answer.status_code == 302 and answer.url.endswith(f"/book/{booking_practice.slug}/")


def test_the_client_home_lists_the_entry_and_removes_it_after_a_confirmation(
    client, booking_practice, clinician, client_ann, client_bob, service_type, frozen_now
):
    entry = entry_create_from_booking_page(
        client=client_ann,
        service_type=service_type,
        weekdays=[0],
        time_windows=[("08:00", "12:00")],
        now=frozen_now,
    )
    bobs = entry_create_from_booking_page(client=client_bob, service_type=service_type, now=frozen_now)
    token = home_link_for(client=client_ann, now=frozen_now)
    home = client.get(reverse("client_home", args=[token])).content.decode()
    assert "Your waitlist" in home and "Monday" in home and "Mornings" in home
    remove_url = reverse("client_waitlist_remove", args=[token, entry.pk])
    assert remove_url in home
    confirm = client.get(remove_url)
    assert confirm.status_code == 200 and "Yes, remove me" in confirm.content.decode()
    entry.refresh_from_db()
    assert entry.status == EntryStatus.ACTIVE, "a GET never removes"
    assert client.post(reverse("client_waitlist_remove", args=[token, bobs.pk])).status_code == 404
    done = client.post(remove_url)
    assert done.status_code == 302
    entry.refresh_from_db()
    bobs.refresh_from_db()
    assert entry.status == EntryStatus.REMOVED and bobs.status == EntryStatus.ACTIVE
    after = client.get(done.url).content.decode()
    assert "off the waitlist" in after and "Your waitlist" not in after
    assert client.post(remove_url).status_code == 404, "removed once"
