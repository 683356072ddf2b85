"""The Zoom adapter against a local server that speaks Zoom's OAuth and meetings API."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from telehealth.providers import zoom as zoom_module
from telehealth.providers.base import Meeting, MeetingRequest, ProviderError
from telehealth.providers.zoom import ZoomProvider, retry_after_seconds
from tests.telehealth.vendor_servers import FakeZoom, closed_port_url

STARTS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture
def zoom():
    zoom_module.clear_token_cache()
    with FakeZoom() as server:
        yield server
    zoom_module.clear_token_cache()


def request(**changes) -> MeetingRequest:
    fields = {
        "key": "a" * 32,
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=45),
        "topic": "Therapy session",
        "host_name": "Dr. Smith",
        "host_email": "smith@riverside.test",
        "timezone": "America/New_York",
    } | changes
    return MeetingRequest(**fields)


def provider(zoom: FakeZoom, **overrides) -> ZoomProvider:
    return ZoomProvider(zoom.config(user_id="smith@riverside.test", **overrides))


def test_create_schedules_a_meeting_with_waiting_room_and_no_join_before_host(zoom):
    meeting = provider(zoom).create(request())

    [call] = zoom.requests_to("POST", "/v2/users/")
    assert call.path == "/v2/users/smith@riverside.test/meetings"
    assert call.body == {
        "topic": "Therapy session",
        "type": 2,
        "start_time": "2026-11-24T15:00:00Z",
        "duration": 45,
        "timezone": "America/New_York",
        "settings": {"waiting_room": True, "join_before_host": False},
    }
    assert meeting == Meeting(
        provider="zoom",
        external_id="85000000001",
        join_url="https://zoom.invalid/j/85000000001?pwd=abc",
        host_url="https://zoom.invalid/s/85000000001?zak=host-key",
        extra={"uuid": "uuid-85000000001==", "host_id": FakeZoom.HOST_ID},
    )


def test_start_time_is_sent_in_utc_whatever_zone_the_request_uses(zoom):
    from zoneinfo import ZoneInfo

    local = STARTS.astimezone(ZoneInfo("America/New_York"))
    provider(zoom).create(request(starts_at=local, ends_at=local + timedelta(minutes=50)))

    [call] = zoom.requests_to("POST", "/v2/users/")
    assert call.body["start_time"] == "2026-11-24T15:00:00Z"
    assert call.body["duration"] == 50


def test_token_comes_from_account_credentials_grant_with_basic_auth_and_is_cached(zoom):
    adapter = provider(zoom)
    adapter.create(request())
    ZoomProvider(zoom.config(user_id="other@riverside.test")).create(request())

    [token_call] = zoom.token_requests
    assert token_call.query == {"grant_type": "account_credentials", "account_id": FakeZoom.ACCOUNT_ID}
    credentials = base64.b64encode(b"client-abc:secret-xyz").decode()
    assert token_call.headers["authorization"] == f"Basic {credentials}"
    assert [c.headers["authorization"] for c in zoom.requests_to("POST", "/v2/")] == ["Bearer token-1"] * 2


def test_a_token_about_to_expire_is_not_used(zoom):
    zoom.token_lifetime = 30  # inside the safety margin: never worth caching
    adapter = provider(zoom)
    adapter.create(request())
    adapter.create(request())

    assert len(zoom.token_requests) == 2


def test_a_401_refreshes_the_token_once_and_retries(zoom):
    adapter = provider(zoom)
    adapter.create(request())
    zoom.expire_tokens()  # Zoom revoked the cached token early

    meeting = adapter.create(request())

    assert meeting.external_id == "85000000002"
    assert len(zoom.token_requests) == 2
    auths = [c.headers["authorization"] for c in zoom.requests_to("POST", "/v2/")]
    assert auths == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_a_401_with_a_fresh_token_is_permanent(zoom):
    zoom.reject_all_tokens = True

    with pytest.raises(ProviderError) as caught:
        provider(zoom).create(request())

    assert caught.value.permanent is True
    assert len(zoom.token_requests) == 2  # one refresh, not a loop
    assert zoom.meetings == {}


def test_wrong_client_credentials_are_permanent(zoom):
    with pytest.raises(ProviderError) as caught:
        provider(zoom, client_secret="wrong").create(request())

    assert caught.value.permanent is True
    assert zoom.requests_to("POST", "/v2/") == []


def test_missing_configuration_is_permanent_without_any_request(zoom):
    with pytest.raises(ProviderError) as caught:
        provider(zoom, account_id="").create(request())

    assert caught.value.permanent is True
    assert zoom.seen == []


def test_429_is_transient_and_carries_retry_after(zoom):
    zoom.answer_next(
        "POST", "/v2/users/", 429, {"code": 429, "message": "Too many requests"}, {"Retry-After": "7"}
    )

    with pytest.raises(ProviderError) as caught:
        provider(zoom).create(request())

    assert caught.value.permanent is False
    assert caught.value.retry_after == 7.0
    assert "429" in str(caught.value)


def test_a_server_error_is_transient(zoom):
    zoom.answer_next("POST", "/v2/users/", 500, {"code": 500, "message": "Internal error"})

    with pytest.raises(ProviderError) as caught:
        provider(zoom).create(request())

    assert caught.value.permanent is False
    assert caught.value.retry_after is None


def test_a_response_slower_than_the_timeout_is_transient(zoom):
    zoom.answer_next("POST", "/v2/users/", 201, {"id": 1, "join_url": "https://zoom.invalid/j/1"}, delay=1.5)

    with pytest.raises(ProviderError) as caught:
        provider(zoom, timeout=(0.5, 0.3)).create(request())

    assert caught.value.permanent is False
    assert "in time" in str(caught.value)


def test_a_refused_connection_is_transient(zoom):
    adapter = ZoomProvider(zoom.config(api_base=closed_port_url() + "/v2"))

    with pytest.raises(ProviderError) as caught:
        adapter.create(request())

    assert caught.value.permanent is False


def test_an_unknown_zoom_user_is_permanent(zoom):
    zoom.answer_next("POST", "/v2/users/", 404, {"code": 1001, "message": "User does not exist."})

    with pytest.raises(ProviderError) as caught:
        provider(zoom).create(request())

    assert caught.value.permanent is True
    assert "1001" in str(caught.value)


def test_update_patches_the_time_of_the_same_meeting(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())
    later = STARTS + timedelta(days=1, hours=2)

    updated = adapter.update(meeting, request(starts_at=later, ends_at=later + timedelta(minutes=60)))

    [patch] = zoom.requests_to("PATCH", "/v2/meetings/85000000001")
    assert patch.body["start_time"] == "2026-11-25T17:00:00Z"
    assert patch.body["duration"] == 60
    assert updated.join_url == meeting.join_url
    assert zoom.meetings["85000000001"]["start_time"] == "2026-11-25T17:00:00Z"


def test_update_of_a_meeting_deleted_at_zoom_creates_a_new_one(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())
    del zoom.meetings[meeting.external_id]

    replacement = adapter.update(meeting, request())

    assert replacement.external_id == "85000000002"
    assert len(zoom.requests_to("POST", "/v2/users/")) == 2


def test_cancel_deletes_the_meeting(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())

    adapter.cancel(meeting)

    assert [c.path for c in zoom.requests_to("DELETE")] == ["/v2/meetings/85000000001"]
    assert zoom.meetings == {}


def test_cancelling_a_meeting_zoom_no_longer_has_is_fine(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())
    adapter.cancel(meeting)

    adapter.cancel(meeting)  # 404 now: already gone, which is the goal

    assert len(zoom.requests_to("DELETE")) == 2


def test_cancel_failing_with_a_server_error_is_transient(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())
    zoom.answer_next("DELETE", "/v2/meetings/", 503, {"code": 503, "message": "Unavailable"})

    with pytest.raises(ProviderError) as caught:
        adapter.cancel(meeting)

    assert caught.value.permanent is False


def test_the_host_gets_a_fresh_start_url_and_clients_the_join_url(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())
    window = {"valid_from": STARTS, "valid_until": STARTS + timedelta(minutes=45)}

    host = adapter.participant_url(meeting, display_name="Dr. Smith", moderator=True, **window)
    client = adapter.participant_url(meeting, display_name="Ann", moderator=False, **window)

    assert host.startswith("https://zoom.invalid/s/85000000001?zak=host-key&fresh=")
    assert client == meeting.join_url
    assert len(zoom.requests_to("GET")) == 1  # only the host link asks Zoom


def test_the_host_falls_back_to_the_join_url_when_zoom_is_down(zoom):
    adapter = provider(zoom)
    meeting = adapter.create(request())
    zoom.answer_next("GET", "/v2/meetings/", 502, None)

    host = adapter.participant_url(
        meeting, display_name="Dr. Smith", moderator=True, valid_from=STARTS, valid_until=STARTS
    )

    assert host == meeting.join_url


def test_retry_after_accepts_seconds_and_http_dates():
    in_a_minute = datetime.now(UTC) + timedelta(seconds=60)

    assert retry_after_seconds("120") == 120.0
    assert 55 <= retry_after_seconds(format_datetime(in_a_minute, usegmt=True)) <= 61
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
