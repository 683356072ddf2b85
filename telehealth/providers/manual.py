"""Manual / EHR-native links: the meeting link is pasted by staff or pushed by the EHR
(e.g. SimplePractice), or is the clinician's fixed room link from their profile.

Without a link there is nothing to create; the permanent error makes the services put the
meeting in "awaiting link" and the session in the follow-up queue until someone adds it
(telehealth.services.meeting_set_link).
"""

from __future__ import annotations

from telehealth.providers.base import Meeting, MeetingRequest, ProviderError, TelehealthProvider


class ManualProvider(TelehealthProvider):
    name = "manual"

    def create(self, request: MeetingRequest) -> Meeting:
        join_url = (self.config.get("join_url") or "").strip()
        if not join_url.startswith("https://"):
            raise ProviderError("No meeting link yet: staff or the EHR must add one.", permanent=True)
        return Meeting(provider=self.name, external_id="", join_url=join_url, host_url=join_url, extra={})
