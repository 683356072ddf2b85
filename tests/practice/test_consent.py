"""SMS consent records (SPEC F13): opt-in/opt-out services, their history and the carrier's 21610."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from auditlog.models import LogEntry

from practice.consent import (
    ConsentError,
    client_sms_opt_in,
    client_sms_opt_out,
    client_sms_opt_out_from_carrier,
    clients_for_number,
)
from practice.models import Client, ConsentAction, ConsentEvent, ConsentEventSource, ConsentSource
from practice.services import client_update

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
SHARED_PHONE = "+12125550101"


@pytest.fixture
def consenting(client_ann):
    client_ann.sms_consent_at = NOW - timedelta(days=30)
    client_ann.sms_consent_source = ConsentSource.INTAKE_FORM
    client_ann.save()
    return client_ann


def test_opting_out_clears_consent_and_records_who_and_how(consenting, manager):
    event = client_sms_opt_out(client=consenting, source=ConsentEventSource.VERBAL, by=manager, now=NOW)

    consenting.refresh_from_db()
    assert consenting.has_sms_consent is False
    assert consenting.sms_consent_at is None
    assert consenting.sms_consent_source == ""
    assert consenting.sms_consent_recorded_by == manager
    assert (event.action, event.source, event.recorded_by, event.at, event.changed) == (
        ConsentAction.OPT_OUT,
        ConsentEventSource.VERBAL,
        manager,
        NOW,
        True,
    )
    assert event.practice_id == consenting.practice_id


def test_the_callers_instance_shows_the_new_state(consenting):
    client_sms_opt_out(client=consenting, source=ConsentEventSource.SMS_KEYWORD, now=NOW)

    assert consenting.has_sms_consent is False


def test_opting_out_twice_keeps_one_state_and_records_both_requests(consenting):
    first = client_sms_opt_out(client=consenting, source=ConsentEventSource.SMS_KEYWORD, now=NOW)
    second = client_sms_opt_out(
        client=consenting, source=ConsentEventSource.SMS_KEYWORD, now=NOW + timedelta(minutes=1)
    )

    consenting.refresh_from_db()
    assert consenting.sms_consent_at is None
    assert (first.changed, second.changed) == (True, False)
    assert consenting.consent_events.count() == 2


def test_opting_in_records_consent_once_and_keeps_the_original(client_ann):
    first = client_sms_opt_in(client=client_ann, source=ConsentEventSource.SMS_KEYWORD, now=NOW)
    again = client_sms_opt_in(client=client_ann, source=ConsentEventSource.API, now=NOW + timedelta(days=1))

    client_ann.refresh_from_db()
    assert client_ann.has_sms_consent
    assert client_ann.sms_consent_at == NOW
    assert client_ann.sms_consent_source == ConsentSource.SMS_KEYWORD
    assert (first.changed, again.changed) == (True, False)


def test_opting_in_needs_a_mobile_number(practice):
    client = Client.objects.create(practice=practice, first_name="No", last_name="Phone")

    with pytest.raises(ConsentError):
        client_sms_opt_in(client=client, source=ConsentEventSource.VERBAL, now=NOW)

    assert not ConsentEvent.objects.exists()


def test_a_preference_center_opt_in_keeps_the_client_row_valid_for_staff_edits(client_ann, manager):
    """Client.sms_consent_source has no preference_center choice (yet): the row stays valid."""
    client_sms_opt_in(client=client_ann, source=ConsentEventSource.PREFERENCE_CENTER, now=NOW)

    client_ann.refresh_from_db()
    assert client_ann.has_sms_consent
    client_update(client=client_ann, fields={"last_name": "Avery-Smith"}, sms_consent=True, by=manager)
    assert client_ann.consent_events.get().source == ConsentEventSource.PREFERENCE_CENTER


def test_an_unknown_source_is_refused(client_ann):
    with pytest.raises(ValueError):
        client_sms_opt_out(client=client_ann, source="rumour", now=NOW)


def test_consent_changes_are_audit_logged_on_the_client(consenting, manager):
    client_sms_opt_out(client=consenting, source=ConsentEventSource.VERBAL, by=manager, now=NOW)

    entry = LogEntry.objects.get_for_object(consenting).order_by("-timestamp").first()
    assert "sms_consent_at" in entry.changes_dict


# --- Numbers shared between practices, and the carrier's 21610 ---------------------------------


@pytest.fixture
def same_number_elsewhere(other_practice):
    return Client.objects.create(
        practice=other_practice,
        first_name="Ann",
        last_name="Other",
        phone=SHARED_PHONE,
        sms_consent_at=NOW - timedelta(days=3),
        sms_consent_source=ConsentSource.VERBAL,
    )


def test_a_number_means_the_clients_of_the_practice_texting_from_the_sender(
    practice, other_practice, consenting, same_number_elsewhere
):
    practice.sms_from_number = "+12125550199"
    practice.save()
    other_practice.sms_from_number = "+13105550199"
    other_practice.save()

    reached = clients_for_number(phone=SHARED_PHONE, sender="+12125550199", fall_back_to_all=True)

    assert reached == [consenting]


def test_practices_without_their_own_number_use_the_default_sender(
    settings, practice, other_practice, consenting, same_number_elsewhere
):
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    other_practice.sms_from_number = "+13105550199"
    other_practice.save()

    assert clients_for_number(phone=SHARED_PHONE, sender="+15005550006", fall_back_to_all=False) == [
        consenting
    ]


def test_an_unknown_sender_means_every_client_with_the_number_only_when_asked(
    consenting, same_number_elsewhere
):
    everyone = clients_for_number(phone=SHARED_PHONE, sender="+19995550000", fall_back_to_all=True)
    nobody = clients_for_number(phone=SHARED_PHONE, sender="+19995550000", fall_back_to_all=False)

    assert set(everyone) == {consenting, same_number_elsewhere}
    assert nobody == []


def test_a_carrier_21610_opts_the_number_out_from_that_sender(
    settings, practice, other_practice, consenting, same_number_elsewhere
):
    settings.TWILIO_FROM_NUMBER = ""
    practice.sms_from_number = "+12125550199"
    practice.save()
    other_practice.sms_from_number = "+13105550199"
    other_practice.save()

    changed = client_sms_opt_out_from_carrier(phone=SHARED_PHONE, from_number="+12125550199", now=NOW)

    consenting.refresh_from_db()
    same_number_elsewhere.refresh_from_db()
    assert changed == 1
    assert consenting.has_sms_consent is False
    assert same_number_elsewhere.has_sms_consent  # a different sender: not refused there
    event = consenting.consent_events.get()
    assert event.source == ConsentEventSource.CARRIER
    assert "21610" in event.detail


def test_a_carrier_21610_from_the_default_sender_with_no_known_sender_opts_out_everywhere(
    settings, consenting, same_number_elsewhere
):
    settings.TWILIO_FROM_NUMBER = ""

    assert client_sms_opt_out_from_carrier(phone=SHARED_PHONE, now=NOW) == 2
    assert client_sms_opt_out_from_carrier(phone=SHARED_PHONE, now=NOW) == 0  # already out
