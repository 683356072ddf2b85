"""Zoom's event webhook: signed, fresh, de-duplicated, and harmless when anything is off."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from scheduling.models import AppointmentStatus, Attendance
from scheduling.services import appointment_book
from telehealth.models import JoinEvent, JoinSource, Meeting, MeetingState

pytestmark = pytest.mark.django_db

SECRET = "zoom-webhook-secret-token"
STARTS = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
MEETING_ID = "85000000001"
HOST_ID = "zoom-host-1"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = SECRET


def make_session(clients, *, practice, clinician, service_type) -> Meeting:
    appointment = appointment_book(
        practice=practice, clinician=clinician, clients=clients, starts_at=STARTS, service_type=service_type
    )
    return Meeting.objects.create(
        practice=practice,
        appointment=appointment,
        key=Meeting.new_key(),
        provider="zoom",
        state=MeetingState.READY,
        external_id=MEETING_ID,
        join_url=f"https://zoom.invalid/j/{MEETING_ID}",
    )


@pytest.fixture
def meeting(practice, clinician, service_type, client_ann) -> Meeting:
    return make_session([client_ann], practice=practice, clinician=clinician, service_type=service_type)


def sign(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_ZM_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_ZM_SIGNATURE": f"v0={digest}"}


def joined_event(*, name: str = "Ann", participant_id: str = "16778240", join_time=None) -> dict:
    join_time = join_time or (STARTS + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "event": "meeting.participant_joined",
        "event_ts": 1_800_000_000_000,
        "payload": {
            "account_id": "acct-123",
            "object": {
                "id": MEETING_ID,
                "uuid": "uuid==",
                "host_id": HOST_ID,
                "topic": "Therapy session",
                "participant": {
                    "user_id": participant_id,
                    "user_name": name,
                    "id": "",
                    "participant_uuid": f"puuid-{participant_id}",
                    "join_time": join_time,
                },
            },
        },
    }


def post(client, body: bytes, headers: dict):
    return client.post(reverse("zoom_webhook"), data=body, content_type="application/json", **headers)


def deliver(client, event: dict, **sign_options):
    body = json.dumps(event).encode()
    return post(client, body, sign(body, **sign_options))


def test_the_url_validation_challenge_is_answered(client):
    response = deliver(
        client, {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6U"}}
    )

    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6U", hashlib.sha256).hexdigest()
    assert response.status_code == 200
    assert response.json() == {"plainToken": "qgg8vlvZRS6U", "encryptedToken": expected}


def test_a_signed_participant_joined_marks_the_client_joined(client, meeting):
    response = deliver(client, joined_event())

    assert response.status_code == 204
    [event] = JoinEvent.objects.all()
    assert (event.source, event.appointment_id) == (JoinSource.ZOOM_WEBHOOK, meeting.appointment_id)
    assert event.occurred_at == STARTS + timedelta(minutes=1)
    participant = meeting.appointment.participants.get()
    assert participant.joined_at == STARTS + timedelta(minutes=1)
    assert participant.attendance == Attendance.ATTENDED
    meeting.appointment.refresh_from_db()
    assert meeting.appointment.status == AppointmentStatus.IN_PROGRESS


def test_a_duplicate_delivery_changes_nothing(client, meeting):
    first = deliver(client, joined_event())
    second = deliver(client, joined_event())

    assert (first.status_code, second.status_code) == (204, 204)
    assert JoinEvent.objects.count() == 1


def test_a_tampered_body_is_refused(client, meeting):
    body = json.dumps(joined_event()).encode()
    headers = sign(body)
    tampered = body.replace(b'"Ann"', b'"Bob"')

    response = post(client, tampered, headers)

    assert response.status_code == 403
    assert not JoinEvent.objects.exists()


def test_a_signature_made_with_another_secret_is_refused(client, meeting):
    response = deliver(client, joined_event(), secret="not-our-secret")

    assert response.status_code == 403
    assert not JoinEvent.objects.exists()


def test_a_stale_timestamp_is_refused_even_with_a_valid_signature(client, meeting):
    response = deliver(client, joined_event(), timestamp=int(time.time()) - 301)

    assert response.status_code == 403
    assert not JoinEvent.objects.exists()


def test_a_timestamp_within_five_minutes_is_accepted(client, meeting):
    response = deliver(client, joined_event(), timestamp=int(time.time()) - 280)

    assert response.status_code == 204
    assert JoinEvent.objects.count() == 1


def test_without_a_configured_secret_nothing_is_accepted(client, settings, meeting):
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = ""

    response = deliver(client, joined_event(), secret="")

    assert response.status_code == 403


def test_unsigned_requests_are_refused(client, meeting):
    response = post(client, json.dumps(joined_event()).encode(), {})

    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"payload": {}}',
        b'{"event": "meeting.participant_joined", "payload": []}',
        b'{"event": "meeting.participant_joined", "payload": {"object": "x"}}',
        b'{"event": "meeting.participant_joined", "payload": {"object": {"id": "1", "participant": 5}}}',
        b'{"event": "endpoint.url_validation", "payload": {}}',
    ],
    ids=[
        "broken",
        "not-utf8",
        "list",
        "no-event",
        "payload-list",
        "object-str",
        "participant-int",
        "no-token",
    ],
)
def test_malformed_events_get_400_and_change_nothing(client, meeting, body):
    response = post(client, body, sign(body))

    assert response.status_code == 400
    assert not JoinEvent.objects.exists()
    assert meeting.appointment.participants.get().joined_at is None


def test_the_host_joining_is_not_a_client_join(client, meeting):
    event = joined_event(name="Alex Smith")
    event["payload"]["object"]["participant"]["id"] = HOST_ID

    assert deliver(client, event).status_code == 204

    assert not JoinEvent.objects.exists()


def test_a_meeting_that_is_not_ours_is_ignored(client, meeting):
    event = joined_event()
    event["payload"]["object"]["id"] = "99999999999"

    assert deliver(client, event).status_code == 204
    assert not JoinEvent.objects.exists()


def test_a_join_to_a_cancelled_meeting_is_ignored(client, meeting):
    Meeting.objects.filter(pk=meeting.pk).update(state=MeetingState.CANCELLED)

    assert deliver(client, joined_event()).status_code == 204
    assert not JoinEvent.objects.exists()


def test_in_a_group_the_zoom_name_picks_the_client(
    client, practice, clinician, group_service, client_ann, client_bob
):
    meeting = make_session(
        [client_ann, client_bob], practice=practice, clinician=clinician, service_type=group_service
    )

    deliver(client, joined_event(name="bob baker", participant_id="2"))
    deliver(client, joined_event(name="Someone Else", participant_id="3"))

    joined = {p.client_id: p.joined_at is not None for p in meeting.appointment.participants.all()}
    assert joined == {client_ann.pk: False, client_bob.pk: True}
    assert JoinEvent.objects.count() == 1


def test_other_events_are_acknowledged_and_ignored(client, meeting):
    response = deliver(client, {"event": "meeting.ended", "payload": {"object": {"id": MEETING_ID}}})

    assert response.status_code == 204
    assert not JoinEvent.objects.exists()


def test_get_is_not_allowed(client):
    assert client.get(reverse("zoom_webhook")).status_code == 405
