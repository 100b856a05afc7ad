"""A tiny web server on loopback for the fetcher's tests: routes of canned answers, every request logged.

with WebServer() as web:
    web.route("/feed.xml", Reply(200, body, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}))
    web.route("/slow", Reply(200, chunks=itertools.repeat(b"x"), delay=0.05))   # a never-ending body
    web.url("/feed.xml")                       # http://127.0.0.1:PORT/feed.xml
    web.requests                               # [(path, headers)] in order
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Headers = dict[str, str]
HTML: Headers = {"Content-Type": "text/html; charset=utf-8"}
FEED: Headers = {"Content-Type": "application/rss+xml"}


def rss(web: WebServer, paths: list[str], *, title: str = "新闻", ttl: int | None = None) -> bytes:
    """Return an RSS 2.0 feed whose items link to web's paths (each path its item's guid)."""
    items = "".join(
        f"<item><title>{p}</title><link>{web.url(p)}</link><guid>{p}</guid></item>" for p in paths
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{web.url('/')}</link>{ttl_tag}{items}</channel></rss>"
    ).encode()


@dataclass
class Reply:
    """A canned answer: status, headers, and a body given whole or as chunks sent delay apart."""

    status: int = 200
    body: bytes = b""
    headers: Headers = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    delay: float = 0.0
    when: Callable[[Headers], Reply | None] | None = None  # e.g. 304 when If-None-Match matches


class WebServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with a free port."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Reply] = {}
        self.requests: list[tuple[str, Headers]] = []
        self.times: list[float] = []  # time.monotonic() of each request, in order
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server.lock:
                    server.requests.append((self.path, headers))
                    server.times.append(time.monotonic())
                reply = server.routes.get(self.path.split("?")[0], Reply(404, b"not found"))
                if reply.when is not None:
                    reply = reply.when(headers) or reply
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.send(self, reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A client that hangs up mid-answer (a size cap, a deadline) is part of the tests, not an error.
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.port = self.httpd.server_address[1]
        self.server_names: list[str | None] = []  # the TLS SNI of each handshake
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)  # type: ignore[assignment]
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> WebServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        """Return the URL of a path on this server."""
        return f"{scheme}://{host}:{self.port}{path}"

    def route(self, path: str, reply: Reply) -> None:
        """Serve reply at path (the query string is ignored)."""
        self.routes[path] = reply

    def paths(self) -> list[str]:
        """Return the paths requested so far, in order."""
        with self.lock:
            return [path for path, _ in self.requests]

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        """Write one reply, streaming chunks (chunked encoding) when it has them."""
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.chunks is None:
            if "content-length" not in {k.lower() for k in reply.headers}:
                handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in reply.chunks:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.flush()
            if reply.delay:
                time.sleep(reply.delay)
        handler.wfile.write(b"0\r\n\r\n")
