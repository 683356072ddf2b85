"""Web-push backend: one encrypted notification to one browser's push service, with pywebpush.

Settings (read with ``getattr``; checked when the backend is made):

- ``WEBPUSH_VAPID_PRIVATE_KEY``: required. The VAPID (RFC 8292) P-256 private key as PEM, as
  base64url DER, or as the base64url raw 32-byte secret (what ``vapid --gen`` / web-push tools
  print). Its public half is the "application server key" the browser subscribes with
  (``vapid_public_key``);
- ``WEBPUSH_VAPID_SUBJECT``: required, ``mailto:…`` (or ``https://…``): who push services can
  contact about this sender;
- ``WEBPUSH_TIMEOUT_SECONDS``: connect and read timeout of one request (default 10 s).

What goes out: a POST to the subscription's endpoint with a VAPID ``Authorization: vapid t=<JWT>,
k=<public key>`` header (audience = the endpoint's origin, valid 12 h), ``TTL`` (the push service
drops the message if the browser is offline longer: the caller passes the time until it stops
being useful), ``Urgency: high`` and an RFC 8291 ``aes128gcm`` body encrypted to the browser's
keys. The payload is JSON ``{"title", "body", "url"}`` and nothing else: names, times and links
only (SPEC F15, F24).

How failures map to ``ChannelError`` (nothing is retried inside; the dispatcher owns retries):

- 404/410: the subscription is gone (the user unsubscribed or the browser dropped it):
  permanent, code ``"gone"``; the caller revokes the subscription;
- 429 and 5xx: transient; other 4xx (400 malformed, 401/403 VAPID rejected, 413 too large):
  permanent, code = the status;
- the request never left this machine (refused, DNS, connect timeout): transient;
- no answer after the request may have been written (read timeout, connection lost): ambiguous,
  the push service may have taken it;
- a subscription whose keys cannot be used: permanent, code ``"bad_subscription"``;
- a redirect: not followed (the endpoint was checked when stored, the target was not), permanent.

Thread safety: the dispatcher sends from a thread pool with one backend instance. The VAPID key
is loaded once in ``__init__`` and only read afterwards (``cryptography`` keys are immutable);
the claims dict is built per call (pywebpush's ``webpush()`` mutates the one it gets, which is why
this backend calls ``WebPusher`` itself). Each thread gets its own ``requests.Session``.

Privacy: endpoints, keys and payloads are never logged, here or in exception messages; only the
push service's host and HTTP status are.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from messaging.backends.base import ChannelError, SendResult

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
VAPID_VALIDITY_SECONDS = 12 * 60 * 60  # RFC 8292 allows up to 24 h
MAX_TTL_SECONDS = 28 * 24 * 60 * 60  # what push services accept at most (4 weeks)
# Push services accept 4096 bytes of encrypted body; aes128gcm adds 86 bytes of header, a
# padding delimiter and a 16-byte tag. The JSON is kept well below that.
MAX_PAYLOAD_BYTES = 3800
URGENCY = "high"
GONE = "gone"


@dataclass(frozen=True)
class PushMessageData:
    endpoint: str
    p256dh: str  # base64url
    auth: str  # base64url
    title: str
    body: str
    url: str
    ttl_seconds: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=4)
def _load_vapid(private_key: str) -> Vapid:
    # A PEM put in an environment variable often arrives with literal "\\n" for its newlines.
    text = private_key.strip().replace("\\n", "\n")
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            return Vapid(key)
        return Vapid.from_string(text)
    except Exception as exc:  # py_vapid raises ValueError, binascii.Error, cryptography errors
        raise ImproperlyConfigured(
            "WEBPUSH_VAPID_PRIVATE_KEY is not a P-256 private key (PEM, base64url DER or base64url raw)."
        ) from exc


def _configured_vapid() -> Vapid:
    private_key = getattr(settings, "WEBPUSH_VAPID_PRIVATE_KEY", "")
    if not private_key:
        raise ImproperlyConfigured(
            "Web push needs WEBPUSH_VAPID_PRIVATE_KEY (a P-256 private key). Generate one with "
            "`vapid --gen` (py-vapid) and set WEBPUSH_VAPID_SUBJECT to a mailto: address."
        )
    vapid = _load_vapid(private_key)
    if vapid.private_key.curve.name != "secp256r1":
        raise ImproperlyConfigured("WEBPUSH_VAPID_PRIVATE_KEY must be a P-256 (secp256r1) key.")
    return vapid


def webpush_configured() -> bool:
    """Whether WebPushBackend() would start: lets the dispatcher skip push rows with a reason
    instead of failing a whole batch in a development setup without VAPID keys."""
    try:
        WebPushBackend()
    except ImproperlyConfigured:
        return False
    return True


def vapid_public_key() -> str:
    """The application server key browsers subscribe with: the VAPID public key as an
    uncompressed P-256 point, base64url without padding (65 bytes decoded)."""
    public = _configured_vapid().private_key.public_key()
    return _b64url(
        public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def payload_for(message: PushMessageData) -> bytes:
    """The JSON the service worker shows: title, body and the link to open, nothing else."""
    data = {"title": message.title, "body": message.body, "url": message.url}
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    if len(encoded) > MAX_PAYLOAD_BYTES:
        # Shorten the body, never the link.
        overflow = len(encoded) - MAX_PAYLOAD_BYTES
        body = message.body.encode()[: max(0, len(message.body.encode()) - overflow - 3)]
        data["body"] = body.decode(errors="ignore") + "…"
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return encoded


def clamp_ttl(seconds: int) -> int:
    return max(0, min(MAX_TTL_SECONDS, int(seconds)))


class WebPushBackend:
    def __init__(self):
        self.vapid = _configured_vapid()
        self.subject = getattr(settings, "WEBPUSH_VAPID_SUBJECT", "")
        if not (self.subject.startswith("mailto:") or self.subject.startswith("https://")):
            raise ImproperlyConfigured(
                "Web push needs WEBPUSH_VAPID_SUBJECT, a mailto: address (or https:// URL) push "
                "services can contact about this sender."
            )
        self.timeout = float(getattr(settings, "WEBPUSH_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
        if self.timeout <= 0:
            raise ImproperlyConfigured("WEBPUSH_TIMEOUT_SECONDS must be positive.")
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Push services answer, they do not redirect: never follow one elsewhere.
            session.max_redirects = 0
            self._local.session = session
        return session

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "sub": self.subject,
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + VAPID_VALIDITY_SECONDS,
        }
        return self.vapid.sign(claims)

    def send(self, message: PushMessageData) -> SendResult:
        host = urlsplit(message.endpoint).hostname or "?"
        subscription = {
            "endpoint": message.endpoint,
            "keys": {"p256dh": message.p256dh, "auth": message.auth},
        }
        try:
            pusher = WebPusher(subscription, requests_session=self._session())
            headers = self._vapid_headers(message.endpoint) | {"Urgency": URGENCY}
        except (WebPushException, ValueError, TypeError) as exc:
            logger.warning("push to %s not sent: unusable subscription (%s)", host, type(exc).__name__)
            raise ChannelError(
                "The push subscription's keys or endpoint cannot be used.",
                permanent=True,
                code="bad_subscription",
            ) from exc
        ttl = clamp_ttl(message.ttl_seconds)
        try:
            response = pusher.send(
                payload_for(message),
                headers,
                ttl=ttl,
                content_encoding="aes128gcm",
                timeout=(self.timeout, self.timeout),
            )
        except (WebPushException, ValueError, TypeError) as exc:
            # Raised while encrypting, before anything was sent.
            logger.warning("push to %s not sent: unusable subscription (%s)", host, type(exc).__name__)
            raise ChannelError(
                "The push subscription's keys cannot be used.", permanent=True, code="bad_subscription"
            ) from exc
        except requests.exceptions.TooManyRedirects as exc:
            logger.warning("push service %s answered with a redirect: not followed", host)
            raise ChannelError(
                "The push service answered with a redirect, which is not followed.",
                permanent=True,
                code="redirect",
            ) from exc
        except requests.RequestException as exc:
            raise _error_from_transport(exc, host) from exc
        # WebPusher.send() returns the response whatever its status (only webpush() raises).
        return _result_from_response(response, host)


def _result_from_response(response: requests.Response, host: str) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        # Push services answer 201 with a Location naming the message; keep its last segment.
        location = response.headers.get("Location", "")
        message_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
        provider_id = ("push:" + (message_id or uuid.uuid4().hex))[:100]
        logger.info("push service %s accepted a notification (HTTP %s)", host, status)
        return SendResult(provider_message_id=provider_id, status="accepted")
    if status in (404, 410):
        logger.info("push service %s says the subscription is gone (HTTP %s)", host, status)
        raise ChannelError(
            f"The browser's push subscription is gone (HTTP {status}).", permanent=True, code=GONE
        )
    transient = status == 429 or status >= 500
    kind = "transient" if transient else "permanent"
    logger.warning("push service %s refused a notification: HTTP %s (%s)", host, status, kind)
    raise ChannelError(
        f"The push service refused the notification ({kind}): HTTP {status}",
        permanent=not transient,
        code=str(status),
    )


def _error_from_transport(exc: requests.RequestException, host: str) -> ChannelError:
    if _never_sent(exc):
        logger.warning("push service %s unreachable, not sent: %s", host, type(exc).__name__)
        return ChannelError(
            f"Could not reach the push service ({type(exc).__name__}); the notification was not sent.",
            permanent=False,
            code="unreachable",
        )
    code = "timeout" if isinstance(exc, requests.exceptions.ReadTimeout) else "connection_lost"
    logger.warning("push service %s: outcome unknown (%s)", host, code)
    return ChannelError(
        f"No answer from the push service ({type(exc).__name__}); it may have taken the notification.",
        permanent=False,
        ambiguous=True,
        code=code,
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when the request cannot have been written (as in twilio_sms._never_sent)."""
    if isinstance(
        exc,
        requests.exceptions.ConnectTimeout
        | requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(
        cause.reason, NewConnectionError | ConnectTimeoutError
    )
