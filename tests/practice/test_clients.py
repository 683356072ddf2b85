"""Client records: field-level validation, consent recording, audit and access logs."""

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from practice.models import Client, ConsentEvent

pytestmark = pytest.mark.django_db


def client_data(**extra):
    data = {
        "first_name": "Cara",
        "last_name": "Cole",
        "preferred_name": "",
        "phone": "(212) 555-0199",
        "email": "cara@example.test",
        "timezone": "",
        "preferred_channel": "sms",
        "status": "active",
        "consent_source": "intake_form",
    }
    return data | extra


def test_a_client_is_added_with_the_phone_in_e164_and_consent_recorded(signed_in, front_desk, practice):
    http = signed_in(front_desk)

    response = http.post(reverse("client_create"), client_data(sms_consent="on"))

    client = Client.objects.get(last_name="Cole")
    assert response["Location"] == reverse("client_detail", args=[client.pk])
    assert client.phone.as_e164 == "+12125550199"
    assert client.sms_consent_at is not None
    assert client.sms_consent_source == "intake_form"
    assert client.sms_consent_recorded_by == front_desk
    assert ConsentEvent.objects.get(client=client).source == "intake_form"


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"phone": "not a phone"}, "phone", "valid"),
        ({"timezone": "Mars/Olympus"}, "timezone", "valid choice"),
        ({"email": "nope@"}, "email", "valid email"),
        ({"sms_consent": "on", "phone": ""}, "phone", "mobile number to record consent"),
        ({"first_name": ""}, "first_name", "required"),
    ],
)
def test_bad_client_input_is_refused_beside_its_field(signed_in, manager, override, field, message):
    http = signed_in(manager)

    response = http.post(reverse("client_create"), client_data(**override))

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Client.objects.exists()


def test_withdrawing_consent_clears_it_and_is_audited_with_the_actor(signed_in, manager, client_ann):
    client_ann.sms_consent_at = client_ann.created_at
    client_ann.sms_consent_source = "intake_form"
    client_ann.save()
    http = signed_in(manager)

    http.post(
        reverse("client_edit", args=[client_ann.pk]),
        client_data(first_name="Ann", last_name="Avery", phone="+12125550101"),
    )

    client_ann.refresh_from_db()
    assert client_ann.sms_consent_at is None
    event = ConsentEvent.objects.get(client=client_ann)
    assert (event.action, event.recorded_by, event.changed) == ("opt_out", manager, True)
    entry = (
        LogEntry.objects.get_for_object(client_ann).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    )
    assert entry.actor == manager
    assert "sms_consent_at" in entry.changes_dict


def test_viewing_a_client_record_is_access_logged(signed_in, manager, client_ann):
    http = signed_in(manager)

    assert http.get(reverse("client_detail", args=[client_ann.pk])).status_code == 200

    access = LogEntry.objects.get_for_object(client_ann).filter(action=LogEntry.Action.ACCESS)
    assert access.count() == 1
    assert access.get().actor == manager


def test_a_clinician_sees_only_clients_of_their_own_sessions(
    signed_in, clinician_user, practice, clinician, client_ann, client_bob, service_type, tomorrow_10am
):
    from scheduling.services import appointment_book

    appointment_book(
        practice=practice,
        clinician=clinician,
        clients=[client_ann],
        starts_at=tomorrow_10am,
        service_type=service_type,
    )
    http = signed_in(clinician_user)

    listing = http.get(reverse("client_list"))

    assert [c.pk for c in listing.context["page"].object_list] == [client_ann.pk]
    assert http.get(reverse("client_detail", args=[client_bob.pk])).status_code == 404
    assert http.get(reverse("client_create")).status_code == 403


def test_the_client_list_searches_by_name(signed_in, manager, client_ann, client_bob):
    http = signed_in(manager)

    listing = http.get(reverse("client_list"), {"q": "bak"})

    assert [c.pk for c in listing.context["page"].object_list] == [client_bob.pk]
