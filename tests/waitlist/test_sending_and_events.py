"""Offer messages are sent exactly once (a dispatcher that died after claiming loses nothing and
duplicates nothing); the webhook events; the cascade stops at the setting."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from integrations.models import WebhookEndpoint, WebhookEvent
from messaging.backends import locmem
from scheduling.services import appointment_cancel
from waitlist import services
from waitlist.models import FreedSlot, MessageState, Offer, OfferMessage, WaitlistSettings
from waitlist.services import waitlist_entry_create

from .conftest import NEW_YORK, NOW

pytestmark = pytest.mark.django_db(transaction=True)
FRIDAY_10 = datetime(2026, 5, 8, 10, tzinfo=NEW_YORK)


@pytest.fixture
def planned_offer(practice, service_type, make_client, book, clock):
    """An offer whose message is planned but not yet sent (the immediate send found the
    provider down)."""
    waitlist_entry_create(practice=practice, client=make_client("Ann"), service_type=service_type, now=NOW)
    session = book(make_client("Lee"), FRIDAY_10)
    appointment_cancel(appointment=session, now=NOW)
    OfferMessage.objects.update(
        state=MessageState.PLANNED, provider_message_id="", sent_at=None, body="x /o/t"
    )
    locmem.outbox.clear()
    return Offer.objects.get()


def test_a_dispatcher_that_died_after_claiming_loses_nothing_and_duplicates_nothing(planned_offer, clock):
    OfferMessage.objects.update(
        state=MessageState.CLAIMED, claim_token="dead", lease_until=NOW - timedelta(seconds=1)
    )

    assert services.offer_messages_dispatch(now=NOW) == 1
    assert services.offer_messages_dispatch(now=NOW) == 0

    assert len(locmem.outbox) == 1
    assert OfferMessage.objects.get().state == MessageState.ACCEPTED


def test_a_dispatcher_killed_right_after_its_claim_committed_loses_nothing_and_duplicates_nothing(
    planned_offer, monkeypatch
):
    """Through the real code: the claim commits, then the process dies before marking the row
    sending (SystemExit raised at that point). Another dispatcher leaves the live claim alone, and
    once its lease has run out sends the offer exactly once."""

    def killed(self, now):
        raise SystemExit("killed between claiming and sending")

    with monkeypatch.context() as patch:
        patch.setattr(Offer, "is_live_at", killed)
        with pytest.raises(SystemExit):
            services.offer_messages_dispatch(now=NOW)
    message = OfferMessage.objects.get()
    assert (message.state, locmem.outbox) == (MessageState.CLAIMED, [])

    assert services.offer_messages_dispatch(now=NOW + timedelta(seconds=30)) == 0  # its lease still runs
    later = NOW + services.CLAIM_LEASE + timedelta(seconds=1)
    assert services.offer_messages_dispatch(now=later) == 1
    assert services.offer_messages_dispatch(now=later + timedelta(minutes=5)) == 0

    [text] = locmem.outbox
    assert "/o/" in text.body
    assert OfferMessage.objects.get().state == MessageState.ACCEPTED


def test_a_message_left_while_sending_is_unknown_and_never_resent(planned_offer, clock):
    OfferMessage.objects.update(
        state=MessageState.SENDING, claim_token="dead", lease_until=NOW - timedelta(seconds=1)
    )

    assert services.offer_messages_dispatch(now=NOW) == 0

    assert locmem.outbox == []
    assert OfferMessage.objects.get().state == MessageState.UNKNOWN


def test_a_message_for_an_offer_that_ended_is_not_sent(planned_offer, clock):
    services.offer_decline(offer=planned_offer, now=NOW)
    services.offer_messages_dispatch(now=NOW)
    assert locmem.outbox == []
    assert OfferMessage.objects.get(offer=planned_offer).state == MessageState.SKIPPED


def test_the_waitlist_sends_its_webhook_events(practice, service_type, make_client, book, clock):
    WebhookEndpoint.objects.create(
        practice=practice,
        url="https://ehr.example.org/hooks",
        secret="whsec_dGVzdA==",
        event_types=[
            "slot.freed",
            "waitlist.offer.sent",
            "waitlist.offer.accepted",
            "waitlist.offer.expired",
        ],
    )
    ann, bob = make_client("Ann"), make_client("Bob")
    waitlist_entry_create(
        practice=practice, client=ann, service_type=service_type, now=NOW - timedelta(days=2)
    )
    waitlist_entry_create(
        practice=practice, client=bob, service_type=service_type, now=NOW - timedelta(days=1)
    )
    appointment_cancel(appointment=book(make_client("Lee"), FRIDAY_10), now=NOW)
    services.waitlist_sweep(now=NOW + timedelta(minutes=121))
    services.offer_accept(offer=Offer.objects.get(client=bob), now=NOW + timedelta(minutes=130))

    types = list(WebhookEvent.objects.order_by("pk").values_list("type", flat=True))
    assert types == [
        "slot.freed",
        "waitlist.offer.sent",
        "waitlist.offer.expired",
        "waitlist.offer.sent",
        "waitlist.offer.accepted",
    ]
    body = json.loads(WebhookEvent.objects.get(type="waitlist.offer.accepted").body)
    assert "Bob" not in json.dumps(body)  # ids and times only
    assert body["data"]["offer"]["status"] == "accepted"


def test_the_cascade_stops_at_the_setting(practice, service_type, make_client, book, clock):
    WaitlistSettings.objects.create(practice=practice, max_cascade_steps=1)
    eve = make_client("Eve")
    later = book(eve, datetime(2026, 5, 15, 15, tzinfo=NEW_YORK))
    waitlist_entry_create(
        practice=practice, client=eve, service_type=service_type, earlier_than=later, now=NOW
    )
    appointment_cancel(appointment=book(make_client("Lee"), FRIDAY_10), now=NOW)

    assert services.offer_accept(offer=Offer.objects.get(), now=NOW) == services.ACCEPTED

    assert not FreedSlot.objects.filter(source_appointment=later).exists()


def test_nothing_is_recorded_when_nobody_waits(practice, make_client, book, clock):
    appointment_cancel(appointment=book(make_client("Lee"), FRIDAY_10), now=NOW)
    assert not FreedSlot.objects.exists()
