"""The HTTP server class behind the local stand-ins for vendor APIs (Zoom, Twilio, push)."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHTTPServer(ThreadingHTTPServer):
    # The default listen backlog (5) makes the kernel reset connections when a test opens a
    # dozen at once, as the dispatcher's thread pool does; a real provider would not.
    request_queue_size = 128
    daemon_threads = True


class QuietHandler(BaseHTTPRequestHandler):
    """What every vendor stand-in's handler shares: keep-alive like the real APIs, no request log
    on the test output, and an answer that tolerates a client that already gave up."""

    protocol_version = "HTTP/1.1"
    # The answer's headers and body are two writes: with Nagle's algorithm on, the body waits for
    # the client's (delayed, ~40 ms) ACK of the headers — a stall no real provider adds, which
    # capped B4's plain 16-thread loop at ~75 % of concurrency / latency.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def send_answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to tell it
