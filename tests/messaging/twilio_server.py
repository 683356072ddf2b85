"""A local stand-in for Twilio's Messages API, so tests run the real ``twilio`` client end to end.

It speaks ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded To, From, Body,
StatusCallback, ValidityPeriod) with HTTP Basic auth, and answers 201 with Twilio's JSON shape.
Tests script the next answers (``fail_next``, ``slow_next``) and read ``requests`` (and the
``issued_sids`` of the messages it accepted) afterwards:
every request is recorded as soon as it is read, before any scripted delay, so a test can tell
"the server got it" from "the client got an answer".

Usage::

    with FakeTwilioServer(account_sid=..., auth_token=...) as server:
        settings.TWILIO_API_BASE = server.base_url
        server.fail_next(429, retry_after=3)

Load mode (benchmark B4, ``python -m tests.messaging.twilio_server --latency 0.15 …``): every
request answered after ``latency`` seconds, a seeded share of them with 429 (Retry-After) or 503;
the command prints the port, serves until stdin closes, then prints how many requests it got and
how many messages it accepted per number, as JSON.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

from tests.local_server import LocalHTTPServer, QuietHandler

MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"

ERRORS = {
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    auth: tuple[str, str] | None


@dataclass
class _Scripted:
    status: int = 201
    code: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FakeTwilioServer:
    def __init__(self, *, account_sid: str, auth_token: str):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.issued_sids: list[str] = []  # SIDs of the messages it answered 201 for
        self.accepted_to: list[str] = []  # the To number of each of them
        self._script: deque[_Scripted] = deque()
        self._load: tuple[float, float, float] | None = None  # (latency, share of 429, share of 5xx)
        self._random = random.Random(0)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = LocalHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTwilioServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a scripted delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeTwilioServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------
    def fail_next(self, status: int, *, code: int | None = None, retry_after: int | None = None) -> None:
        """The next request gets this error answer (Twilio's legacy error JSON)."""
        if code is None:
            code = {401: 20003, 429: 20429}.get(status, 20500 if status >= 500 else status)
        with self._lock:
            self._script.append(_Scripted(status=status, code=code, retry_after=retry_after))

    def slow_next(self, seconds: float) -> None:
        """The next request is recorded, then answered (201) only after ``seconds``."""
        with self._lock:
            self._script.append(_Scripted(delay=seconds))

    def under_load(
        self, *, latency: float, rate_429: float = 0.0, rate_5xx: float = 0.0, seed: int = 0
    ) -> None:
        """Answer every request not scripted otherwise after ``latency`` seconds, and that share of
        them with 429 (Retry-After: 1) or 503, chosen by a seeded generator."""
        with self._lock:
            self._load = (latency, rate_429, rate_5xx)
            self._random = random.Random(seed)

    def messages_path(self) -> str:
        return MESSAGES_PATH.format(sid=self.account_sid)

    # -- handling ----------------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> _Scripted:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
            if self._load is None:
                return _Scripted()
            latency, rate_429, rate_5xx = self._load
            draw = self._random.random()
            if draw < rate_429:
                return _Scripted(status=429, code=20429, retry_after=1, delay=latency)
            if draw < rate_429 + rate_5xx:
                return _Scripted(status=503, code=20500, delay=latency)
            return _Scripted(delay=latency)

    def _expected_auth(self) -> tuple[str, str]:
        return (self.account_sid, self.auth_token)


def _parse_basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password)


def _error_body(status: int, code: int) -> dict:
    return {
        "code": code,
        "message": ERRORS.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _make_handler(server: FakeTwilioServer):
    class Handler(QuietHandler):
        server_version = "fake-twilio"

        def _answer(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            content = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
            self.send_answer(status, json.dumps(payload).encode(), content)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            form = {name: values[-1] for name, values in parse_qs(raw, keep_blank_values=True).items()}
            auth = _parse_basic_auth(self.headers.get("Authorization", ""))
            scripted = server._record(
                RecordedRequest(
                    method="POST", path=self.path, headers=dict(self.headers.items()), form=form, auth=auth
                )
            )

            if auth != server._expected_auth():
                self._answer(401, _error_body(401, 20003), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
                return
            if self.path != server.messages_path():
                self._answer(
                    404, _error_body(404, 20404) | {"message": "The requested resource was not found"}
                )
                return
            if scripted.delay and server._stopping.wait(scripted.delay):
                return
            if scripted.status != 201:
                headers = {"Retry-After": str(scripted.retry_after)} if scripted.retry_after else {}
                self._answer(scripted.status, _error_body(scripted.status, scripted.code), headers)
                return
            for required, code in (("To", 21604), ("From", 21603), ("Body", 21602)):
                if not form.get(required):
                    self._answer(400, _error_body(400, code) | {"message": f"A '{required}' is required."})
                    return
            self._answer(201, self._message_json(form))

        def do_GET(self):
            self._answer(405, _error_body(405, 20004) | {"message": "Method not allowed"})

        def _message_json(self, form: dict[str, str]) -> dict:
            sid = "SM" + secrets.token_hex(16)
            with server._lock:
                server.issued_sids.append(sid)
                server.accepted_to.append(form["To"])
            now = format_datetime(datetime.now(tz=UTC), usegmt=True)
            uri = f"/2010-04-01/Accounts/{server.account_sid}/Messages/{sid}.json"
            return {
                "account_sid": server.account_sid,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form["From"],
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
                "to": form["To"],
                "uri": uri,
            }

    return Handler


def main() -> None:
    import argparse
    from collections import Counter

    parser = argparse.ArgumentParser(description="A Twilio Messages API stand-in under load (benchmark B4).")
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-5xx", type=float, default=0.0)
    args = parser.parse_args()
    with FakeTwilioServer(account_sid=args.account_sid, auth_token=args.auth_token) as server:
        server.under_load(latency=args.latency, rate_429=args.rate_429, rate_5xx=args.rate_5xx)
        print(server.port, flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin
        with server._lock:
            report = {"requests": len(server.requests), "accepted_per_number": Counter(server.accepted_to)}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
