"""A Searcher that follows the live generation: a reindex or rollback is picked up without a restart."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from embeddings.backend import IndexStore, TextEncoder
from embeddings.calibration import as_dict
from embeddings.errors import EmbeddingsError, IndexMissing

if TYPE_CHECKING:
    from embeddings.reranker import Reranker
    from embeddings.search import Searcher

log = logging.getLogger(__name__)

# How often (seconds) `current` asks the store which generation is live (locally one readlink).
CHECK_INTERVAL = 1.0


class LiveSearcher:
    """Serves the live index generation and swaps in a new one once a background thread has loaded it.

    Every call of `current` returns a complete Searcher: the one served until the swap, the new one after.
    Only the first load (nothing to serve yet) and `reload` run in the caller's thread.
    """

    def __init__(
        self,
        store: IndexStore,
        encoder: TextEncoder,
        *,
        check_interval: float = CHECK_INTERVAL,
        top_k: int = 3,
        max_per_article: int = 2,
        min_score: float | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.reranker = reranker
        self.check_interval = check_interval
        self.top_k, self.max_per_article, self.min_score = top_k, max_per_article, min_score
        self._searcher: Searcher | None = None
        self._generation: str | None = None  # the generation name _searcher serves
        self._failed: str | None = None  # a generation that failed to load (not retried until it changes)
        self._checked = 0.0
        self._error: EmbeddingsError | None = None  # why the first load failed, while nothing is served
        self._loading = threading.Lock()  # held by whoever is loading (a caller or the loader thread)
        self._loader: threading.Thread | None = None

    @property
    def generation(self) -> str | None:
        """Return the name of the generation being served (None before the first load)."""
        return self._generation

    @property
    def current(self) -> Searcher:
        """Return the Searcher served now, starting a background load when a newer generation appears.

        Raises only when no generation ever loaded.
        """
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
                self._load_in_background()
        return self._searcher or searcher

    def _load_in_background(self) -> None:
        """Start loading the live generation in a thread unless a load runs; the old one serves meanwhile."""
        # Opening a generation reads every file of it (seconds on a large index): no question waits.
        if not self._loading.acquire(blocking=False):
            return
        try:
            self._loader = threading.Thread(target=self._load_and_release, name="index-loader", daemon=True)
            self._loader.start()
        except BaseException:
            self._loading.release()
            raise

    def _load_and_release(self) -> None:
        """Load the live generation in the loader thread, log a failure, then release the loading lock."""
        try:
            self._load()
        except EmbeddingsError as exc:
            log.error("keeping index %s: the new one cannot be opened: %s", self._generation, exc)
        except Exception:
            log.exception("keeping index %s: loading the new one failed", self._generation)
        finally:
            self._loading.release()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait for a background load to end; return False when it still runs after timeout seconds."""
        loader = self._loader
        if loader is None:
            return True
        loader.join(timeout)
        return not loader.is_alive()

    def reload(self) -> bool:
        """Open the live generation now if it differs from the one served; return whether it swapped."""
        with self._loading:
            return self._load()

    def _recalibrated(self, name: str) -> bool:
        """Return whether the generation served now stores another calibration record (Qdrant: in place)."""
        if self._searcher is None:
            return True
        stored = self.store.manifest(name).calibration
        return stored is not None and stored != as_dict(self._searcher.calibration)

    def _load(self) -> bool:
        """Load the live generation and swap it in (caller holds the loading lock)."""
        from embeddings.search import open_searcher

        name = self.store.live()
        if name is None:
            self.store.manifest()  # raises IndexMissing, worded by the store
            raise IndexMissing(f"no index in {self.store.location}")
        if name == self._generation and not self._recalibrated(name):
            return False
        try:
            searcher = open_searcher(
                self.store,
                self.encoder,
                generation=name,
                top_k=self.top_k,
                max_per_article=self.max_per_article,
                min_score=self.min_score,
                reranker=self.reranker,
            )
        except Exception:
            self._failed = name
            raise
        self._searcher, self._generation, self._failed = searcher, name, None
        log.info("serving index generation %s (%d passages)", name, searcher.stats.passages)
        return True
