"""The SMS backend interface. E-mail uses Django's own mail backends (EMAIL_URL).

A backend has one method, ``send``, which hands one message to the provider and returns
what the provider said as a plain dataclass. Failures raise ``SMSBackendError`` saying
whether retrying could help.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SMSMessage:
    to: str  # E.164
    body: str
    status_callback_url: str = ""
    # The provider should drop the message if it cannot deliver it before this time.
    valid_until: datetime | None = None


@dataclass(frozen=True)
class SMSResult:
    provider_message_id: str
    status: str = "accepted"


class SMSBackendError(Exception):
    def __init__(self, message: str, *, permanent: bool, code: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class BaseSMSBackend:
    def send(self, message: SMSMessage) -> SMSResult:
        raise NotImplementedError
