"""Reindex progress: milestones turned into ReindexProgress snapshots, with an ETA by characters."""

from __future__ import annotations

import time
from collections.abc import Callable

from embeddings.models import ReindexProgress

Progress = Callable[[ReindexProgress], None]


class Reporter:
    """Turns reindex milestones into ReindexProgress snapshots for the caller."""

    def __init__(self, callback: Progress | None, pages_total: int) -> None:
        self.callback = callback
        self.pages_total = pages_total
        self.pages_scanned = 0
        self.pages_changed = 0
        self.passages_total = 0
        self.passages_embedded = 0
        self.passages_reused = 0
        self.embed_started = 0.0
        self.chars_total = 0
        self.chars_done = 0

    def emit(self, stage: str, eta: float | None = None) -> None:
        """Send one snapshot to the caller (counts as they stand)."""
        if self.callback is not None:
            self.callback(
                ReindexProgress(
                    stage=stage,
                    pages_scanned=self.pages_scanned,
                    pages_total=self.pages_total,
                    pages_changed=self.pages_changed,
                    passages_embedded=self.passages_embedded,
                    passages_total=self.passages_total,
                    eta_seconds=eta,
                    passages_reused=self.passages_reused,
                )
            )

    def embedded(self, done: int, chars: int) -> None:
        """Report done passages embedded, chars more characters since the last call."""
        # Passages go longest first, so the ETA follows characters, not passages.
        self.passages_embedded = done
        self.chars_done += chars
        elapsed = time.monotonic() - self.embed_started
        rate = self.chars_done / elapsed if elapsed > 0 else 0.0
        eta = (self.chars_total - self.chars_done) / rate if rate > 0 else None
        self.emit("embed", eta)
