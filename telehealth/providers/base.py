"""What every telehealth provider adapter takes and returns.

Adapters are small classes that turn a ``MeetingRequest`` into a ``Meeting`` (plain data,
never an HTTP response) and raise one error type, ``ProviderError``, whose ``permanent``
flag tells the caller whether trying again could help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MeetingRequest:
    """What the provider needs to know about a session. ``key`` is random and unique per
    meeting; ``topic`` is generic: client names never leave Attend."""

    key: str
    starts_at: datetime
    ends_at: datetime
    topic: str
    host_name: str
    host_email: str
    timezone: str


@dataclass(frozen=True)
class Meeting:
    provider: str
    external_id: str
    join_url: str
    host_url: str
    extra: dict = field(default_factory=dict)


class ProviderError(Exception):
    """A provider call failed. ``permanent=False`` means a later retry may succeed
    (rate limit, outage, timeout); ``retry_after`` is the provider's hint in seconds."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ProviderError({self.message!r}, permanent={self.permanent}, retry_after={self.retry_after})"


class TelehealthProvider:
    """Base class of the adapters. ``config`` is the deployment's settings for this provider
    (settings.TELEHEALTH_PROVIDERS[name]) plus what is specific to the clinician."""

    name = ""

    def __init__(self, config: dict | None = None):
        self.config = dict(config or {})

    def create(self, request: MeetingRequest) -> Meeting:
        raise NotImplementedError

    def update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        """Move an existing meeting to the request's time. Providers whose rooms have no
        time (Jitsi, Doxy.me, a pasted link) keep the meeting as it is."""
        return meeting

    def cancel(self, meeting: Meeting) -> None:
        """Revoke the meeting. Providers without a server-side meeting have nothing to do:
        the join page stops handing out the link once the session is cancelled."""
        return None

    def participant_url(
        self,
        meeting: Meeting,
        *,
        display_name: str,
        moderator: bool,
        valid_from: datetime,
        valid_until: datetime,
    ) -> str:
        """The URL one person is sent to: the host URL for the clinician, else the join URL."""
        if moderator and meeting.host_url:
            return meeting.host_url
        return meeting.join_url
