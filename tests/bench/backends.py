"""An in-memory SMS backend that records *when* each message was handed to it.

Every send is timestamped with ``time.time()`` (wall clock, comparable across processes) and
keyed by the recipient's number (the benchmark data gives every client a number of its own).
With ``BENCH_SEND_LOG`` set, each send is appended to that file with one unbuffered
``O_APPEND`` write, so a dispatcher killed with SIGKILL leaves a complete record of what it
handed over; without it, sends are kept in ``sends`` in this process.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

from messaging.backends.base import SendResult, SMSMessage
from messaging.backends.locmem import LocMemSMSBackend

sends: list[tuple[str, float]] = []
_lock = threading.Lock()
_fd: int | None = None
# Optional simulated provider round trip (ms), to see how the pool width bounds throughput.
_LATENCY = float(os.environ.get("BENCH_SEND_LATENCY_MS", "0")) / 1000


def _log_fd() -> int | None:
    global _fd
    path = os.environ.get("BENCH_SEND_LOG")
    if not path:
        return None
    if _fd is None:
        with _lock:
            if _fd is None:
                _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return _fd


class TimestampingSMSBackend(LocMemSMSBackend):
    """Like LocMemSMSBackend, but keeps (number, handed-over time) instead of the message,
    so 30,000 sends do not inflate the dispatcher's memory."""

    def send(self, message: SMSMessage) -> SendResult:
        handed_at = time.time()
        if _LATENCY:
            time.sleep(_LATENCY)
        fd = _log_fd()
        if fd is None:
            with _lock:
                sends.append((message.to, handed_at))
        else:
            os.write(fd, f"{message.to}\t{handed_at:.6f}\t{_kind(message.body)}\n".encode())
        return SendResult(provider_message_id=f"bench-{uuid.uuid4().hex[:16]}")


def _kind(body: str) -> str:
    """Which text this is, without logging its words: B3 tells a cancellation notice from a reminder."""
    return "notice" if " is cancelled." in body else "reminder"


def read_send_log(path: str, *, with_kind: bool = False) -> list[tuple]:
    """The (number, time) pairs a send log holds (with ``with_kind``: (number, time, kind)); a
    line torn by SIGKILL is ignored."""
    entries = []
    try:
        with open(path) as log:
            for line in log:
                if not line.endswith("\n"):
                    continue
                number, stamp, kind = [*line.rstrip("\n").split("\t"), ""][:3]
                try:
                    entry = (number, float(stamp))
                except ValueError:
                    continue
                entries.append((*entry, kind) if with_kind else entry)
    except FileNotFoundError:
        pass
    return entries
