"""The search queue serves users in turn: one user asking many questions cannot starve the others."""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from bot.telegram.search_queue import batch_size, fair_batch

T = TypeVar("T")


def queue(asks: list[tuple[int, T]]) -> OrderedDict[int, deque[T]]:
    pending: OrderedDict[int, deque[T]] = OrderedDict()
    for user, question in asks:
        pending.setdefault(user, deque()).append(question)
    return pending


def test_a_flooding_user_waits_behind_everyone_else() -> None:
    pending = queue([(1, f"a{i}") for i in range(40)] + [(2, "b0"), (3, "c0")])
    assert fair_batch(pending, 8) == ["a0", "b0", "c0", "a1", "a2", "a3", "a4", "a5"]
    assert list(pending) == [1] and len(pending[1]) == 34


@given(st.lists(st.integers(0, 5), max_size=60), st.integers(1, 10))
def test_batches_keep_every_question_once_and_each_user_in_order(users: list[int], size: int) -> None:
    asks = list(enumerate(users))  # (question number, user)
    pending = queue([(user, (user, n)) for n, user in asks])
    served: list[tuple[int, int]] = []
    while pending:
        batch = fair_batch(pending, size)
        assert 1 <= len(batch) <= size
        counts = Counter(u for u, _ in batch)
        # A user still waiting after a batch got at most one question fewer into it than anyone else.
        assert all(counts[u] >= max(counts.values()) - 1 for u in pending)
        served += batch
    assert sorted(served) == sorted((u, n) for n, u in asks)
    for user in set(users):
        mine = [n for u, n in served if u == user]
        assert mine == sorted(mine)


def test_batches_come_in_a_few_sizes_only() -> None:
    sizes = {batch_size(waiting, 32) for waiting in range(1, 200)}
    assert sizes == {1, 2, 4, 8, 16, 32}
    assert [batch_size(n, 32) for n in (1, 3, 23, 32, 33)] == [1, 2, 16, 32, 32]
    assert batch_size(40, 24) == 16  # never more than max_batch
