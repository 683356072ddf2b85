"""Per-token request throttling (docs/api.md, "Rate limits").

Each API token has its own budget, ``settings.API_THROTTLE_RATE`` (e.g. "600/minute"), counted in
Django's default cache. Without a CACHES setting that is each web process's own memory, so with
N processes a token may make up to N times the rate; a shared cache (Redis, Memcached or the
database cache) makes it one count. Over the budget: 429 in the API's error shape, with a
``Retry-After`` header saying how many seconds to wait.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from practice.models import ApiToken


class ApiTokenRateThrottle(SimpleRateThrottle):
    scope = "api_token"

    def get_rate(self) -> str:
        # Read per request (not once at import, as DRF's THROTTLE_RATES are): tests and operators
        # can change it without a restart of the code that imported this module.
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None  # not authenticated: the 401 comes first, nothing to count
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
