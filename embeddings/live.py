"""A Searcher that follows the live generation: a reindex or rollback is picked up without a restart."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from embeddings.backend import IndexStore, TextEncoder
from embeddings.errors import EmbeddingsError, IndexMissing

if TYPE_CHECKING:
    from embeddings.search import Searcher

log = logging.getLogger(__name__)

# How often (seconds) `current` asks the store which generation is live (locally one readlink).
CHECK_INTERVAL = 1.0


class LiveSearcher:
    """Serves the live index generation and swaps in a new one once it is fully loaded."""

    def __init__(
        self,
        store: IndexStore,
        encoder: TextEncoder,
        *,
        check_interval: float = CHECK_INTERVAL,
        top_k: int = 3,
        max_per_article: int = 2,
        min_score: float | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.check_interval = check_interval
        self.top_k, self.max_per_article, self.min_score = top_k, max_per_article, min_score
        self._searcher: Searcher | None = None
        self._generation: str | None = None  # the generation name _searcher serves
        self._failed: str | None = None  # a generation that failed to load (not retried until it changes)
        self._checked = 0.0
        self._error: EmbeddingsError | None = None  # why the first load failed, while nothing is served
        self._loading = threading.Lock()

    @property
    def generation(self) -> str | None:
        """Return the name of the generation being served (None before the first load)."""
        return self._generation

    @property
    def current(self) -> Searcher:
        """Return the Searcher of the newest loadable generation (raises only when none ever loaded)."""
        searcher = self._searcher
        now = time.monotonic()
        if searcher is None:
            # Until an index loads, each failure is remembered for check_interval, not retried per question.
            if self._error is not None and now - self._checked < self.check_interval:
                raise self._error
            self._checked = now
            try:
                self.reload()
            except EmbeddingsError as exc:
                self._error = exc
                raise
            self._error = None
            searcher = self._searcher
            assert searcher is not None
            return searcher
        if now - self._checked >= self.check_interval:
            self._checked = now
            if self.store.live() not in (self._generation, self._failed):
                self._try_reload()
        return self._searcher or searcher

    def _try_reload(self) -> None:
        """Reload in this thread unless another thread already is; keep serving the old index on errors."""
        if not self._loading.acquire(blocking=False):
            return
        try:
            self._load()
        except EmbeddingsError as exc:
            log.error("keeping index %s: the new one cannot be opened: %s", self._generation, exc)
        finally:
            self._loading.release()

    def reload(self) -> bool:
        """Open the live generation now if it differs from the one served; return whether it swapped."""
        with self._loading:
            return self._load()

    def _load(self) -> bool:
        """Load the live generation and swap it in (caller holds the loading lock)."""
        from embeddings.search import open_searcher

        name = self.store.live()
        if name is None:
            self.store.manifest()  # raises IndexMissing, worded by the store
            raise IndexMissing(f"no index in {self.store.location}")
        if name == self._generation and self._searcher is not None:
            return False
        try:
            searcher = open_searcher(
                self.store,
                self.encoder,
                generation=name,
                top_k=self.top_k,
                max_per_article=self.max_per_article,
                min_score=self.min_score,
            )
        except EmbeddingsError:
            self._failed = name
            raise
        self._searcher, self._generation, self._failed = searcher, name, None
        log.info("serving index generation %s (%d passages)", name, searcher.stats.passages)
        return True
