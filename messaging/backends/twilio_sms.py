"""Twilio SMS backend: hands one message to Twilio's Messages API with the official ``twilio`` client.

Settings (read with ``getattr`` so a missing optional one falls back to its default):

- ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``: required, checked when the backend is made;
- ``TWILIO_FROM_NUMBER``: the default sender (E.164) when a message names none;
- ``TWILIO_API_BASE``: ``https://api.twilio.com`` unless tests point it at a local server;
- ``TWILIO_TIMEOUT_SECONDS``: connect and read timeout of one request (default 10 s).

How failures map to ``ChannelError`` (twilio 9 wraps ``requests``; nothing is retried inside the
client, the dispatcher owns retries):

- Twilio answered with an error (``TwilioRestException``/``TwilioServiceException``): the message
  was not taken. HTTP 429 and 5xx are transient; 21611 (the sender's queue is full) is
  transient; everything else 4xx is permanent, including 21610 (the recipient replied STOP),
  21211 (invalid number), 21614 (not a mobile number) and 401 (wrong credentials).
- The request never left this machine (connection refused, DNS failure, connect timeout, TLS
  certificate rejected): transient and not ambiguous, sending again cannot duplicate it.
- Anything after the request may have been written (read timeout, connection reset or closed
  while waiting for the answer, an unreadable 2xx answer): **ambiguous**. Twilio may have
  accepted the message, so it must never be resent automatically; the status callback settles it.

Thread safety: the dispatcher sends through a thread pool with one backend instance. Neither
``requests.Session`` (not documented as thread-safe) nor ``TwilioHttpClient`` (it keeps the last
request and response on itself) should be shared between threads, so each thread gets its own
``Client`` with its own HTTP client and connection pool, kept in a ``threading.local`` on the
backend instance. Nothing else is mutable after ``__init__``. The dispatcher makes one backend per
sweep and a new thread pool per batch, so a client (and its keep-alive connections) lives for one
batch: no connection sits idle for long, which keeps rare the race where Twilio closes an idle
connection just as a request is written on it (that surfaces as a lost connection: ambiguous).

Privacy: message bodies and phone numbers are never logged, here or in exception messages; only
the Twilio SID, the HTTP status and the Twilio error code are. (twilio's own ``twilio.http_client``
logger logs the request URL and non-auth headers at INFO, never the form body.)
"""

from __future__ import annotations

import logging
import math
import ssl
import threading

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from messaging.backends.base import BaseSMSBackend, ChannelError, SendResult, SMSMessage

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.twilio.com"
DEFAULT_TIMEOUT_SECONDS = 10.0

# Twilio's allowed ValidityPeriod, in seconds.
MIN_VALIDITY_SECONDS = 1
MAX_VALIDITY_SECONDS = 36000

# Twilio error codes we name.
CODE_UNSUBSCRIBED = 21610  # the recipient replied STOP
CODE_INVALID_TO = 21211
CODE_NOT_MOBILE = 21614
CODE_QUEUE_FULL = 21611  # the sender has too many queued messages: try later
TRANSIENT_CODES = frozenset({CODE_QUEUE_FULL})


def validity_period_seconds(valid_until, *, now) -> int | None:
    """Seconds from ``now`` until ``valid_until``, clamped to Twilio's range; None without a limit."""
    if valid_until is None:
        return None
    if timezone.is_naive(valid_until):
        raise ValueError("valid_until must be timezone-aware")
    seconds = math.ceil((valid_until - now).total_seconds())
    return max(MIN_VALIDITY_SECONDS, min(MAX_VALIDITY_SECONDS, seconds))


