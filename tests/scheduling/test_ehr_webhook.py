"""The inbound EHR webhook (SPEC F20): HMAC-SHA256 over "<timestamp>.<raw body>" with the
practice's secret; forged, stale, replayed and malformed requests are 4xx with no side effects."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from auditlog.models import LogEntry
from django.core.management import call_command
from django.utils import timezone

from messaging.models import OutboxMessage
from practice.models import Client
from scheduling.ehr import ehr_webhook_secret_rotate, sign
from scheduling.models import Appointment, AppointmentStatus, EhrWebhookEvent

URL = "/hooks/ehr/riverside/"


@pytest.fixture
def secret(practice) -> str:
    return ehr_webhook_secret_rotate(practice=practice)


def deliver(
    http, secret: str, event: dict | bytes, *, timestamp: int | None = None, signature: str | None = None
):
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "HTTP_ATTEND_TIMESTAMP": timestamp,
        "HTTP_ATTEND_SIGNATURE": signature or sign(secret=secret, timestamp=timestamp, body=body),
    }
    return http.post(URL, body, content_type="application/json", **headers)


def client_event(event_id="evt_1", **data) -> dict:
    return {
        "id": event_id,
        "type": "client.upserted",
        "source": "simplepractice",
        "data": {"external_id": "C-17", "first_name": "Erin", "last_name": "Example", **data},
    }


def appointment_event(
    clinician, service_type, starts_at, event_id="evt_2", kind="appointment.created"
) -> dict:
    return {
        "id": event_id,
        "type": kind,
        "source": "simplepractice",
        "data": {
            "external_id": "A-100",
            "clinician": clinician.pk,
            "clients": ["C-17"],
            "service_type": service_type.pk,
            "starts_at": starts_at.isoformat(),
        },
    }


def nothing_changed() -> bool:
    return not (Client.objects.exists() or Appointment.objects.exists() or EhrWebhookEvent.objects.exists())


def error_body(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    return body


def test_a_signed_event_is_applied_and_recorded(client, secret):
    response = deliver(client, secret, client_event())

    assert response.status_code == 200, response.content
    assert response.json()["result"] == "created"
    erin = Client.objects.get()
    assert (erin.external_source, erin.external_id) == ("simplepractice", "C-17")
    event = EhrWebhookEvent.objects.get()
    assert (event.event_id, event.result, event.object_id) == ("evt_1", "created", erin.pk)
    entry = LogEntry.objects.get_for_object(erin).get()
    assert entry.actor_email == 'EHR webhook "simplepractice"'


def test_created_changed_and_cancelled_events_follow_the_appointment(
    client, secret, clinician, service_type, tomorrow_10am, django_capture_on_commit_callbacks
):
    deliver(client, secret, client_event())
    with django_capture_on_commit_callbacks(execute=True):
        created = deliver(client, secret, appointment_event(clinician, service_type, tomorrow_10am))
    planned = OutboxMessage.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        # The EHR sends "changed" with the same data under a new event id: nothing happens.
        same = deliver(
            client,
            secret,
            appointment_event(clinician, service_type, tomorrow_10am, "evt_3", "appointment.changed"),
        )
    later = tomorrow_10am + timedelta(hours=3)
    moved = deliver(
        client, secret, appointment_event(clinician, service_type, later, "evt_4", "appointment.changed")
    )
    cancel = {
        "id": "evt_5",
        "type": "appointment.cancelled",
        "source": "simplepractice",
        "data": {"external_id": "A-100"},
    }
    cancelled = deliver(client, secret, cancel)

    assert [r.json()["result"] for r in (created, same, moved, cancelled)] == [
        "created",
        "unchanged",
        "rescheduled",
        "cancelled",
    ]
    assert planned > 0 and OutboxMessage.objects.count() >= planned
    live = Appointment.objects.exclude(status=AppointmentStatus.RESCHEDULED).get()
    assert (live.starts_at, live.status) == (later, AppointmentStatus.CANCELLED)


def test_no_duplicate_reminders_when_the_ehr_repeats_itself(
    client, secret, clinician, service_type, tomorrow_10am, django_capture_on_commit_callbacks
):
    deliver(client, secret, client_event())
    counts = []
    for number in range(3):
        event = appointment_event(
            clinician, service_type, tomorrow_10am, f"evt_repeat_{number}", "appointment.changed"
        )
        with django_capture_on_commit_callbacks(execute=True):
            deliver(client, secret, event)
        counts.append(OutboxMessage.objects.count())

    assert Appointment.objects.count() == 1
    assert counts[0] > 0 and counts == [counts[0]] * 3


def test_a_replayed_event_id_is_409_and_changes_nothing(client, secret):
    deliver(client, secret, client_event(preferred_name="E"))
    replay = deliver(client, secret, client_event(preferred_name="Changed"))

    error_body(replay, 409)
    assert Client.objects.get().preferred_name == "E"
    assert EhrWebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "changed_body", "no_signature", "no_timestamp", "stale", "future"],
)
def test_forged_and_stale_requests_are_401_with_no_side_effects(client, secret, tamper):
    event = client_event()
    body = json.dumps(event).encode()
    now = int(time.time())
    kwargs: dict = {}
    if tamper == "wrong_secret":
        kwargs["signature"] = sign(secret="whsec_guess", timestamp=str(now), body=body)
    elif tamper == "changed_body":
        kwargs["signature"] = sign(secret=secret, timestamp=str(now), body=body)
        body = json.dumps(client_event(first_name="Mallory")).encode()
    elif tamper == "no_signature":
        kwargs["signature"] = "v1="
    elif tamper == "stale":
        kwargs["timestamp"] = now - 301
    elif tamper == "future":
        # Well past the tolerance: one second over would pass on a machine slow enough to take
        # that second between signing and checking (it did, under load).
        kwargs["timestamp"] = now + 360
    if tamper == "no_timestamp":
        response = client.post(
            URL,
            body,
            content_type="application/json",
            HTTP_ATTEND_SIGNATURE=sign(secret=secret, timestamp="", body=body),
        )
    else:
        response = deliver(client, secret, body, **kwargs)

    error_body(response, 401)
    assert nothing_changed()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (b"{not json", "non_field_errors"),
        (b"[1, 2]", "non_field_errors"),
        ({"id": "e", "type": "appointment.deleted", "source": "simplepractice", "data": {}}, "type"),
        ({"id": "", "type": "client.upserted", "source": "simplepractice", "data": {}}, "id"),
        ({"id": "e", "type": "client.upserted", "source": "Bad Source", "data": {}}, "source"),
        ({"id": "e", "type": "client.upserted", "source": "simplepractice", "data": []}, "data"),
        (
            {"id": "e", "type": "client.upserted", "source": "simplepractice", "data": {"external_id": "C"}},
            "data.first_name",
        ),
    ],
)
def test_malformed_events_are_400_with_no_side_effects(client, secret, event, field):
    body = error_body(deliver(client, secret, event), 400)

    assert field in body["errors"]
    assert nothing_changed()


def test_a_rejected_event_can_be_sent_again_once_fixed(client, secret):
    bad = client_event(phone="555")
    error_body(deliver(client, secret, bad), 400)

    fixed = deliver(client, secret, client_event(phone="+12125550199"))

    assert fixed.status_code == 200
    assert Client.objects.get().phone.as_e164 == "+12125550199"


def test_unknown_practices_and_practices_without_a_secret_are_404(client, other_practice, secret):
    body = json.dumps(client_event()).encode()
    response = client.post("/hooks/ehr/harbor/", body, content_type="application/json")

    error_body(response, 404)
    assert client.get(URL).status_code == 405


def test_rotation_keeps_the_previous_secret_for_a_day(client, practice, secret):
    new = ehr_webhook_secret_rotate(practice=practice)

    assert deliver(client, secret, client_event("evt_old")).status_code == 200
    assert deliver(client, new, client_event("evt_new")).status_code == 200
    later = timezone.now() + timedelta(hours=25)
    with time_machine.travel(later, tick=False):
        assert (
            deliver(client, secret, client_event("evt_late"), timestamp=int(later.timestamp())).status_code
            == 401
        )


def test_the_command_creates_then_rotates_and_prints_only_the_secret(practice):
    out, err = StringIO(), StringIO()
    call_command("ehr_webhook_secret", "--practice", "riverside", stdout=out, stderr=err)
    first = out.getvalue().strip()
    out = StringIO()
    call_command("ehr_webhook_secret", "--practice", "riverside", "--rotate", stdout=out, stderr=StringIO())

    assert first.startswith("whsec_") and out.getvalue().strip().startswith("whsec_")
    assert out.getvalue().strip() != first
    assert "/hooks/ehr/riverside/" in err.getvalue()


def test_the_signing_recipe_in_the_docs_is_accepted(client, secret):
    """Signed the way docs/api.md tells an EHR to, independently of scheduling.ehr.sign."""
    import hashlib
    import hmac

    body = json.dumps(client_event()).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()

    response = client.post(
        URL,
        body,
        content_type="application/json",
        HTTP_ATTEND_TIMESTAMP=timestamp,
        HTTP_ATTEND_SIGNATURE=f"v1={digest}",
    )

    assert response.status_code == 200, response.content
