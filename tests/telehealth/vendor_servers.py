"""Local stand-ins for vendor HTTP APIs, served on 127.0.0.1 in a thread.

``FakeZoom`` speaks the shapes of Zoom's Server-to-Server OAuth token endpoint and the
meetings API (create, get, update, delete), so the real Zoom adapter and the real
``requests`` stack are exercised. Tests can queue canned answers (429 with Retry-After,
500, a slow answer past the client's timeout) and expire the issued tokens.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from tests.local_server import LocalHTTPServer


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    headers: dict
    body: dict | None


@dataclass
class Canned:
    method: str
    path_prefix: str
    status: int
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _dispatch(self):
        self.server.vendor.handle(self)

    do_GET = do_POST = do_PATCH = do_DELETE = _dispatch


class FakeZoom:
    ACCOUNT_ID = "acct-123"
    CLIENT_ID = "client-abc"
    CLIENT_SECRET = "secret-xyz"
    HOST_ID = "zoom-host-1"

    def __init__(self, *, token_lifetime: int = 3600):
        self.token_lifetime = token_lifetime
        self.seen: list[Seen] = []
        self.meetings: dict[str, dict] = {}
        self.canned: list[Canned] = []
        self.valid_tokens: set[str] = set()
        self.reject_all_tokens = False
        self._ids = itertools.count(85_000_000_001)
        self._token_numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server = LocalHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.vendor = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # --- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> FakeZoom:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def config(self, **overrides) -> dict:
        """settings.TELEHEALTH_PROVIDERS["zoom"] pointing at this server."""
        return {
            "account_id": self.ACCOUNT_ID,
            "client_id": self.CLIENT_ID,
            "client_secret": self.CLIENT_SECRET,
            "api_base": f"{self.base}/v2",
            "oauth_url": f"{self.base}/oauth/token",
            "timeout": (0.5, 0.5),
            **overrides,
        }

    # --- test controls -----------------------------------------------------------------

    def answer_next(self, method: str, path_prefix: str, status: int, body=None, headers=None, delay=0.0):
        self.canned.append(Canned(method, path_prefix, status, body, dict(headers or {}), delay))

    def expire_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def requests_to(self, method: str, path_prefix: str = "") -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(path_prefix)]

    @property
    def token_requests(self) -> list[Seen]:
        return self.requests_to("POST", "/oauth/token")

    # --- serving -----------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        seen = Seen(
            method=handler.command,
            path=unquote(parts.path),
            query={k: v[0] for k, v in parse_qs(parts.query).items()},
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        with self._lock:
            self.seen.append(seen)
            canned = self._take_canned(seen)
        if canned is not None:
            time.sleep(canned.delay)
            status, body, headers = canned.status, canned.body, canned.headers
        else:
            status, body, headers = self._route(seen)
        self._respond(handler, status, body, headers)

    def _take_canned(self, seen: Seen) -> Canned | None:
        for index, canned in enumerate(self.canned):
            if canned.method == seen.method and seen.path.startswith(canned.path_prefix):
                return self.canned.pop(index)
        return None

    @staticmethod
    def _respond(handler, status: int, body, headers: dict) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            if payload:
                handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def _route(self, seen: Seen):
        if seen.path == "/oauth/token" and seen.method == "POST":
            return self._token(seen)
        if not self._authorised(seen):
            return 401, {"code": 124, "message": "Invalid access token."}, {}
        segments = seen.path.strip("/").split("/")
        if seen.method == "POST" and len(segments) == 4 and segments[:2] == ["v2", "users"]:
            return self._create(seen, user_id=segments[2])
        if len(segments) == 3 and segments[:2] == ["v2", "meetings"]:
            meeting_id = segments[2]
            if meeting_id not in self.meetings:
                return 404, {"code": 3001, "message": f"Meeting does not exist: {meeting_id}."}, {}
            if seen.method == "GET":
                meeting = self.meetings[meeting_id]
                # Every GET hands out a fresh host key, as Zoom does.
                return 200, {**meeting, "start_url": f"{meeting['start_url']}&fresh={len(self.seen)}"}, {}
            if seen.method == "PATCH":
                self.meetings[meeting_id].update(seen.body or {})
                return 204, None, {}
            if seen.method == "DELETE":
                del self.meetings[meeting_id]
                return 204, None, {}
        return 404, {"code": 404, "message": "Not found"}, {}

    def _token(self, seen: Seen):
        expected = base64.b64encode(f"{self.CLIENT_ID}:{self.CLIENT_SECRET}".encode()).decode()
        if seen.headers.get("authorization") != f"Basic {expected}":
            return 401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}, {}
        if seen.query != {"grant_type": "account_credentials", "account_id": self.ACCOUNT_ID}:
            return 400, {"reason": "Bad Request", "error": "invalid_request"}, {}
        token = f"token-{next(self._token_numbers)}"
        with self._lock:
            self.valid_tokens.add(token)
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
        return 200, body, {}

    def _authorised(self, seen: Seen) -> bool:
        header = seen.headers.get("authorization", "")
        with self._lock:
            return (
                not self.reject_all_tokens
                and header.startswith("Bearer ")
                and header[7:] in self.valid_tokens
            )

    def _create(self, seen: Seen, *, user_id: str):
        body = seen.body or {}
        meeting_id = str(next(self._ids))
        meeting = {
            "id": int(meeting_id),
            "uuid": f"uuid-{meeting_id}==",
            "host_id": self.HOST_ID,
            "host_email": user_id,
            "topic": body.get("topic"),
            "type": body.get("type"),
            "start_time": body.get("start_time"),
            "duration": body.get("duration"),
            "timezone": body.get("timezone"),
            "join_url": f"https://zoom.invalid/j/{meeting_id}?pwd=abc",
            "start_url": f"https://zoom.invalid/s/{meeting_id}?zak=host-key",
            "settings": body.get("settings", {}),
        }
        self.meetings[meeting_id] = meeting
        return 201, meeting, {}


def closed_port_url() -> str:
    """An http:// base on 127.0.0.1 where nothing listens (connection refused)."""
    server = LocalHTTPServer(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    server.server_close()
    return f"http://{host}:{port}"
