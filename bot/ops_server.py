"""The health and metrics server: /livez, /readyz and /metrics over plain HTTP in a thread of its own.

The standard library's ThreadingHTTPServer rather than PTB's tornado or an ASGI app: it needs no
event loop, so it runs the same in long-polling mode (where no web server exists) and beside the
webhook's, starts before the model loads (so /livez answers during a long warm-up), and keeps
answering a scrape while the loop is busy; each request is one short read of thread-safe state.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

Readiness = Callable[[], str | None]  # None when ready, else the one-line reason it is not


def starting() -> str | None:
    """Report the process as not ready yet (the bot is still being built)."""
    return "starting: the model and the bot are not up yet"


class OpsServer:
    """Serves /livez, /readyz and /metrics on host:port until stopped; port 0 picks a free one."""

    def __init__(
        self, host: str, port: int, scrape: Callable[[], bytes], ready: Readiness = starting
    ) -> None:
        self.scrape = scrape
        self.ready = ready  # replaced once the bot exists (bot.telegram.health.readiness)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.ops = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ops-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """Return the (host, port) the server listens on."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> OpsServer:
        """Start answering in a daemon thread."""
        self._thread.start()
        log.info("health and metrics on %s (/livez, /readyz, /metrics)", self.url)
        return self

    def stop(self) -> None:
        """Stop answering and close the socket."""
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """Return (status, content type, body) for a GET of path."""
        route = path.split("?", 1)[0]
        if route == "/livez":
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if route == "/readyz":
            try:
                reason = self.ready()
            except Exception as exc:  # a probe must answer, not drop the connection
                log.exception("readiness check failed")
                reason = f"readiness check failed: {type(exc).__name__}"
            if reason is None:
                return 200, "text/plain; charset=utf-8", b"ready\n"
            return 503, "text/plain; charset=utf-8", (" ".join(reason.split()) + "\n").encode()
        if route == "/metrics":
            return 200, CONTENT_TYPE, self.scrape()
        return 404, "text/plain; charset=utf-8", b"not found: try /livez, /readyz or /metrics\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ops: OpsServer

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        if ":" in address[0]:  # an IPv6 host needs an AF_INET6 socket; the default is IPv4
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: probes and scrapes are short-lived

    def do_GET(self) -> None:
        """Answer one probe or scrape."""
        status, kind, body = self.server.ops.respond(self.path)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes arrive every few seconds: keep them out of the INFO log.
        log.debug("ops %s", format % args)
