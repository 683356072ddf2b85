"""Zoom (for Healthcare) through a Server-to-Server OAuth app.

One access token per account is cached in the process until shortly before it expires and
refreshed once if the API answers 401 (revoked or rotated early). Failures map onto
ProviderError: rate limits (429, with Retry-After), server errors, timeouts and connection
errors are transient; any other 4xx, and a 401 that survives a fresh token, is permanent.
Zoom only ever sees a generic topic, never a client's name.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from math import ceil
from urllib.parse import quote

import requests

from telehealth.providers.base import Meeting, MeetingRequest, ProviderError, TelehealthProvider

logger = logging.getLogger(__name__)

# (connect, read) seconds. Meetings are created by workers, but the host link asks Zoom for a
# fresh start URL while the clinician waits, so neither may hang.
DEFAULT_TIMEOUT = (3.05, 10.0)
# Treat a token as expired this long before Zoom does, so a request never races its expiry.
TOKEN_EXPIRY_MARGIN = 60.0
SCHEDULED_MEETING = 2


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()


_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


def clear_token_cache() -> None:
    with _tokens_lock:
        _tokens.clear()


def retry_after_seconds(header: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(response: requests.Response) -> str:
    """Zoom's error code and message; never the request, which could be echoed back."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("message"):
        return f"Zoom answered {response.status_code} (code {body.get('code', '?')}): {body['message']}"[:300]
    return f"Zoom answered {response.status_code}"


def _error_for(response: requests.Response) -> ProviderError:
    status = response.status_code
    if status == 429:
        return ProviderError(
            _describe(response),
            permanent=False,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    return ProviderError(_describe(response), permanent=status < 500)


class ZoomProvider(TelehealthProvider):
    name = "zoom"

    # --- HTTP ---------------------------------------------------------------------------

    @property
    def timeout(self):
        return self.config.get("timeout") or DEFAULT_TIMEOUT

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return requests.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as error:
            raise ProviderError(
                f"Zoom did not answer in time ({type(error).__name__}).", permanent=False
            ) from error
        except requests.RequestException as error:
            raise ProviderError(f"Could not reach Zoom ({type(error).__name__}).", permanent=False) from error

    def _cache_key(self) -> tuple[str, str, str]:
        return (
            self.config.get("oauth_url", ""),
            self.config.get("account_id", ""),
            self.config.get("client_id", ""),
        )

    def _access_token(self, *, fresh: bool = False) -> str:
        key = self._cache_key()
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not fresh and cached.expires_at > time.monotonic():
                return cached.value
        for setting in ("account_id", "client_id", "client_secret", "oauth_url"):
            if not self.config.get(setting):
                raise ProviderError(f"Zoom is not configured: {setting} is missing.", permanent=True)
        response = self._send(
            "POST",
            self.config["oauth_url"],
            params={"grant_type": "account_credentials", "account_id": self.config["account_id"]},
            auth=(self.config["client_id"], self.config["client_secret"]),
        )
        if response.status_code != 200:
            raise _error_for(response)
        try:
            body = response.json()
            value = body["access_token"]
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderError("Zoom's token answer was not understood.", permanent=False) from error
        token = _Token(value, time.monotonic() + max(lifetime - TOKEN_EXPIRY_MARGIN, 0.0))
        with _tokens_lock:
            _tokens[key] = token
        return value

    def _api(self, method: str, path: str, *, json: dict | None = None) -> requests.Response:
        """Call the API with a cached token; on 401 get a new token and try exactly once more."""
        url = self.config.get("api_base", "").rstrip("/") + path
        response = None
        for fresh in (False, True):
            token = self._access_token(fresh=fresh)
            response = self._send(method, url, json=json, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                return response
            logger.info(
                "zoom: 401 from %s %s, %s", method, path, "giving up" if fresh else "refreshing token"
            )
        return response

    # --- Meetings -----------------------------------------------------------------------

    @staticmethod
    def _schedule(request: MeetingRequest) -> dict:
        minutes = ceil((request.ends_at - request.starts_at).total_seconds() / 60)
        return {
            "topic": request.topic,
            "start_time": request.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": minutes,
            "timezone": request.timezone,
        }

    def create(self, request: MeetingRequest) -> Meeting:
        user_id = self.config.get("user_id") or "me"
        body = {
            **self._schedule(request),
            "type": SCHEDULED_MEETING,
            "settings": {"waiting_room": True, "join_before_host": False},
        }
        response = self._api("POST", f"/users/{quote(user_id, safe='')}/meetings", json=body)
        if response.status_code != 201:
            raise _error_for(response)
        try:
            data = response.json()
            return Meeting(
                provider=self.name,
                external_id=str(data["id"]),
                join_url=data["join_url"],
                host_url=data.get("start_url", ""),
                extra={"uuid": data.get("uuid", ""), "host_id": data.get("host_id", "")},
            )
        except (ValueError, KeyError, TypeError) as error:
            # The meeting may exist at Zoom; a retry creates another, harmless and unreachable.
            raise ProviderError("Zoom's meeting answer was not understood.", permanent=False) from error

    def update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        response = self._api("PATCH", f"/meetings/{quote(meeting.external_id)}", json=self._schedule(request))
        if response.status_code == 404:
            # Deleted at Zoom (by hand, or expired): the session gets a new meeting.
            return self.create(request)
        if response.status_code not in (200, 204):
            raise _error_for(response)
        return meeting

    def cancel(self, meeting: Meeting) -> None:
        response = self._api("DELETE", f"/meetings/{quote(meeting.external_id)}")
        if response.status_code in (200, 204, 404):  # 404: already gone, which is what we want
            return
        raise _error_for(response)

    def participant_url(
        self,
        meeting: Meeting,
        *,
        display_name: str,
        moderator: bool,
        valid_from: datetime,
        valid_until: datetime,
    ) -> str:
        if not moderator:
            return meeting.join_url
        # A start_url embeds a host key that Zoom expires after about two hours, so the one
        # stored at creation is usually stale: ask for a fresh one. Failing that, the join
        # URL still works for a clinician signed in to Zoom as the host.
        try:
            response = self._api("GET", f"/meetings/{quote(meeting.external_id)}")
            if response.status_code == 200:
                return response.json().get("start_url") or meeting.join_url
        except (ProviderError, ValueError, AttributeError):
            pass
        return meeting.join_url
