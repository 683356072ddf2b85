"""The last check before each provider call: a fence the changing services raise at commit.

A chunk's hand-over checks every row once, in the statement that marks it "sending" (messaging.
dispatch); its provider calls then take a moment (128 rows on 16 threads). A session cancelled or
moved in that moment would still get its reminder. So every appointment change also raises a fence
(PostgreSQL ``NOTIFY``, sent in the change's own transaction, so it is delivered exactly when the
change commits and before the service returns), and the dispatcher's threads consult it right before
each call: a fenced row is not sent but given back, and decided again by the next sweep.

Client-level changes raise it too (issue #19): every save of a client (SMS consent withdrawn by
STOP, contact details, preferred channel) or of their message preferences (reminders switched off,
quiet hours, language), from a ``post_save`` receiver, so in the save's own transaction; their rows
in flight are fenced by client. A bulk ``.update()`` of clients sends no signal: such a change is
seen by the hand-over's check (LATE_STATE) only.

On SQLite there is no fence (no other process sends); the hand-over's check is the last one.
"""

from __future__ import annotations

import logging
import select
import threading
import time

from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "attend_outbox_fence"
# A fence only matters to rows handed over before it was raised: those are sent within seconds.
KEEP_SECONDS = 600
CLIENT_PREFIX = "c"  # a payload "c<id>" fences a client's rows; a bare id, an appointment's


def fence_appointment_change(event) -> None:
    """In-transaction subscriber of scheduling.events: raise the fence for the appointment (and,
    for a reschedule, the one it replaced, whose rows are the ones that must not go out)."""
    if connection.vendor != "postgresql":
        return
    ids = {event.appointment_id, event.previous_id} - {None}
    with connection.cursor() as cursor:
        for appointment_id in sorted(ids):
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(appointment_id)])


def fence_client_change(sender, instance, **kwargs) -> None:
    """post_save of Client and ClientPreferences (messaging.apps): raise the fence for the
    client, in the save's transaction."""
    if connection.vendor != "postgresql":
        return
    client_id = getattr(instance, "client_id", None) or instance.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, f"{CLIENT_PREFIX}{client_id}"])


class Fence:
    """The dispatcher's view of the fence: a LISTEN connection of its own, read right before each
    provider call (a non-blocking read of what arrived), and the appointments fenced so far."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fenced: dict[int, float] = {}
        self._fenced_clients: dict[int, float] = {}
        self._listener = None
        self._socket = None  # the listener's socket: readable = something arrived
        self._polls = threading.local()  # a poll object per thread (one may not be shared)

    def open(self) -> Fence:
        if connection.vendor != "postgresql":
            return self
        import psycopg

        params = connection.get_connection_params()
        for django_only in ("cursor_factory", "context", "server_side_binding"):
            params.pop(django_only, None)
        try:
            self._listener = psycopg.connect(**params, autocommit=True)
            self._listener.execute(f"LISTEN {CHANNEL}")
            self._socket = self._listener.pgconn.socket
        except psycopg.Error:
            logger.warning("no fence for this dispatcher: could not LISTEN; the hand-over check stays")
            self._listener = None
        return self

    def close(self) -> None:
        self._socket = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def read(self) -> float:
        """Take in what has arrived, and return the moment (monotonic) up to which it has: a chunk
        handed over after this moment has been checked against every change fenced before it."""
        with self._lock:
            self._read()
            return time.monotonic()

    def blocks(self, appointment_id: int, client_id: int | None = None, *, since: float) -> bool:
        """Whether the appointment (or the client) changed after ``since`` (its chunk's
        hand-over), read now. A change fenced earlier was seen by the hand-over itself: the
        session's later messages (a cancellation notice, the new time's reminders) are not held
        back by it."""
        if self._socket is not None and self._arrived():
            with self._lock:
                self._read()
        if self._fenced.get(appointment_id, float("-inf")) >= since:
            return True
        return client_id is not None and self._fenced_clients.get(client_id, float("-inf")) >= since

    def _arrived(self) -> bool:
        """Whether the listener's socket has something to read (~1 µs; a read through psycopg
        costs ~6 µs and takes the lock, paid per provider call). A broken socket counts as arrived:
        the read then finds it broken and closes the fence."""
        try:
            poll = getattr(self._polls, "poll", None)
            if poll is None:
                poll = self._polls.poll = select.poll()
                poll.register(self._socket, select.POLLIN)
            return bool(poll.poll(0))
        except (OSError, ValueError, TypeError, RuntimeError):
            return True

    def _read(self) -> None:
        if self._listener is None:
            return
        now = time.monotonic()
        try:
            for notify in self._listener.notifies(timeout=0):
                payload = notify.payload
                if payload.startswith(CLIENT_PREFIX):
                    self._fenced_clients[int(payload[len(CLIENT_PREFIX) :])] = now
                else:
                    self._fenced[int(payload)] = now
        except Exception:  # a broken listener must not stop sending: the hand-over check remains
            logger.exception("the dispatcher's fence stopped listening")
            self.close()
            return
        if len(self._fenced) > 1000:
            self._fenced = {pk: at for pk, at in self._fenced.items() if now - at < KEEP_SECONDS}
        if len(self._fenced_clients) > 1000:
            self._fenced_clients = {
                pk: at for pk, at in self._fenced_clients.items() if now - at < KEEP_SECONDS
            }
