"""Pure per-host politeness state: the gap between requests, backoff after errors, robots.txt rules."""

from __future__ import annotations

import email.utils
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from protego import Protego

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: crawlers must read at least 500 KiB; the rest is ignored
MAX_RETRY_AFTER = 86_400.0  # a Retry-After of more than a day is taken as a day


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Return a Retry-After header's delay in seconds (delta-seconds or HTTP-date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now else datetime.now(UTC)
    return min(max(0.0, (when - current).total_seconds()), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RobotsRules:
    """One site's robots.txt verdict: parsed rules, or allow-all / disallow-all with the cause."""

    body: str | None
    allow_all: bool
    cause: str
    fetched_at: float
    parser: Protego | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_body(cls, body: bytes, at: float) -> RobotsRules:
        """Parse a robots.txt body (its first 500 KiB, as UTF-8 with errors replaced)."""
        text = body[:ROBOTS_MAX_BYTES].decode("utf-8", "replace")
        return cls(text, False, "robots.txt", at, Protego.parse(text))

    def allows(self, url: str, user_agent: str) -> bool:
        """Tell whether the rules let user_agent fetch url (RFC 9309: longest match wins)."""
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        """Return the site's Crawl-delay for user_agent, if it gives one."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None


@dataclass
class HostState:
    """What the fetcher remembers of one host: last request, failures in a row, backoff end."""

    last_request: float = -math.inf
    failures: int = 0
    backoff_until: float = -math.inf
    min_interval: float = 0.0


class Politeness:
    """Per-host timing: a minimum gap between requests and exponential backoff after errors."""

    def __init__(self, interval: float, backoff_base: float, backoff_max: float) -> None:
        self.interval = interval
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.hosts: dict[str, HostState] = {}
        # Threads polling different sources share one fetcher; each booking is one atomic step.
        self.lock = threading.Lock()

    def state(self, host: str) -> HostState:
        """Return the (mutable) state of a host, created on first use."""
        return self.hosts.setdefault(host, HostState())  # atomic under the GIL

    def backoff_left(self, host: str, now: float) -> float:
        """Return the seconds a host stays in backoff (0 when it may be asked)."""
        return max(0.0, self.state(host).backoff_until - now)

    def reserve(self, host: str, now: float) -> float:
        """Book the host's next request slot; return the seconds to wait for it (0 when it is free)."""
        with self.lock:
            state = self.state(host)
            start = max(now, state.last_request + max(self.interval, state.min_interval))
            state.last_request = start
            return start - now

    def record_success(self, host: str) -> None:
        """Clear a host's failures after an answer that was not an error of the host."""
        with self.lock:
            state = self.state(host)
            state.failures = 0
            state.backoff_until = -math.inf

    def record_failure(self, host: str, now: float, retry_after: float | None) -> float:
        """Put a host in backoff (doubling per failure in a row, at least Retry-After); return its length."""
        with self.lock:
            state = self.state(host)
            state.failures += 1
            delay = min(self.backoff_max, self.backoff_base * 2 ** (state.failures - 1))
            delay = max(delay, retry_after or 0.0)
            state.backoff_until = now + delay
            return float(delay)
