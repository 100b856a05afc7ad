"""The per-user question limit: a sliding one-minute window, one notice per wait, bounded per-user maps."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

WINDOW = 60.0  # seconds
MAX_USERS = 100_000  # users tracked at once; beyond it the least recently active are forgotten
SWEEP_EVERY = 1_000  # questions between sweeps that forget users idle for a whole window


class QuestionLimiter:
    """A per-user sliding one-minute window of questions that holds only recently active users."""

    def __init__(self, per_minute: int, *, max_users: int = MAX_USERS) -> None:
        self.per_minute = per_minute
        self.max_users = max_users
        self._seen: OrderedDict[int, deque[float]] = OrderedDict()  # least recently active first
        self._told_until: dict[int, float] = {}
        self._latest_inline: dict[int, str] = {}  # only inline queries being answered
        self._asked = 0

    def wait_seconds(self, user_id: int, now: float | None = None) -> int:
        """Record a question and return 0, or return the seconds to wait before the next one."""
        now = time.monotonic() if now is None else now
        self._housekeep(now)
        window = self._seen.pop(user_id, None) or deque()
        self._seen[user_id] = window  # to the most recent end
        while window and now - window[0] >= WINDOW:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, int(WINDOW - (now - window[0])) + 1)
        window.append(now)
        return 0

    def first_refusal(self, user_id: int, wait: int, now: float | None = None) -> bool:
        """Tell whether a limited user should hear about the wait (once per wait, so floods get one reply)."""
        now = time.monotonic() if now is None else now
        if now < self._told_until.get(user_id, 0.0):
            return False
        self._told_until[user_id] = now + wait
        return True

    def tracked(self) -> int:
        """Return how many per-user entries the limiter holds (all maps)."""
        return len(self._seen) + len(self._told_until) + len(self._latest_inline)

    def sweep(self, now: float) -> None:
        """Forget users whose last question is a whole window old and notices whose wait is over."""
        idle = [user for user, window in self._seen.items() if not window or now - window[-1] >= WINDOW]
        for user in idle:
            del self._seen[user]
        self._told_until = {user: until for user, until in self._told_until.items() if until > now}

    def _housekeep(self, now: float) -> None:
        self._asked += 1
        if self._asked % SWEEP_EVERY == 0:
            self.sweep(now)
        while len(self._seen) >= self.max_users:  # a flood of distinct users: forget the quietest
            user, _ = self._seen.popitem(last=False)
            self._told_until.pop(user, None)

    def typing_inline(self, user_id: int, query_id: str) -> None:
        """Note a user's newest inline query (clients send one per keystroke)."""
        self._latest_inline[user_id] = query_id

    def superseded(self, user_id: int, query_id: str) -> bool:
        """Tell whether the user typed on after this inline query (so it is not worth answering)."""
        return self._latest_inline.get(user_id, query_id) != query_id

    def inline_done(self, user_id: int, query_id: str) -> None:
        """Forget an inline query once handled, unless a newer one replaced it."""
        if self._latest_inline.get(user_id) == query_id:
            del self._latest_inline[user_id]
