"""Per-practice API tokens: create, authenticate, revoke (SPEC F19).

A token is ``att_`` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256
hash is stored. A salted slow hash (like passwords) is not needed: the token has 256 bits of
entropy, so nobody can guess it from the hash, and a plain hash lets us find the row with one
indexed lookup instead of checking every token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from practice.models import ApiToken, Practice

TOKEN_PREFIX = "att_"
# "att_" and 8 random characters: enough to tell a practice's tokens apart, far too few to
# help anyone guess the rest.
DISPLAY_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is informational; writing it on every API request would make each read a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_create(*, practice: Practice, name: str, created_by=None) -> tuple[ApiToken, str]:
    """Create a token and return it with the raw key, which is shown once and never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the token a name that says what uses it."]})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": [f"Use at most {NAME_MAX_LENGTH} characters."]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        practice=practice,
        name=name,
        prefix=raw[:DISPLAY_PREFIX_LENGTH],
        key_hash=hash_token(raw),
        created_by=created_by,
    )
    return token, raw


def api_token_authenticate(raw: str | None, *, now: datetime | None = None) -> ApiToken | None:
    """The active token matching ``raw``, or None (unknown, malformed or revoked)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("practice").filter(key_hash=hash_token(raw)).first()
    if token is None or token.revoked_at is not None:
        return None
    now = now or timezone.now()
    stale_before = now - LAST_USED_RESOLUTION
    # One conditional UPDATE, no save(): concurrent requests do not race on the row, and a
    # token used many times a minute is written at most once a minute.
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before)
    ).update(last_used_at=now)
    if token.last_used_at is None or token.last_used_at < stale_before:
        token.last_used_at = now
    return token


def api_token_revoke(*, token: ApiToken, now: datetime | None = None) -> ApiToken:
    """Revoke a token for good. Revoking twice keeps the first revocation time."""
    now = now or timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.refresh_from_db(fields=["revoked_at"])
    return token
