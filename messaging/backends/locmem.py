"""Test SMS backend: keeps sent messages in ``messaging.backends.locmem.outbox``, like
Django's locmem e-mail backend keeps ``django.core.mail.outbox``."""

import threading
import uuid

from messaging.backends.base import BaseSMSBackend, SendResult, SMSMessage

outbox: list[SMSMessage] = []
_lock = threading.Lock()


class LocMemSMSBackend(BaseSMSBackend):
    def send(self, message: SMSMessage) -> SendResult:
        with _lock:
            outbox.append(message)
        return SendResult(provider_message_id=f"locmem-{uuid.uuid4().hex[:16]}")
