"""When a source is due again: its interval, with TTL and Retry-After as minimums, backing off on failure."""

from __future__ import annotations

MAX_BACKOFF = 24 * 3600.0  # a failing source is still tried once a day
MAX_EXPONENT = 10


def next_due(
    now: float,
    every_minutes: int,
    *,
    ttl_minutes: int | None = None,
    retry_after: float | None = None,
    failures: int = 0,
) -> float:
    """Return when to poll a source next: every * 2**failures (capped), never before TTL or Retry-After."""
    interval = max(every_minutes, ttl_minutes or 0) * 60.0
    if failures > 0:
        interval = max(interval, min(interval * 2 ** min(failures, MAX_EXPONENT), MAX_BACKOFF))
    return now + max(interval, retry_after or 0.0)
