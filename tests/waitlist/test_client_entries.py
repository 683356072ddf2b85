"""The services the booking page and the client home (selfservice) call for a client's own
waitlist entries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from waitlist import services
from waitlist.models import Band, EntryStatus, WaitlistEntry

from .conftest import NOW

pytestmark = pytest.mark.django_db


def test_the_booking_page_makes_a_routine_entry_that_lasts_the_booking_horizon(
    service_type, make_client, clinician
):
    ann = make_client("Ann")

    entry = services.entry_create_from_booking_page(
        client=ann, service_type=service_type, clinicians=[clinician], weekdays=[0, 2], now=NOW
    )

    assert (entry.band, entry.status, entry.weekdays) == (Band.ROUTINE, EntryStatus.ACTIVE, [0, 2])
    assert list(entry.clinicians.all()) == [clinician]
    assert entry.latest_date == date(2026, 7, 3)  # 60 days (the default horizon) after May 4


def test_asking_twice_for_the_same_service_replaces_the_wishes_instead_of_a_second_entry(
    service_type, make_client
):
    ann = make_client("Ann")
    first = services.entry_create_from_booking_page(client=ann, service_type=service_type, now=NOW)

    again = services.entry_create_from_booking_page(
        client=ann, service_type=service_type, time_windows=[["09:00", "12:00"]], now=NOW + timedelta(days=1)
    )

    assert again.pk == first.pk
    assert WaitlistEntry.objects.get().time_windows == [["09:00", "12:00"]]


def test_the_booking_page_refuses_another_practices_or_a_group_service(
    service_type, group_service, make_client, other_practice
):
    ann = make_client("Ann")
    with pytest.raises(ValidationError) as refused:
        services.entry_create_from_booking_page(client=ann, service_type=group_service, now=NOW)
    assert "service_type" in refused.value.message_dict
    bad_windows = [["12:00", "09:00"]]
    with pytest.raises(ValidationError) as refused:
        services.entry_create_from_booking_page(
            client=ann, service_type=service_type, time_windows=bad_windows, now=NOW
        )
    assert "time_windows" in refused.value.message_dict
    assert not WaitlistEntry.objects.exists()


def test_a_client_removes_their_own_entry_and_no_one_elses(service_type, make_client):
    ann, bob = make_client("Ann"), make_client("Bob")
    entry = services.entry_create_from_booking_page(client=ann, service_type=service_type, now=NOW)
    assert list(services.entries_of_client(ann)) == [entry]

    with pytest.raises(ValidationError):
        services.entry_remove_by_client(entry=entry, client=bob, now=NOW)
    assert WaitlistEntry.objects.get().status == EntryStatus.ACTIVE

    services.entry_remove_by_client(entry=entry, client=ann, now=NOW)
    assert WaitlistEntry.objects.get().status == EntryStatus.REMOVED
    assert list(services.entries_of_client(ann)) == []
