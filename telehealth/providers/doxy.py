"""Doxy.me: every clinician has one personal room; there is no API to create meetings.

The room URL comes from the clinician's profile (``telehealth_room_url``). Clients reach it
only through their /j/<token> link, which stops working when the session is cancelled.
"""

from __future__ import annotations

from telehealth.providers.base import Meeting, MeetingRequest, ProviderError, TelehealthProvider

DEFAULT_PROVIDER_URL = "https://doxy.me/sign-in"


class DoxyProvider(TelehealthProvider):
    name = "doxy"

    def create(self, request: MeetingRequest) -> Meeting:
        room_url = (self.config.get("room_url") or "").strip()
        if not room_url.startswith("https://"):
            raise ProviderError(
                "The clinician has no Doxy.me room link (https://doxy.me/…) in their profile.", permanent=True
            )
        # The clinician starts the session from their Doxy.me dashboard, not the waiting room.
        host_url = self.config.get("provider_url") or DEFAULT_PROVIDER_URL
        return Meeting(provider=self.name, external_id="", join_url=room_url, host_url=host_url, extra={})

    def update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        # The clinician may have changed their room since: follow the profile.
        return self.create(request)
