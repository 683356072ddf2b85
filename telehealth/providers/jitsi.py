"""Self-hosted Jitsi Meet: one unguessable room per meeting, optionally JWT-protected.

Rooms need no API call: the room name is the meeting's random key, so it reveals nothing
and cannot be guessed. When the deployment has ``app_id``/``app_secret`` (prosody
``authentication = "token"``), every participant URL carries a short-lived HS256 token for
that one room, and only the clinician's token makes them a moderator. The prosody side of
this is described in docs/telehealth.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

import jwt

from telehealth.providers.base import Meeting, MeetingRequest, ProviderError, TelehealthProvider

# Prosody's token_verification allows no clock leeway, so a server clock a little behind
# ours would reject a token whose nbf is exactly the window's opening.
NOT_BEFORE_MARGIN = timedelta(minutes=5)
JWT_AUDIENCE = "jitsi"


def room_name(key: str) -> str:
    # Jitsi lower-cases room names; the key is hex already, the prefix keeps rooms apart
    # from ones people create by hand on a shared server.
    return f"attend-{key.lower()}"


class JitsiProvider(TelehealthProvider):
    name = "jitsi"

    @property
    def base_url(self) -> str:
        base_url = (self.config.get("base_url") or "").rstrip("/")
        if not base_url.startswith("https://"):
            raise ProviderError("Jitsi base_url must be an https:// address.", permanent=True)
        return base_url

    @property
    def domain(self) -> str:
        return self.config.get("domain") or urlsplit(self.base_url).hostname or ""

    @property
    def signs_tokens(self) -> bool:
        return bool(self.config.get("app_id") and self.config.get("app_secret"))

    def create(self, request: MeetingRequest) -> Meeting:
        room = room_name(request.key)
        url = f"{self.base_url}/{quote(room)}"
        return Meeting(provider=self.name, external_id=room, join_url=url, host_url=url, extra={})

    def participant_url(
        self,
        meeting: Meeting,
        *,
        display_name: str,
        moderator: bool,
        valid_from: datetime,
        valid_until: datetime,
    ) -> str:
        if not self.signs_tokens:
            return meeting.join_url
        token = self.token(
            room=meeting.external_id,
            display_name=display_name,
            moderator=moderator,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        return f"{meeting.join_url}?jwt={token}"

    def token(
        self, *, room: str, display_name: str, moderator: bool, valid_from: datetime, valid_until: datetime
    ) -> str:
        affiliation = "owner" if moderator else "member"
        claims = {
            "aud": JWT_AUDIENCE,
            "iss": self.config["app_id"],
            "sub": self.domain,
            "room": room,
            "nbf": int((valid_from - NOT_BEFORE_MARGIN).timestamp()),
            "exp": int(valid_until.timestamp()),
            # Read by the token_moderation plugin (top level) and token_affiliation (context).
            "moderator": moderator,
            "context": {
                "user": {"name": display_name, "moderator": moderator, "affiliation": affiliation},
            },
        }
        return jwt.encode(claims, self.config["app_secret"], algorithm="HS256")
