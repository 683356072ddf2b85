"""Doxy.me, manual/EHR links, the fake provider and the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from telehealth.providers import fake
from telehealth.providers.base import MeetingRequest, ProviderError
from telehealth.providers.doxy import DoxyProvider
from telehealth.providers.fake import FakeProvider
from telehealth.providers.jitsi import JitsiProvider
from telehealth.providers.manual import ManualProvider
from telehealth.providers.registry import PROVIDERS, get_provider
from telehealth.providers.zoom import ZoomProvider

STARTS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
REQUEST = MeetingRequest(
    key="c" * 32,
    starts_at=STARTS,
    ends_at=STARTS + timedelta(minutes=45),
    topic="Therapy session",
    host_name="Dr. Smith",
    host_email="smith@riverside.test",
    timezone="America/New_York",
)


@pytest.fixture(autouse=True)
def _clean_fake():
    fake.reset()
    yield
    fake.reset()


def test_doxy_sends_clients_to_the_clinicians_room():
    meeting = DoxyProvider({"room_url": "https://doxy.me/drsmith"}).create(REQUEST)

    assert meeting.join_url == "https://doxy.me/drsmith"
    assert meeting.host_url == "https://doxy.me/sign-in"


@pytest.mark.parametrize("room_url", ["", None, "http://doxy.me/drsmith", "doxy.me/drsmith"])
def test_doxy_without_an_https_room_is_a_permanent_error(room_url):
    with pytest.raises(ProviderError) as caught:
        DoxyProvider({"room_url": room_url}).create(REQUEST)

    assert caught.value.permanent is True


def test_manual_uses_the_configured_link():
    meeting = ManualProvider({"join_url": "https://ehr.example/session/77"}).create(REQUEST)

    assert meeting.join_url == meeting.host_url == "https://ehr.example/session/77"


def test_manual_without_a_link_is_a_permanent_error():
    with pytest.raises(ProviderError) as caught:
        ManualProvider({"join_url": ""}).create(REQUEST)

    assert caught.value.permanent is True


def test_manual_keeps_a_pasted_link_when_the_session_moves():
    provider = ManualProvider({})
    pasted = ManualProvider({"join_url": "https://ehr.example/session/77"}).create(REQUEST)

    assert provider.update(pasted, REQUEST) == pasted


def test_fake_urls_are_deterministic_per_key():
    first = FakeProvider().create(REQUEST)
    again = FakeProvider().create(REQUEST)

    assert first == again
    assert first.join_url == f"{settings.SITE_URL}/meeting/fake/" + "c" * 32
    assert fake.calls == [("create", "c" * 32), ("create", "c" * 32)]


def test_fake_fails_as_told_then_recovers():
    fake.fail_next(times=1, permanent=False, retry_after=12)
    fake.fail_next(times=1, permanent=True)

    with pytest.raises(ProviderError) as transient:
        FakeProvider().create(REQUEST)
    with pytest.raises(ProviderError) as permanent:
        FakeProvider().create(REQUEST)

    assert (transient.value.permanent, transient.value.retry_after) == (False, 12)
    assert permanent.value.permanent is True
    assert FakeProvider().create(REQUEST).join_url.startswith(f"{settings.SITE_URL}/meeting/fake/")


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("jitsi", JitsiProvider),
        ("zoom", ZoomProvider),
        ("doxy", DoxyProvider),
        ("manual", ManualProvider),
        ("fake", FakeProvider),
    ],
)
def test_the_registry_builds_each_provider_with_its_config(name, cls):
    provider = get_provider(name, {"some": "setting"})

    assert isinstance(provider, cls)
    assert provider.config == {"some": "setting"}


def test_every_practice_provider_choice_is_registered():
    from practice.models import TelehealthProvider

    assert set(TelehealthProvider.values) == set(PROVIDERS)


def test_an_unknown_provider_is_a_permanent_error():
    with pytest.raises(ProviderError) as caught:
        get_provider("skype", {})

    assert caught.value.permanent is True
