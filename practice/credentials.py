"""A practice's telehealth credentials, stored encrypted and never shown again.

The practice settings page writes them ("leave blank to keep"); telehealth reads them when it
calls the provider. They are encrypted with a key derived from ``SECRET_KEY`` (Fernet: AES-128
in CBC mode with an HMAC), so a copy of the database alone does not give them away. Rotating
``SECRET_KEY`` makes stored credentials unreadable: they must then be entered again (the page
says "not set"), and meanwhile the deployment's own settings (settings.TELEHEALTH_PROVIDERS) apply.
"""

from __future__ import annotations

import base64
import hashlib
import json

from auditlog.models import LogEntry
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction

from practice.models import Practice

# provider -> the fields that are its credentials (secret ones are never rendered back).
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "zoom": ("account_id", "client_id", "client_secret"),
    "jitsi": ("app_id", "app_secret"),
}


def _fernet() -> Fernet:
    key = hashlib.sha256(b"attend.practice.credentials:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def practice_credentials(practice: Practice) -> dict[str, dict[str, str]]:
    """{"zoom": {"client_id": …}, …}: what the practice stored; {} if none or unreadable."""
    if not practice.telehealth_credentials:
        return {}
    try:
        plain = _fernet().decrypt(practice.telehealth_credentials.encode())
        data = json.loads(plain)
    except (InvalidToken, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def credentials_set(*, practice: Practice, provider: str, values: dict[str, str], by=None) -> list[str]:
    """Store the non-empty ``values`` for ``provider`` (empty ones keep what is stored). Returns
    the names of the fields changed. Audit-logged with the practice: which fields changed, never
    their values."""
    allowed = CREDENTIAL_FIELDS.get(provider, ())
    changed = [name for name in allowed if values.get(name)]
    if not changed:
        return []
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=practice.pk)
        data = practice_credentials(practice)
        stored = dict(data.get(provider) or {})
        for name in changed:
            stored[name] = values[name].strip()
        data[provider] = stored
        practice.telehealth_credentials = _fernet().encrypt(json.dumps(data).encode()).decode()
        practice.save(update_fields=["telehealth_credentials"])
        LogEntry.objects.log_create(
            practice,
            force_log=True,
            action=LogEntry.Action.UPDATE,
            changes={f"{provider} {name}": ["(hidden)", "(new value, hidden)"] for name in changed},
            **({"actor": by} if by is not None else {}),
        )
    return changed


def credentials_clear(*, practice: Practice, provider: str) -> None:
    with transaction.atomic():
        practice = Practice.objects.select_for_update().get(pk=practice.pk)
        data = practice_credentials(practice)
        if data.pop(provider, None) is None:
            return
        practice.telehealth_credentials = (
            _fernet().encrypt(json.dumps(data).encode()).decode() if data else ""
        )
        practice.save(update_fields=["telehealth_credentials"])


def provider_overrides(practice: Practice, provider: str) -> dict[str, str]:
    """What the practice stored for ``provider``, to lay over the deployment's settings."""
    return {k: v for k, v in (practice_credentials(practice).get(provider) or {}).items() if v}
