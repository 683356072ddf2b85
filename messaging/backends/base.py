"""Channel backends: the one place a message leaves Attend. Chosen by dotted path in settings.

A backend hands one message to its provider and returns what the provider said as a plain
dataclass. A failure raises ``ChannelError`` saying whether retrying could help
(``permanent``) and whether the provider may have taken the message anyway (``ambiguous``,
e.g. a timeout after the request was sent): an ambiguous send is never retried automatically,
the message becomes ``unknown`` and is reconciled from the provider's status callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SMSMessage:
    to: str  # E.164
    body: str
    from_number: str = ""  # E.164; the backend's default sender if empty
    status_callback_url: str = ""
    # The provider should drop the message if it cannot deliver it before this time.
    valid_until: datetime | None = None


@dataclass(frozen=True)
class EmailAttachment:
    filename: str
    content: bytes
    mimetype: str


@dataclass(frozen=True)
class EmailMessageData:
    to: str
    subject: str
    text: str
    html: str = ""
    from_email: str = ""
    attachments: tuple[EmailAttachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = "accepted"


class ChannelError(Exception):
    def __init__(self, message: str, *, permanent: bool, ambiguous: bool = False, code: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous
        self.code = code


class BaseSMSBackend:
    def send(self, message: SMSMessage) -> SendResult:
        raise NotImplementedError
