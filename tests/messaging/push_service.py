"""A local stand-in for a browser vendor's push service (RFC 8030), so tests run pywebpush end to end.

It accepts ``POST /push/<subscription id>`` with whatever headers and encrypted body the sender
made, records each request as soon as it is read (before any scripted delay, so a test can tell
"the service got it" from "the sender got an answer"), and answers 201 Created with a
``Location`` naming the message, as real push services do. Tests script the next answers
(``answer_next(410)``, ``hang_next()``) and read ``requests`` afterwards.

Usage::

    with FakePushService() as service:
        endpoint = service.endpoint("abc")
        service.answer_next(410)
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass

from tests.local_server import LocalHTTPServer, QuietHandler


@dataclass(frozen=True)
class PushRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class _Scripted:
    status: int = 201
    hang: float = 0.0  # seconds to wait before answering (the sender should time out first)
    retry_after: int | None = None
    headers: dict[str, str] | None = None


class FakePushService:
    def __init__(self):
        self.requests: list[PushRequest] = []
        self.issued_ids: list[str] = []
        self._script: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = LocalHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-push", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def endpoint(self, subscription_id: str = "") -> str:
        return f"{self.base_url}/push/{subscription_id or secrets.token_urlsafe(16)}"

    def start(self) -> FakePushService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers hanging on a scripted delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakePushService:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def answer_next(
        self, status: int, *, retry_after: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """The next request gets this status (201 accepts; 404/410 gone; 429, 500, 307 + Location, …)."""
        with self._lock:
            self._script.append(_Scripted(status=status, retry_after=retry_after, headers=headers))

    def hang_next(self, seconds: float = 30.0) -> None:
        """The next request is recorded, then left unanswered for ``seconds``."""
        with self._lock:
            self._script.append(_Scripted(hang=seconds))

    def _record(self, request: PushRequest) -> _Scripted:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else _Scripted()


def _make_handler(service: FakePushService):
    class Handler(QuietHandler):
        server_version = "fake-push"

        def _answer(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
            self.send_answer(status, body, headers)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            scripted = service._record(PushRequest("POST", self.path, headers, body))
            if not self.path.startswith("/push/"):
                self._answer(404, body=b"no such subscription")
                return
            if scripted.hang and service._stopping.wait(scripted.hang):
                return
            if scripted.status != 201:
                extra = {"Retry-After": str(scripted.retry_after)} if scripted.retry_after else {}
                extra |= scripted.headers or {}
                self._answer(scripted.status, extra, body=b'{"errno": 0, "message": "scripted"}')
                return
            message_id = secrets.token_urlsafe(12)
            with service._lock:
                service.issued_ids.append(message_id)
            self._answer(
                201, {"Location": f"{service.base_url}/m/{message_id}", "TTL": headers.get("ttl", "0")}
            )

    return Handler
