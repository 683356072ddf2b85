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
