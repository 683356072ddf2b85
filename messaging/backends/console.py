"""Development SMS backend: writes each message to standard output, like Django's console
e-mail backend. Never use it in production: message bodies are printed."""

import sys
import threading
import uuid

from messaging.backends.base import BaseSMSBackend, SendResult, SMSMessage


class ConsoleSMSBackend(BaseSMSBackend):
    _write_lock = threading.Lock()

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, message: SMSMessage) -> SendResult:
        message_id = f"console-{uuid.uuid4().hex[:16]}"
        with self._write_lock:
            self.stream.write(f"--- SMS {message_id} to {message.to} ---\n{message.body}\n---\n")
            self.stream.flush()
        return SendResult(provider_message_id=message_id)
