"""A TCP proxy on loopback that a fault drill puts between Attend and one dependency
(PostgreSQL, an SMTP server, the Twilio stand-in, Redis), so a test can break the connection
without touching the machine's services.

Modes, switched at any time from the test's thread:

- ``pass_through()``: bytes flow both ways (the start state).
- ``cut()``: every open connection is closed and new ones are refused (the listening socket is
  closed, so a connect gets ECONNREFUSED, as when the server is down); ``pass_through()`` listens
  on the same port again.
- ``reset()``: every open connection is aborted with a TCP RST; new ones are still accepted.
- ``slow(seconds)``: each chunk is held that long before it is forwarded (both directions).
- ``hang()``: connections are accepted and what they send is read, but nothing is forwarded
  either way: the peer waits for an answer until its own timeout (a provider that stopped
  answering).

Threads, not asyncio: two pump threads per connection, which is plenty for one dependency of
one process. ``connections`` counts the connections accepted.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

PASS, CUT, SLOW, HANG = "pass", "cut", "slow", "hang"


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", *, name: str = "proxy"):
        self.upstream = (upstream_host, upstream_port)
        self.name = name
        self.mode = PASS
        self.delay = 0.0
        self.connections = 0
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._port = 0
        self._acceptor: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self._close_all(rst=False)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------
    def pass_through(self) -> None:
        with self._lock:
            self.mode, self.delay = PASS, 0.0
        if self._listener is None and not self._stopped.is_set():
            self._listen()

    def cut(self) -> None:
        """Close every connection and refuse new ones until ``pass_through()``."""
        with self._lock:
            self.mode = CUT
        self._close_listener()
        self._close_all(rst=False)

    def reset(self) -> None:
        """Abort every open connection with a RST; keep accepting new ones."""
        self._close_all(rst=True)

    def slow(self, seconds: float) -> None:
        with self._lock:
            self.mode, self.delay = SLOW, seconds

    def hang(self) -> None:
        with self._lock:
            self.mode = HANG

    # -- internals ---------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))  # the same port again after a cut
        listener.listen(128)
        listener.settimeout(0.05)
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept_loop, args=(listener,), name=f"{self.name}-accept", daemon=True
        )
        self._acceptor.start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout=2)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by cut() or stop()
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.connections += 1
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, target, pair), name=f"{self.name}-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket, pair) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                mode, delay = self.mode, self.delay
                if mode == SLOW:
                    time.sleep(delay)
                while self.mode == HANG and pair in self._pairs:
                    time.sleep(0.02)  # held: the peer gets no answer
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close_pair(pair, rst=False)

    def _close_pair(self, pair, *, rst: bool) -> None:
        with self._lock:
            if pair not in self._pairs:
                return
            self._pairs.discard(pair)
        for sock in pair:
            try:
                if rst:
                    # Closed with a zero linger time, the socket sends RST instead of FIN;
                    # SHUT_RD only wakes the pump thread blocked in recv() on it.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _close_all(self, *, rst: bool) -> None:
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._close_pair(pair, rst=rst)
