"""A session the waitlist refilled is marked on the board (in words), and the metrics page shows
the refill figures (#16 on the staff pages, #14 owns them)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from scheduling.services import appointment_cancel
from waitlist import services
from waitlist.models import FreedSlot, Offer
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)

SLOT = datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)


@pytest.fixture
def refilled(practice, service_type, make_client, book, clock):
    """Lee cancels Friday 10:00; Ann is offered it first, Bob accepts in the second wave."""
    ann, bob = make_client("Ann"), make_client("Bob")
    for client in (ann, bob):
        waitlist_entry_create(
            practice=practice, client=client, service_type=service_type, now=NOW - timedelta(days=1)
        )
    book(make_client("Kim"), SLOT + timedelta(hours=2))  # a session booked the usual way
    appointment_cancel(appointment=book(make_client("Lee"), SLOT), now=NOW)
    services.waitlist_sweep(now=NOW + timedelta(minutes=121))
    services.offer_accept(offer=Offer.objects.get(client=bob), now=NOW + timedelta(minutes=151))
    return FreedSlot.objects.get().filled_appointment


def test_the_board_marks_the_refilled_session_in_words(signed_in, front_desk, refilled):
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        page = signed_in(front_desk).get(reverse("board"), {"date": "2026-05-08"})
    cards = {row.appointment.pk: row for row in page.context["rows"]}
    assert cards[refilled.pk].refilled
    assert [row.refilled for row in page.context["rows"]].count(True) == 1
    html = page.content.decode()
    assert html.count("Refilled from waitlist") == 1
    card = html[html.index(f'id="session-{refilled.pk}"') :]
    assert "Refilled from waitlist" in card[: card.index("</header>")]


def test_a_slot_staff_booked_over_is_not_marked(signed_in, front_desk, refilled):
    Offer.objects.filter(slot__filled_appointment=refilled).update(status="taken")
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        page = signed_in(front_desk).get(reverse("board"), {"date": "2026-05-08"})
    assert "Refilled from waitlist" not in page.content.decode()


def test_the_metrics_page_shows_the_refill_figures(signed_in, manager, refilled):
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        page = signed_in(manager).get(reverse("metrics"))
    html = " ".join(page.content.decode().split())
    assert "Waitlist refills, last 30 days" in html
    for figure, shown in (
        ("freed", "1"),
        ("refilled", "1 (100.0%)"),
        ("median", "151 min"),
        ("offers", "2.0"),
        ("sessions", "1"),
        ("revenue", "$150.00"),
    ):
        assert f'data-figure="{figure}">{shown}</dd>' in html, figure
