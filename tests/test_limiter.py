"""The per-user question limit holds, and its per-user maps stay bounded while the bot runs."""

from __future__ import annotations

from bot.telegram import limiter as limiter_module
from bot.telegram.limiter import WINDOW, QuestionLimiter


def test_idle_users_are_forgotten_while_running(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(limiter_module, "SWEEP_EVERY", 100)
    limiter = QuestionLimiter(2)
    for user in range(10_000):  # ten thousand users, one question each, a second apart
        limiter.wait_seconds(user, now=float(user))
        limiter.first_refusal(user, 30, now=float(user))
    # Only users seen within the last minute (plus the questions since the last sweep) are held.
    assert limiter.tracked() <= 2 * (int(WINDOW) + 100)


def test_a_flood_of_distinct_users_is_capped() -> None:
    limiter = QuestionLimiter(2, max_users=500)
    for user in range(5_000):
        limiter.wait_seconds(user, now=0.0)  # all inside one window: nobody is idle yet
    assert limiter.tracked() <= 500
    assert limiter.wait_seconds(4_999, now=1.0) == 0
    assert limiter.wait_seconds(4_999, now=2.0) > 0  # the recent ones are still limited


def test_forgetting_an_idle_user_does_not_lift_a_running_limit() -> None:
    limiter = QuestionLimiter(1)
    assert limiter.wait_seconds(7, now=0.0) == 0
    limiter.sweep(now=30.0)
    assert limiter.wait_seconds(7, now=30.0) > 0
    limiter.sweep(now=61.0)
    assert limiter.wait_seconds(7, now=61.0) == 0


def test_only_the_newest_inline_query_of_a_user_counts() -> None:
    limiter = QuestionLimiter(5)
    for query_id in ("1", "2", "3"):
        limiter.typing_inline(42, query_id)
    assert limiter.superseded(42, "1") and limiter.superseded(42, "2")
    assert not limiter.superseded(42, "3")
    limiter.inline_done(42, "2")  # an older one finishing does not forget the newest
    assert limiter.superseded(42, "2")
    limiter.inline_done(42, "3")
    assert limiter.tracked() == 0
