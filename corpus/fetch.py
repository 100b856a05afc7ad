"""The one module that reads the network: a safe, polite HTTP fetcher (httpx, pinned)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from corpus.addresses import Address, AllowList, check_address
from corpus.decode import decode_page
from corpus.errors import FetchError
from corpus.exchange import (
    charset_of,
    checked_host,
    conditional_headers,
    decoded_body,
    may_be_html,
    status_error,
    too_large,
)
from corpus.politeness import Politeness, RobotsRules, parse_retry_after

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("quotebot")
    except PackageNotFoundError:
        return "0"


USER_AGENT = f"quotebot/{_version()} (news quoting bot; reads robots.txt)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Statuses that say the host (not the page) is in trouble: they put it in backoff.
HOST_ERRORS = frozenset({"http-5xx", "http-429", "timeout", "connect", "dns"})
UNREACHABLE = frozenset({"refused-address", "scheme", "url", "dns", "connect", "tls", "backoff"})
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class FetchPolicy:
    """The fetcher's limits; the defaults are safe (no private addresses, 5 MB, 20 s, 1 s per host)."""

    allow: tuple[str, ...] = ()  # hosts or CIDRs that may be private/loopback
    max_bytes: int = 5_000_000  # streamed cap on the (decompressed) body
    timeout: float = 20.0  # connect/read, and the total deadline of one fetch
    max_redirects: int = 5
    user_agent: str = USER_AGENT
    per_host_interval: float = 1.0  # seconds between requests to one host
    respect_robots: bool = True
    backoff_base: float = 60.0  # first backoff after a host error; doubles per error in a row
    backoff_max: float = 6 * 3600.0
    robots_ttl: float = 24 * 3600.0  # how long a robots.txt is cached
    robots_failure_ttl: float = 600.0  # how long "robots.txt unreachable, so disallowed" is cached
    max_crawl_delay: float = 60.0  # a site's Crawl-delay is honoured up to this many seconds


@dataclass(frozen=True)
class Fetched:
    """One fetched URL: the bytes (empty on 304) and what the server said about them."""

    url: str
    final_url: str
    status: int
    content: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    retry_after: float | None

    def text(self) -> str:
        """Return the content decoded: the header's charset first, then <meta charset>, then detection."""
        return decode_page(self.content, charset=charset_of(self.content_type))


def system_resolver(host: str, port: int) -> list[str]:
    """Return every address a host name resolves to (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError("dns", f"cannot resolve {host}: {exc}; check the URL's host name") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend that connects only to checked addresses of the resolved host."""

    def __init__(self, allow: AllowList, resolver: Resolver) -> None:
        self.allow = allow
        self.resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve host, refuse it if any address is refused, and connect to a checked address."""
        found = _within(timeout, self.resolver, host, port)
        addresses = [_address(a, host) for a in found]
        if not addresses:
            raise FetchError("dns", f"{host} resolves to no address; check the URL's host name")
        for ip in addresses:
            if reason := check_address(ip, host, self.allow):
                raise FetchError("refused-address", _refusal(host, ip, reason))
        failure: Exception | None = None
        for ip in addresses:
            # The IP, not the name, goes to the socket so no second lookup can rebind it; httpcore
            # still sends the URL's Host header and uses its host name for TLS SNI and verification.
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure


def _within(timeout: float | None, resolver: Resolver, host: str, port: int) -> list[str]:
    """Return the resolver's answer, or raise FetchError when it takes longer than timeout."""
    # getaddrinfo has no timeout of its own, so the lookup runs in a thread the fetch stops waiting for.
    answer: list[list[str] | BaseException] = []

    def lookup() -> None:
        try:
            answer.append(resolver(host, port))
        except BaseException as exc:
            answer.append(exc)

    worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        raise FetchError("dns", f"{host} did not resolve in {timeout:g} s; try again later")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def _address(text: str, host: str) -> Address:
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError as exc:
        raise FetchError("dns", f"{host} resolves to {text!r}, not an IP address") from exc


