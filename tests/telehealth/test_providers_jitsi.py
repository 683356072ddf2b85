"""Jitsi rooms are unguessable and, with a secret, reachable only with a per-person JWT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import time_machine

from telehealth.providers.base import MeetingRequest, ProviderError
from telehealth.providers.jitsi import JitsiProvider

STARTS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ENDS = STARTS + timedelta(minutes=45)
OPENS = STARTS - timedelta(minutes=15)
SECRET = "jitsi-shared-secret-for-tests-0123456789"
SIGNED = {"base_url": "https://meet.riverside.test", "app_id": "attend", "app_secret": SECRET}


def request(key: str = "0f" * 16) -> MeetingRequest:
    return MeetingRequest(
        key=key,
        starts_at=STARTS,
        ends_at=ENDS,
        topic="Therapy session",
        host_name="Dr. Smith",
        host_email="smith@riverside.test",
        timezone="America/New_York",
    )


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["jwt"][0]


def decode(token: str) -> dict:
    # Verify signature and audience, but not the time claims: those are checked below.
    return jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        options={"verify_nbf": False, "verify_exp": False},
    )


def personal_url(provider, meeting, *, name: str, moderator: bool) -> str:
    return provider.participant_url(
        meeting, display_name=name, moderator=moderator, valid_from=OPENS, valid_until=ENDS
    )


def test_the_room_comes_from_the_random_key_and_never_from_names():
    meeting = JitsiProvider(SIGNED).create(request())

    assert meeting.external_id == "attend-" + "0f" * 16
    assert meeting.join_url == "https://meet.riverside.test/attend-" + "0f" * 16
    assert "smith" not in meeting.join_url.lower()


def test_two_sessions_get_two_different_rooms():
    provider = JitsiProvider(SIGNED)

    assert provider.create(request("a" * 32)).join_url != provider.create(request("b" * 32)).join_url


def test_without_a_secret_everyone_gets_the_plain_room_url():
    provider = JitsiProvider({"base_url": "https://meet.jit.si", "app_id": "", "app_secret": ""})
    meeting = provider.create(request())

    assert personal_url(provider, meeting, name="Ann", moderator=False) == meeting.join_url


def test_the_client_token_is_for_this_room_only_and_not_a_moderator():
    provider = JitsiProvider(SIGNED)
    meeting = provider.create(request())

    url = personal_url(provider, meeting, name="Ann", moderator=False)
    claims = decode(token_of(url))

    assert url.startswith(meeting.join_url + "?jwt=")
    assert claims["aud"] == "jitsi"
    assert claims["iss"] == "attend"
    assert claims["sub"] == "meet.riverside.test"
    assert claims["room"] == meeting.external_id
    assert claims["moderator"] is False
    assert claims["context"]["user"] == {"name": "Ann", "moderator": False, "affiliation": "member"}


def test_only_the_clinician_token_makes_a_moderator():
    provider = JitsiProvider(SIGNED)
    meeting = provider.create(request())

    claims = decode(token_of(personal_url(provider, meeting, name="Dr. Smith", moderator=True)))

    assert claims["moderator"] is True
    assert claims["context"]["user"] == {"name": "Dr. Smith", "moderator": True, "affiliation": "owner"}


def test_the_token_is_valid_from_a_little_before_the_window_until_the_session_ends():
    provider = JitsiProvider(SIGNED)
    meeting = provider.create(request())

    claims = decode(token_of(personal_url(provider, meeting, name="Ann", moderator=False)))

    # nbf is early because prosody allows no clock leeway; exp is the end of the session.
    assert claims["nbf"] == int((OPENS - timedelta(minutes=5)).timestamp())
    assert claims["exp"] == int(ENDS.timestamp())


@pytest.mark.parametrize(
    ("moment", "accepted"),
    [
        (OPENS - timedelta(minutes=6), False),
        (OPENS - timedelta(minutes=4), True),
        (ENDS - timedelta(seconds=1), True),
        (ENDS + timedelta(seconds=1), False),
    ],
)
def test_a_jwt_library_accepts_the_token_only_inside_its_validity(moment, accepted):
    provider = JitsiProvider(SIGNED)
    token = token_of(personal_url(provider, provider.create(request()), name="Ann", moderator=False))

    with time_machine.travel(moment, tick=False):
        try:
            jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi")
            valid = True
        except (jwt.ImmatureSignatureError, jwt.ExpiredSignatureError):
            valid = False

    assert valid is accepted


def test_a_token_signed_with_another_secret_is_rejected():
    provider = JitsiProvider(SIGNED | {"app_secret": "someone-elses-secret-0123456789abcdef"})
    token = token_of(personal_url(provider, provider.create(request()), name="Ann", moderator=False))

    with pytest.raises(jwt.InvalidSignatureError):
        decode(token)


def test_an_explicit_domain_overrides_the_host_name_in_sub():
    provider = JitsiProvider(SIGNED | {"domain": "meet.internal"})
    claims = decode(token_of(personal_url(provider, provider.create(request()), name="Ann", moderator=False)))

    assert claims["sub"] == "meet.internal"


def test_a_non_https_server_is_a_permanent_configuration_error():
    with pytest.raises(ProviderError) as caught:
        JitsiProvider({"base_url": "http://meet.riverside.test"}).create(request())

    assert caught.value.permanent is True
