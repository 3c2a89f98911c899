"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1, port 0.

It records every request and verifies each with the ``standardwebhooks`` library
against the secrets it is told; it can be taken down and brought back on the
same port, answer with a redirect, or hold a request open (for crash tests).
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request as it arrived."""

    path: str
    headers: dict
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def envelope(self) -> dict:
        return json.loads(self.body)

    def verifies_with(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


@dataclass
class Receiver:
    """The server and what it got; ``status`` is what it answers (200 by default)."""

    port: int = 0
    status: int = 200
    redirect_to: str | None = None
    #: Seconds to hold each request before answering (a slow receiver).
    hold_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                if receiver.hold_seconds:
                    time.sleep(receiver.hold_seconds)
                if receiver.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                else:
                    self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                try:
                    self.wfile.write(b"ok from the receiver")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender was killed while it waited: that is the test

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Take it down: connections to its port are refused until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self, path: str | None = None) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received if path in (None, r.path)]

    def wait_for(self, count: int, timeout: float = 20.0, path=None) -> list[str]:
        """The webhook-ids received, once there are at least ``count`` (or timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.ids(path)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.ids(path)
