"""The per-user question limit: a sliding one-minute window, and one notice per wait."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class QuestionLimiter:
    """A per-user sliding one-minute window of questions."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[int, deque[float]] = defaultdict(deque)
        self._told_until: dict[int, float] = {}

    def wait_seconds(self, user_id: int, now: float | None = None) -> int:
        """Record a question and return 0, or return the seconds to wait before the next one."""
        now = time.monotonic() if now is None else now
        window = self._seen[user_id]
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, int(60.0 - (now - window[0])) + 1)
        window.append(now)
        return 0

    def first_refusal(self, user_id: int, wait: int, now: float | None = None) -> bool:
        """Tell whether a limited user should hear about the wait (once per wait, so floods get one reply)."""
        now = time.monotonic() if now is None else now
        if now < self._told_until.get(user_id, 0.0):
            return False
        self._told_until[user_id] = now + wait
        return True