def _refusal(host: str, ip: Address, reason: str) -> str:
    return (
        f"{host} is {ip}, {reason}; quotebot does not fetch from it "
        "unless the fetch allow list names the host or its network"
    )


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over the guarded backend, never through an environment proxy."""

    def __init__(self, backend: _GuardedBackend, ca_file: str | None = None) -> None:
        super().__init__(trust_env=False)
        context = (
            ssl.create_default_context(cafile=ca_file)
            if ca_file
            else httpx.create_ssl_context(trust_env=False)
        )
        # httpx offers no hook for httpcore's network backend, so its pool is rebuilt around ours.
        self._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=backend)


class Fetcher:
    """Fetches http(s) URLs safely (checked addresses, caps, deadline) and politely (robots, rates)."""

    def __init__(
        self,
        policy: FetchPolicy = FetchPolicy(),
        *,
        on_fetch: Callable[[str, str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        ca_file: str | None = None,
    ) -> None:
        self.policy = policy
        self.on_fetch = on_fetch
        self.clock = clock
        self.sleep = sleep
        backend = _GuardedBackend(AllowList.parse(policy.allow), resolver or system_resolver)
        self.client = httpx.Client(
            transport=transport or _GuardedTransport(backend, ca_file),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip"},
        )
        self.hosts = Politeness(policy.per_host_interval, policy.backoff_base, policy.backoff_max)
        self.robots: dict[str, RobotsRules] = {}

    def get(
        self, url: str, *, kind: str = "page", etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """Fetch a URL (following up to max_redirects redirects); raise FetchError with the reason."""
        try:
            fetched = self._follow(url, kind, conditional_headers(etag, last_modified))
        except FetchError as exc:
            self._report(kind, exc.kind)
            raise
        self._report(kind, "not-modified" if fetched.status == 304 else "ok")
        return fetched

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _report(self, kind: str, outcome: str) -> None:
        if self.on_fetch is None:
            return
        try:
            self.on_fetch(kind, outcome)
        except Exception:  # metrics must never break a fetch
            log.exception("on_fetch hook failed")

    def _follow(self, url: str, kind: str, headers: dict[str, str]) -> Fetched:
        current, seen, deadline = url, set[str](), None
        for _hop in range(self.policy.max_redirects + 1):
            host = checked_host(current)
            if current in seen:
                raise FetchError("redirect-loop", f"{url} redirects in a loop (back to {current})")
            seen.add(current)
            self._ensure_may_ask(current, host, kind)
            self._wait_turn(host)
            deadline = deadline if deadline is not None else self.clock() + self.policy.timeout
            target = self._ask(url, current, host, kind, headers, deadline)
            if isinstance(target, Fetched):
                return target
            current = target
        raise FetchError(
            "redirects", f"{url} redirects more than {self.policy.max_redirects} times; fetch the final URL"
        )

    def _ensure_may_ask(self, url: str, host: str, kind: str) -> None:
        left = self.hosts.backoff_left(host, self.clock())
        if left > 0:
            raise FetchError(
                "backoff",
                f"{host} failed recently; quotebot waits {left:.0f} s before asking it again",
                retry_after=left,
            )
        if self.policy.respect_robots and kind != "robots":
            self._check_robots(url, host)

    def _wait_turn(self, host: str) -> None:
        wait = self.hosts.reserve(host, self.clock())
        if wait > 0:
            self.sleep(wait)

    def _ask(
        self, url: str, current: str, host: str, kind: str, headers: dict[str, str], deadline: float
    ) -> Fetched | str:
        """Send one request; return the Fetched answer, or the next URL of a redirect."""
        remaining = max(0.001, deadline - self.clock())
        request = self.client.build_request(
            "GET", current, headers=headers, timeout=min(self.policy.timeout, remaining)
        )
        try:
            with _mapped_errors(current):
                response = self.client.send(request, stream=True)
                try:
                    return self._answer(url, current, host, kind, response, deadline)
                finally:
                    response.close()
        except FetchError as exc:
            if exc.kind in HOST_ERRORS:
                self.hosts.record_failure(host, self.clock(), exc.retry_after)
            raise

    def _answer(
        self, url: str, current: str, host: str, kind: str, response: httpx.Response, deadline: float
    ) -> Fetched | str:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status in REDIRECTS and response.headers.get("location"):
            self.hosts.record_success(host)
            return urljoin(current, response.headers["location"].strip())
        if status >= 400 or status in REDIRECTS:
            raise status_error(current, status, retry_after)
        self.hosts.record_success(host)
        content_type = response.headers.get("content-type", "")
        if kind == "page" and not may_be_html(content_type):
            raise FetchError("not-html", f"{current} is {content_type.split(';')[0]}, not an HTML page")
        content = b"" if status == 304 else self._read_body(current, response, deadline)
        return Fetched(
            url=url,
            final_url=current,
            status=status,
            content=content,
            content_type=content_type,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            retry_after=retry_after,
        )

    def _read_body(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        limit = self.policy.max_bytes
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > limit:
            raise too_large(url, limit)
        parts, size = [], 0
        for chunk in decoded_body(
            url, response.headers.get("content-encoding", ""), response.iter_raw(), limit
        ):
            if self.clock() > deadline:
                late = f"{url} took longer than {self.policy.timeout:g} s; try again later"
                raise FetchError("timeout", late)
            size += len(chunk)
            if size > limit:
                raise too_large(url, limit)
            parts.append(chunk)
        return b"".join(parts)

    def _check_robots(self, url: str, host: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # never a user:password
        rules = self.robots.get(origin)
        now = self.clock()
        if rules is None or now - rules.fetched_at > self._robots_ttl(rules):
            rules = self.robots[origin] = self._fetch_robots(origin)
        token = self.policy.user_agent.split("/")[0].split()[0]
        if not rules.allows(url, token):
            raise FetchError(
                "robots", f"{origin}/robots.txt does not let quotebot fetch {url} ({rules.cause})"
            )
        delay = rules.crawl_delay(token)
        if delay:
            self.hosts.state(host).min_interval = min(delay, self.policy.max_crawl_delay)

    def _robots_ttl(self, rules: RobotsRules) -> float:
        failed = rules.parser is None and not rules.allow_all
        return self.policy.robots_failure_ttl if failed else self.policy.robots_ttl

    def _fetch_robots(self, origin: str) -> RobotsRules:
        try:
            fetched = self.get(f"{origin}/robots.txt", kind="robots")
        except FetchError as exc:
            # A site that cannot be reached at all gets that reason, not a robots.txt one.
            if exc.kind in UNREACHABLE:
                raise
            now = self.clock()
            # RFC 9309 2.3.1: a 4xx robots.txt means no rules; a 5xx or no answer means disallow all.
            if exc.kind.startswith("http-4") and exc.kind != "http-429":
                return RobotsRules(None, True, f"robots.txt answered {exc.kind}", now)
            cause = f"robots.txt is unavailable, which forbids all: {exc.reason}"
            return RobotsRules(None, False, cause, now)
        return RobotsRules.from_body(fetched.content, self.clock())


@contextlib.contextmanager
def _mapped_errors(url: str) -> Iterator[None]:
    """Turn httpx's exceptions into FetchError naming the URL."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise _translate(url, exc) from exc


def _translate(url: str, exc: httpx.HTTPError) -> FetchError:
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("timeout", f"{url} did not answer in time; try again later")
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return FetchError("tls", f"{url}: the site's certificate is not valid for it ({exc})")
    if isinstance(exc, httpx.ConnectError):
        return FetchError("connect", f"{url}: the host refuses the connection ({exc}); try again later")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FetchError("url", f"{url} is not a fetchable URL: {exc}")
    return FetchError("connect", f"{url}: the connection failed ({type(exc).__name__}: {exc})")


__all__ = ["FetchError", "FetchPolicy", "Fetched", "Fetcher"]
