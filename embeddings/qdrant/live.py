"""The Qdrant counterpart of LiveSearcher: questions always go to the alias; stats follow its target."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from embeddings.backend import TextEncoder
from embeddings.errors import EmbeddingsError
from embeddings.qdrant import generations
from embeddings.qdrant.client import open_searcher
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.searcher import QdrantSearcher

log = logging.getLogger(__name__)

# How often (seconds) the alias target is looked up again, to refresh what /status reports.
CHECK_INTERVAL = 5.0


class QdrantLive:
    """Serves the live alias; a rebuild or rollback elsewhere is picked up without a restart."""

    def __init__(
        self,
        client: Any,
        layout: Layout,
        encoder: TextEncoder,
        *,
        check_interval: float = CHECK_INTERVAL,
        **options: Any,
    ) -> None:
        self.client = client
        self.layout = layout
        self.encoder = encoder
        self.check_interval = check_interval
        self.options = options
        self._searcher: QdrantSearcher | None = None
        self._generation: str | None = None
        self._checked = 0.0
        self._loading = threading.Lock()

    @property
    def generation(self) -> str | None:
        """Return the collection the alias named when last checked."""
        return self._generation

    @property
    def current(self) -> QdrantSearcher:
        """Return a searcher over the alias (raises when no generation was ever built)."""
        now = time.monotonic()
        if self._searcher is None or now - self._checked >= self.check_interval:
            self._checked = now
            try:
                self.reload()
            except EmbeddingsError:
                if self._searcher is None:
                    raise
                log.exception("keeping Qdrant generation %s", self._generation)
        assert self._searcher is not None
        return self._searcher

    def reload(self) -> bool:
        """Reopen the searcher if the alias names another collection; return whether it did."""
        with self._loading:
            name = generations.live_collection(self.client, self.layout)
            if name == self._generation and self._searcher is not None:
                return False
            self._searcher = open_searcher(self.client, self.layout, self.encoder, **self.options)
            self._generation = name
            log.info("serving Qdrant generation %s (%d passages)", name, self._searcher.stats.passages)
            return True
