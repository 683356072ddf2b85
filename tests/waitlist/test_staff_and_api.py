"""The staff waitlist page and /api/v1/waitlist/ (list, create, read, update, delete)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from practice.tokens import api_token_create
from scheduling.services import appointment_cancel
from tests.api.conftest import API, api_client
from waitlist import services
from waitlist.metrics import refill_figures
from waitlist.models import EntryStatus, FreedSlot, Offer, OfferStatus, SlotStatus, WaitlistEntry
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(practice):
    return api_client(api_token_create(practice=practice, name="EHR")[1])


def test_the_api_creates_lists_reads_updates_and_removes_entries(
    api, practice, service_type, clinician, client_ann
):
    created = api.post(
        f"{API}/waitlist/",
        {
            "client": client_ann.pk,
            "service_type": service_type.pk,
            "clinicians": [clinician.pk],
            "weekdays": [0, 2],
            "time_windows": [["09:00", "12:00"]],
            "band": "soon",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api.get(f"{API}/waitlist/").json()["count"] == 1
    assert api.get(f"{API}/waitlist/{pk}/").json()["band"] == "soon"
    changed = api.patch(f"{API}/waitlist/{pk}/", {"band": "urgent", "status": "paused"}, format="json")
    assert (changed.json()["band"], changed.json()["status"]) == ("urgent", "paused")
    assert api.delete(f"{API}/waitlist/{pk}/").json()["status"] == "removed"


def test_the_api_refuses_another_practices_client(api, service_type, other_client):
    answer = api.post(
        f"{API}/waitlist/", {"client": other_client.pk, "service_type": service_type.pk}, format="json"
    )
    assert answer.status_code == 400


def test_the_staff_page_shows_entries_offers_and_freed_times(
    signed_in, front_desk, practice, service_type, make_client, book, clock
):
    ann = make_client("Ann")
    waitlist_entry_create(
        practice=practice, client=ann, service_type=service_type, now=NOW - timedelta(days=22)
    )
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    appointment_cancel(appointment=session, now=NOW)

    page = signed_in(front_desk).get("/waitlist/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "Ann Waiting" in text and "Soon (was routine)" in text and "22 days" in text
    assert "Skip this client" in text and "(120 min)" in text
    assert "1 time freed; 0 refilled from the waitlist (0 %)" in text


def test_the_refill_figures(practice, service_type, make_client, book, clock):
    ann, bob = make_client("Ann"), make_client("Bob")
    for client in (ann, bob):
        waitlist_entry_create(
            practice=practice, client=client, service_type=service_type, now=NOW - timedelta(days=1)
        )
    appointment_cancel(
        appointment=book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)), now=NOW
    )
    services.waitlist_sweep(now=NOW + timedelta(minutes=121))
    services.offer_accept(offer=Offer.objects.get(client=bob), now=NOW + timedelta(minutes=151))

    figures = refill_figures(practice=practice, now=NOW + timedelta(hours=3))

    assert (figures.freed, figures.refilled, figures.refilled_share) == (1, 1, 1.0)
    assert figures.median_minutes_to_refill == 151
    assert figures.offers_per_refill == 2
    assert figures.revenue_recovered == Decimal("150.00")


def test_staff_skip_a_client_and_offer_a_slot_again(
    signed_in, front_desk, practice, service_type, make_client, book, clock
):
    ann, bob = make_client("Ann"), make_client("Bob")
    waitlist_entry_create(
        practice=practice, client=ann, service_type=service_type, now=NOW - timedelta(days=2)
    )
    session = book(make_client("Lee"), datetime(2026, 5, 8, 10, tzinfo=NEW_YORK))
    appointment_cancel(appointment=session, now=NOW)
    http = signed_in(front_desk)

    http.post(f"/waitlist/offers/{Offer.objects.get().pk}/skip/")
    assert Offer.objects.get().status == OfferStatus.SKIPPED
    slot = FreedSlot.objects.get()
    assert slot.status == SlotStatus.UNFILLED  # nobody else waits

    http.post(
        "/waitlist/add/",
        {"client": bob.pk, "service_type": service_type.pk, "band": "routine"},
    )
    assert WaitlistEntry.objects.get(client=bob).status == EntryStatus.ACTIVE
    http.post(f"/waitlist/slots/{slot.pk}/offer/")
    assert Offer.objects.get(client=bob).status == OfferStatus.LIVE
    assert Offer.objects.get(client=ann).status == OfferStatus.SKIPPED


def test_the_other_practice_sees_nothing(signed_in, other_manager, practice, service_type, client_ann):
    waitlist_entry_create(practice=practice, client=client_ann, service_type=service_type)
    page = signed_in(other_manager).get("/waitlist/")
    assert "Ann Avery" not in page.content.decode()


def test_the_api_answers_a_rule_broken_with_400(api, practice, service_type, client_ann):
    entry = waitlist_entry_create(practice=practice, client=client_ann, service_type=service_type)
    api.delete(f"{API}/waitlist/{entry.pk}/")
    answer = api.patch(f"{API}/waitlist/{entry.pk}/", {"status": "active"}, format="json")
    assert answer.status_code == 400
    bad = api.patch(f"{API}/waitlist/{entry.pk}/", {"time_windows": [["12:00", "09:00"]]}, format="json")
    assert bad.status_code == 400
