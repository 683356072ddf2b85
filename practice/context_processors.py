"""Context for every template: the current practice and membership; and ``ShortMemo``, the
few-seconds, per-process memory of what the navigation shows on every staff page (the open-queue
count, the dispatcher's heartbeat), so a page view does not pay a query for each (B5,
docs/benchmarks.md). Only such counts and flags are kept there, never a page's rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from django.conf import settings


def current_practice(request):
    return {
        "current_practice": getattr(request, "practice", None),
        "current_membership": getattr(request, "membership", None),
    }


class ShortMemo:
    """Values computed at most once per ``NAV_CACHE_SECONDS`` (default 5) per key in this process.
    A change shows on the next page view after that many seconds at most (in each web process);
    0 turns it off. Every memo made is listed in ``MEMOS`` (the tests clear them between tests)."""

    MAX_KEYS = 10_000

    def __init__(self, name: str):
        self.name = name
        self._values: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()
        MEMOS.append(self)

    def get(self, key: Hashable, compute: Callable[[], object], keep: Callable[[object], bool] | None = None):
        """The value kept for ``key``, else ``compute()``'s, kept when ``keep`` (if given) says so."""
        seconds = getattr(settings, "NAV_CACHE_SECONDS", 5)
        if seconds <= 0:
            return compute()
        now = time.monotonic()
        kept = self._values.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        value = compute()
        if keep is not None and not keep(value):
            return value
        with self._lock:
            if len(self._values) >= self.MAX_KEYS:
                self._values.clear()
            self._values[key] = (now + seconds, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


MEMOS: list[ShortMemo] = []
