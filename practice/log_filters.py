"""Keep client link tokens out of the logs (SPEC F24).

Django's own loggers write the request path of every 4xx/5xx answer ("Not Found: /a/<token>",
"Forbidden (CSRF …): /p/<token>"). The opaque token in a client link is that client's credential,
so the console handler masks it: /a/, /p/, /j/ and /t/ links show as /a/… in the log.
"""

from __future__ import annotations

import logging
import re

CLIENT_LINK = re.compile(r"(/(?:a|p|j|t)/)[A-Za-z0-9_-]{8,}")


def mask_client_tokens(text: str) -> str:
    return CLIENT_LINK.sub(r"\1…", text)


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
