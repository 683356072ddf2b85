"""The client's home link (/h/<token>) for the footer of the e-mails they get (issue 15 item 6).

The client home belongs to selfservice, which builds on messaging (never the other way round), so
selfservice registers the link maker here in its ``AppConfig.ready``; messaging.compose asks for a
link per e-mail and gets none while nothing is registered. Each link is the client's own opaque
token (only its hash is stored), so a group session's participants each get their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from practice.models import Client

# (client, now) -> the path of a fresh home link, e.g. "/h/<token>"
HomeLinkMaker = Callable[[Client, datetime], str]
_maker: HomeLinkMaker | None = None


def register(maker: HomeLinkMaker) -> None:
    global _maker
    _maker = maker


def home_link_path(client: Client, now: datetime) -> str | None:
    return _maker(client, now) if _maker is not None else None
