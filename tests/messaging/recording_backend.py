"""An SMS backend for crash tests: appends every message it is handed to a file (so another
process can see what was sent) and takes a while doing it, like a provider over the network."""

import os
import time
import uuid

from messaging.backends.base import BaseSMSBackend, SendResult, SMSMessage


class FileRecordingSMSBackend(BaseSMSBackend):
    def send(self, message: SMSMessage) -> SendResult:
        time.sleep(float(os.environ.get("RECORDING_SMS_DELAY", "0.2")))
        with open(os.environ["RECORDING_SMS_FILE"], "a") as record:
            record.write(f"{message.to}|{message.body}\n")
        return SendResult(provider_message_id=f"rec-{uuid.uuid4().hex}")
