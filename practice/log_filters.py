"""Keep client link tokens and search terms out of the logs (SPEC F24; docs/security.md).

Django's own loggers write the request path of every 4xx/5xx answer ("Not Found: /a/<token>",
"Forbidden (CSRF …): /p/<token>"), and the development server every request line. The opaque
token in a client link is that client's credential, so the console handler masks it: /a/, /p/,
/j/, /t/, /s/, /cal/, the client home's /h/, the waitlist offer's /o/ and the booking proposal's
/r/ links show as /a/… in the log.

Searches (the operator console's and the staff client list's ``?q=``) are often client names;
the console also carries the search into its change pages as ``_changelist_filters``. Their
values are masked the same way: ``?q=…``.
"""

from __future__ import annotations

import logging
import re

CLIENT_LINK = re.compile(r"(/(?:a|p|j|t|s|h|o|r|cal)/)[A-Za-z0-9_-]{8,}")
# q= (and its URL-encoded form inside _changelist_filters), up to the next parameter or the end.
SEARCH_TERM = re.compile(r"((?:[?&]|%26|%3F)(?:q|_changelist_filters)(?:=|%3D))[^&\s\"']*", re.IGNORECASE)


def mask_client_tokens(text: str) -> str:
    return SEARCH_TERM.sub(r"\1…", CLIENT_LINK.sub(r"\1…", text))


class MaskClientTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_client_tokens(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


class NoTracebackForClientErrors(logging.Filter):
    """A 4xx answer (a 403 for a role that may not open a page, a CSRF refusal) is the request's
    fault, not the code's: Django logs it with the exception attached, which would print a
    full traceback for every refused page. One line is enough; 5xx keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
