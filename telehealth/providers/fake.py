"""A provider for development, the demo and tests: deterministic local URLs, no network.

Its join and host links open a page of our own (telehealth.views.fake_meeting, at
``SITE_URL/meeting/fake/<key>``) that stands in for the video meeting, so the demo's
Join → in progress → completed path can be walked by hand instead of ending at a dead host.

Like Django's locmem e-mail backend it records what it was asked to do in ``calls``, and
tests can queue failures with ``fail_next`` to exercise retries and give-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from telehealth.providers.base import Meeting, MeetingRequest, ProviderError, TelehealthProvider

PATH = "/meeting/fake"


def base_url() -> str:
    return settings.SITE_URL.rstrip("/") + PATH


@dataclass(frozen=True)
class _PlannedFailure:
    permanent: bool
    retry_after: float | None


# Module state on purpose: each call builds a new adapter instance, and tests need to
# reach the one that the services will use. reset() runs between tests (see tests).
calls: list[tuple[str, str]] = []
_failures: list[_PlannedFailure] = []


def fail_next(*, times: int = 1, permanent: bool = False, retry_after: float | None = None) -> None:
    """Make the next ``times`` create/update/cancel calls raise a ProviderError."""
    _failures.extend([_PlannedFailure(permanent, retry_after)] * times)


def reset() -> None:
    calls.clear()
    _failures.clear()


def _maybe_fail(action: str) -> None:
    if _failures:
        failure = _failures.pop(0)
        kind = "permanent" if failure.permanent else "transient"
        raise ProviderError(
            f"fake {kind} failure on {action}", permanent=failure.permanent, retry_after=failure.retry_after
        )


class FakeProvider(TelehealthProvider):
    name = "fake"

    def create(self, request: MeetingRequest) -> Meeting:
        calls.append(("create", request.key))
        _maybe_fail("create")
        return Meeting(
            provider=self.name,
            external_id=f"fake-{request.key}",
            join_url=f"{base_url()}/{request.key}",
            host_url=f"{base_url()}/{request.key}?host=1",
            extra={"starts_at": request.starts_at.isoformat()},
        )

    def update(self, meeting: Meeting, request: MeetingRequest) -> Meeting:
        calls.append(("update", meeting.external_id))
        _maybe_fail("update")
        return Meeting(
            provider=self.name,
            external_id=meeting.external_id,
            join_url=meeting.join_url,
            host_url=meeting.host_url,
            extra={**meeting.extra, "starts_at": request.starts_at.isoformat()},
        )

    def cancel(self, meeting: Meeting) -> None:
        calls.append(("cancel", meeting.external_id))
        _maybe_fail("cancel")

    def participant_url(
        self,
        meeting: Meeting,
        *,
        display_name: str,
        moderator: bool,
        valid_from: datetime,
        valid_until: datetime,
    ) -> str:
        return meeting.host_url if moderator else meeting.join_url
