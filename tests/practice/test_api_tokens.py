"""Per-practice API tokens: the create_api_token command and practice.tokens services."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from practice.models import ApiToken
from practice.tokens import api_token_authenticate, api_token_create, api_token_revoke

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)


def run_create_api_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_token_prints_a_token_that_authenticates(practice):
    out, err = run_create_api_token("--practice", "riverside", "--name", "EHR sync")

    raw = out.strip().splitlines()[-1]
    token = api_token_authenticate(raw)
    assert token is not None
    assert token.practice == practice
    assert token.name == "EHR sync"
    # The note goes to stderr, and never repeats the secret.
    assert "cannot be shown again" in err
    assert raw not in err


def test_stdout_holds_only_the_token_so_scripts_can_capture_it(practice):
    out, _ = run_create_api_token("--practice", "riverside")

    assert out.strip().count("\n") == 0
    assert out.strip().startswith("att_")
    assert ApiToken.objects.get().name == "Command-line token"


def test_only_the_hash_of_the_token_is_stored(practice):
    token, raw = api_token_create(practice=practice, name="EHR sync")

    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["key_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert not any(isinstance(value, str) and raw in value for value in stored.values())
    assert stored["prefix"] == raw[:12]
    assert len(raw) > 40


def test_unknown_slug_is_a_clear_command_error(practice):
    with pytest.raises(CommandError, match=r"No practice has the slug 'nowhere'.*riverside"):
        run_create_api_token("--practice", "nowhere")
    assert not ApiToken.objects.exists()


def test_a_blank_name_is_rejected_as_a_name_error(practice):
    with pytest.raises(ValidationError) as caught:
        api_token_create(practice=practice, name="   ")
    assert "name" in caught.value.message_dict

    with pytest.raises(CommandError, match="name"):
        run_create_api_token("--practice", "riverside", "--name", "")
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_rejected(practice):
    token, raw = api_token_create(practice=practice, name="Old integration")

    api_token_revoke(token=token)

    assert api_token_authenticate(raw) is None
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


def test_revoking_twice_keeps_the_first_revocation_time(practice):
    token, _ = api_token_create(practice=practice, name="Old integration")

    api_token_revoke(token=token, now=T0)
    api_token_revoke(token=token, now=T0 + timedelta(days=1))

    assert ApiToken.objects.get(pk=token.pk).revoked_at == T0


@pytest.mark.parametrize("raw", ["", None, "att_", "att_not-a-real-token", "Bearer something", "x" * 5000])
def test_unknown_or_malformed_tokens_are_rejected(practice, raw):
    api_token_create(practice=practice, name="Real one")

    assert api_token_authenticate(raw) is None


def test_a_token_authenticates_only_to_its_own_practice(practice, other_practice):
    _, ours = api_token_create(practice=practice, name="Ours")
    _, theirs = api_token_create(practice=other_practice, name="Theirs")

    assert api_token_authenticate(ours).practice == practice
    assert api_token_authenticate(theirs).practice == other_practice
    assert ours != theirs


def test_last_used_is_recorded_at_most_once_a_minute(practice):
    token, raw = api_token_create(practice=practice, name="EHR sync")

    api_token_authenticate(raw, now=T0)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == T0

    seen = api_token_authenticate(raw, now=T0 + timedelta(seconds=30))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == T0
    assert seen.last_used_at == T0

    api_token_authenticate(raw, now=T0 + timedelta(minutes=2))
    assert ApiToken.objects.get(pk=token.pk).last_used_at == T0 + timedelta(minutes=2)
