"""The search queue: first-page questions batched into one search_many call, users served in turn."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, TypeVar

from embeddings.errors import BadQuestion
from embeddings.models import Answer

if TYPE_CHECKING:
    from embeddings.live import LiveSearcher

T = TypeVar("T")
# Questions waiting (this batch included) up to which the answer verifier reads their candidates.
VERIFY_BACKLOG = 4


def fair_batch(pending: OrderedDict[int, deque[T]], max_batch: int) -> list[T]:
    """Take up to max_batch items, one per user in turn; a user with more goes to the back of the line."""
    batch: list[T] = []
    while pending and len(batch) < max_batch:
        user, waiting = pending.popitem(last=False)
        batch.append(waiting.popleft())
        if waiting:
            pending[user] = waiting
    return batch


def batch_size(waiting: int, max_batch: int) -> int:
    """Return how many of the waiting questions to encode together: a power of two, at most max_batch.

    The model runtime keeps state for every input shape it meets (OpenVINO's CPU plugin caches
    kernels per shape), so batch sizes from a handful of values keep the bot's memory flat.
    """
    return 1 << (max(1, min(waiting, max_batch)).bit_length() - 1)


class SearchQueue:
    """Batches first-page questions that arrive together into one search_many call off the event loop.

    While a batch is being answered, new questions queue up and go in the next batch together, so
    one user sees no added wait and many users share the model's batched encoding. Each batch takes
    one question per user in turn, so a user who asks many at once cannot hold the others back.
    """

    def __init__(self, live: LiveSearcher, *, max_batch: int = 32, workers: int = 2) -> None:
        self.live = live
        self.max_batch = max_batch
        self.workers = workers
        self._pending: OrderedDict[int, deque[tuple[str, asyncio.Future[Answer]]]] = OrderedDict()
        self._running = 0

    async def ask(self, question: str, user_id: int = 0) -> Answer:
        """Return the answer to one question (raises BadQuestion like Searcher.search)."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(user_id, deque()).append((question, future))
        if self._running < self.workers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    def _search(self, questions: list[str], verify: bool = True) -> list[Answer | BadQuestion]:
        return self.live.current.search_many(questions, verify=verify)

    async def _drain(self) -> None:
        try:
            while self._pending:
                waiting = sum(len(questions) for questions in self._pending.values())
                batch = fair_batch(self._pending, batch_size(waiting, self.max_batch))
                # The verifier costs ~25 ms a candidate on one core: with a backlog it would make every
                # later user wait, so then answers come from retrieval alone, as without it.
                verify = waiting <= VERIFY_BACKLOG
                try:
                    results = await asyncio.to_thread(self._search, [q for q, _ in batch], verify)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running -= 1
