"""The session cards of the board, My day and My week, and the Needs-attention queue's items,
each rendered from one Jinja2 fragment (staff/jinja2/staff/) into the page's Django template as
ready HTML, and kept: a card's HTML is rendered once per card version, an item's once per what it
shows, and then read from this process's memory (``FragmentCache``) until it changes.

Why a second engine for these fragments: the cards are most of those pages' HTML (40 sessions on
a busy board, ~60 items in a queue), and Django's template language spent ~20 ms of CPU a board
request walking their nodes (B5's profile in docs/benchmarks.md); the compiled Jinja2 template
renders the same HTML in a fraction of that. Times are formatted in Python (``staff.board.clock``)
on the practice's clock.

Why the kept HTML is never stale: its key is a fingerprint of everything the fragment renders
from — the card's version (``SessionRow.version``: the facts read for this request, the statuses
the clock decides included), or the queue item's values — and of the page's options (time zone,
links back, which parts show). A change to a session changes its facts, so its key; the old HTML
is simply not asked for again. The CSRF field is kept as a marker and each page puts its own
token in. The HTML holds client names, so it stays in the web process's own memory (bounded, least
recently used first out), never in a shared cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.middleware.csrf import get_token
from django.template import engines
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from markupsafe import Markup

from staff.board import SessionRow, clock, day_clock

CARD_TEMPLATE = "staff/session_card.jinja"
QUEUE_ITEM_TEMPLATE = "staff/queue_item.jinja"

# What a fragment renders for its forms' CSRF field; each page puts its own token there.
CSRF_MARKER = "\x00csrf\x00"
CSRF_INPUT = Markup(f'<input type="hidden" name="csrfmiddlewaretoken" value="{CSRF_MARKER}">')


class FragmentCache:
    """Rendered fragments by key, least recently used out first (``FRAGMENT_CACHE_ENTRIES``,
    default 4,000: ~12 MB of cards per web process; 0 keeps nothing). Thread-safe."""

    def __init__(self):
        self._html: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> str | None:
        with self._lock:
            html = self._html.get(key)
            if html is not None:
                self._html.move_to_end(key)
            return html

    def put(self, key: bytes, html: str) -> None:
        limit = getattr(settings, "FRAGMENT_CACHE_ENTRIES", 4000)
        if limit <= 0:
            return
        with self._lock:
            self._html[key] = html
            self._html.move_to_end(key)
            while len(self._html) > limit:
                self._html.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._html.clear()

    def __len__(self) -> int:
        return len(self._html)


fragments = FragmentCache()


def _key(*parts) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()


def _render(name: str, context: dict, *, tz: ZoneInfo) -> str:
    """One fragment of the Jinja2 engine, autoescaped, with ``clock`` and ``day_clock`` on the
    practice's clock and the CSRF marker for its forms."""
    template = engines["jinja2"].get_template(name)
    return template.render(
        {
            **context,
            "clock": partial(clock, tz=tz),
            "day_clock": partial(day_clock, tz=tz),
            "csrf_input": CSRF_INPUT,
        }
    )


def _kept_or_rendered(key: bytes, name: str, context: dict, *, tz: ZoneInfo) -> str:
    html = fragments.get(key)
    if html is None:
        html = _render(name, context, tz=tz)
        fragments.put(key, html)
    return html


def _with_token(request, html: str) -> SafeString:
    """The page's CSRF token in every form of ``html`` (one token for the page, as Django's own
    ``csrf_input``; asked for only when a form is there, which also sets the CSRF cookie)."""
    if CSRF_MARKER in html:
        html = html.replace(CSRF_MARKER, get_token(request))
    return mark_safe(html)  # the engine autoescaped every fragment


def session_cards(
    request,
    rows: list[SessionRow],
    *,
    tz: ZoneInfo,
    now: datetime,
    back: str,
    show_clinician: bool = False,
    host_links: bool = False,
    have: dict[int, str] | None = None,
) -> SafeString:
    """The cards of ``rows`` as HTML (autoescaped by the engine; forms carry the CSRF field).
    ``have``: session id -> the card version the browser shows (the live refresh); a card still
    at that version is sent as an empty placeholder the script fills with the card it has."""
    if not rows:
        return mark_safe("")
    have = have or {}
    queue_url = reverse("follow_up_list")
    options = (tz.key, back, show_clinician, host_links, queue_url)
    parts = []
    for row in rows:
        version = row.version(now)
        if have.get(row.appointment.pk) == version:
            parts.append(format_html('\n<article data-keep="{}"></article>', row.appointment.pk))
            continue
        context = {
            "session": row,
            "version": version,
            "now": now,
            "back": back,
            "show_clinician": show_clinician,
            "host_links": host_links,
            "queue_url": queue_url,
        }
        parts.append("\n" + _kept_or_rendered(_key("card", version, options), CARD_TEMPLATE, context, tz=tz))
    return _with_token(request, "".join(parts))


# The live refresh's header: "<session id>:<version> ..." of the cards on screen.
HAVE_HEADER = "HTTP_X_ATTEND_HAVE"
MAX_HAVE = 500


def cards_on_screen(request) -> dict[int, str]:
    """The versions the browser says it shows; anything malformed is ignored (a full refresh)."""
    have = {}
    for item in request.META.get(HAVE_HEADER, "").split()[:MAX_HAVE]:
        pk, _, version = item.partition(":")
        if pk.isdigit() and len(version) == 16 and all(c in "0123456789abcdef" for c in version):
            have[int(pk)] = version
    return have


def queue_items(request, items: list, *, tz: ZoneInfo, back: str) -> SafeString:
    """The queue's items as HTML (``staff.board_views.QueueItem``: plain values, so its ``repr``
    holds everything the item shows)."""
    parts = []
    for item in items:
        key = _key("queue item", repr(item), tz.key, back)
        parts.append(
            "\n  " + _kept_or_rendered(key, QUEUE_ITEM_TEMPLATE, {"item": item, "back": back}, tz=tz)
        )
    return _with_token(request, "".join(parts))
