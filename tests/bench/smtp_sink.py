"""An SMTP server on loopback that accepts and counts mail (benchmark B4): aiosmtpd.

``python -m tests.bench.smtp_sink`` prints its port, serves until stdin closes, then prints
JSON: messages received and how many per recipient (to count duplicates).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections import Counter

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self):
        self.per_recipient: Counter = Counter()
        self.messages = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages += 1
            self.per_recipient.update(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        print(controller.port, flush=True)
        sys.stdin.read()
    finally:
        controller.stop()
    print(json.dumps({"messages": handler.messages, "per_recipient": handler.per_recipient}), flush=True)


if __name__ == "__main__":
    main()
