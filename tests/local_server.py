"""The HTTP server class behind the local stand-ins for vendor APIs (Zoom, Twilio, push)."""

from http.server import ThreadingHTTPServer


class LocalHTTPServer(ThreadingHTTPServer):
    # The default listen backlog (5) makes the kernel reset connections when a test opens a
    # dozen at once, as the dispatcher's thread pool does; a real provider would not.
    request_queue_size = 128
    daemon_threads = True