class TwilioSMSBackend(BaseSMSBackend):
    def __init__(self):
        self.account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "")
        self.auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "")
        if not self.account_sid or not self.auth_token:
            raise ImproperlyConfigured("TwilioSMSBackend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
        self.from_number = getattr(settings, "TWILIO_FROM_NUMBER", "")
        self.api_base = getattr(settings, "TWILIO_API_BASE", DEFAULT_API_BASE).rstrip("/")
        self.timeout = float(getattr(settings, "TWILIO_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
        if self.timeout <= 0:
            raise ImproperlyConfigured("TWILIO_TIMEOUT_SECONDS must be positive.")
        self._local = threading.local()

    def _client(self) -> Client:
        """This thread's own Client (see the module docstring)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(
                self.account_sid,
                self.auth_token,
                http_client=TwilioHttpClient(timeout=self.timeout),
            )
            client.api.base_url = self.api_base
            self._local.client = client
        return client

    def send(self, message: SMSMessage) -> SendResult:
        sender = message.from_number or self.from_number
        if not sender:
            raise ChannelError("No sender number: set TWILIO_FROM_NUMBER.", permanent=True, code="no_sender")
        kwargs = {"to": message.to, "from_": sender, "body": message.body}
        if message.status_callback_url:
            kwargs["status_callback"] = message.status_callback_url
        validity = validity_period_seconds(message.valid_until, now=timezone.now())
        if validity is not None:
            kwargs["validity_period"] = validity

        try:
            created = self._client().messages.create(**kwargs)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _error_from_twilio_answer(exc) from exc
        except requests.RequestException as exc:
            raise _error_from_transport(exc) from exc
        except ValueError as exc:
            # A 2xx answer that is not JSON: Twilio may have taken the message.
            logger.warning("Twilio answered with an unreadable success response")
            raise ChannelError(
                "Twilio's answer could not be read; the message may have been accepted.",
                permanent=False,
                ambiguous=True,
                code="bad_response",
            ) from exc

        logger.info("Twilio accepted message %s (status %s)", created.sid, created.status)
        return SendResult(provider_message_id=created.sid, status=created.status or "accepted")


def _error_from_twilio_answer(exc: TwilioRestException | TwilioServiceException) -> ChannelError:
    """Twilio answered with an error, so it did not take the message."""
    status = int(exc.status or 0)
    code = str(exc.code) if exc.code else str(status)
    transient = status == 429 or status >= 500 or exc.code in TRANSIENT_CODES
    logger.warning("Twilio refused message: HTTP %s, error code %s", status, code)
    # exc.msg may quote the phone number ("The 'To' number +1... is not valid"): not copied.
    kind = "transient" if transient else "permanent"
    return ChannelError(
        f"Twilio refused the message ({kind}): HTTP {status}, error {code}",
        permanent=not transient,
        code=code,
    )


def _error_from_transport(exc: requests.RequestException) -> ChannelError:
    if _never_sent(exc):
        logger.warning("Twilio unreachable, message not sent: %s", type(exc).__name__)
        return ChannelError(
            f"Could not reach Twilio ({type(exc).__name__}); the message was not sent.",
            permanent=False,
            ambiguous=False,
            code="unreachable",
        )
    code = "timeout" if isinstance(exc, requests.exceptions.ReadTimeout) else "connection_lost"
    logger.warning("Twilio request outcome unknown (%s): the message may have been accepted", code)
    return ChannelError(
        f"No answer from Twilio ({type(exc).__name__}); the message may have been accepted.",
        permanent=False,
        ambiguous=True,
        code=code,
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when we can tell the request was never written to the socket.

    requests raises ``ConnectTimeout`` for a connect timeout, and ``ConnectionError`` wrapping
    urllib3's ``MaxRetryError(reason=NewConnectionError)`` for refused connections and DNS
    failures (no retries are configured, so the first failure ends it). A connection lost after
    sending surfaces as ``ConnectionError`` wrapping ``ProtocolError`` instead, which is ambiguous.
    URL errors are raised before any connection is made.
    """
    if isinstance(
        exc,
        requests.exceptions.ConnectTimeout
        | requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return True
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        reason = cause.reason
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2.
        if isinstance(reason, NewConnectionError | ConnectTimeoutError):
            return True
        # A rejected certificate can only happen in the handshake, before the request.
        if isinstance(exc, requests.exceptions.SSLError) and _has_cause(reason, ssl.SSLCertVerificationError):
            return True
    return False


def _has_cause(exc: BaseException | None, kind: type[BaseException]) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        nested = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = exc.__cause__ or exc.__context__ or nested
    return False
