"""The session cards of the board, My day and My week, and the Needs-attention queue's items,
each rendered from one Jinja2 fragment (staff/jinja2/staff/) into the page's Django template as
ready HTML.

Why a second engine for these fragments: the cards are most of those pages' HTML (40 sessions on
a busy board, ~60 items in a queue), and Django's template language spent ~20 ms of CPU a board
request walking their nodes (B5's profile in docs/benchmarks.md); the compiled Jinja2 template
renders the same HTML in a fraction of that. Times are formatted in Python (``staff.board.clock``)
on the practice's clock.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from django.template import engines
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from staff.board import SessionRow, clock, day_clock

CARDS_TEMPLATE = "staff/session_cards.jinja"
QUEUE_TEMPLATE = "staff/queue_items.jinja"


def render_fragment(request, name: str, context: dict, *, tz: ZoneInfo) -> SafeString:
    """A fragment of the Jinja2 engine as HTML (autoescaped; ``csrf_input`` for its forms),
    with ``clock`` and ``day_clock`` on the practice's clock."""
    template = engines["jinja2"].get_template(name)
    context = {**context, "clock": partial(clock, tz=tz), "day_clock": partial(day_clock, tz=tz)}
    return mark_safe(template.render(context, request))  # the engine autoescaped it


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
    cards = []
    for row in rows:
        version = row.version(now)
        cards.append((row, version, have.get(row.appointment.pk) == version))
    return render_fragment(
        request,
        CARDS_TEMPLATE,
        {
            "cards": cards,
            "now": now,
            "back": back,
            "show_clinician": show_clinician,
            "host_links": host_links,
            "queue_url": reverse("follow_up_list"),
        },
        tz=tz,
    )


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
    """The queue's items as HTML (``staff.board_views.QueueItem``)."""
    return render_fragment(request, QUEUE_TEMPLATE, {"items": items, "back": back}, tz=tz)
