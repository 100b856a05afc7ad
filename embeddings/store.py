"""Transitional: the old directory-based build_index, for bot/telegram/reindex.py until it calls bot.indexing.

The reindex takes pages, not a directory (embeddings.reindex); bot.indexing reads the corpus and
words errors for the user. Delete this module once nothing imports it.
"""

from __future__ import annotations

from pathlib import Path

from corpus.load import CorpusPages
from embeddings.backend import TextEncoder
from embeddings.models import ReindexReport
from embeddings.progress import Progress
from embeddings.reindex import reindex


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    encoder: TextEncoder,
    *,
    full: bool = False,
    max_page_bytes: int = 5_000_000,
    progress: Progress | None = None,
) -> ReindexReport:
    """Bring the local index in index_dir in line with the pages under corpus_dir."""
    from embeddings.local import LocalIndex

    pages = CorpusPages(Path(corpus_dir), max_page_bytes)
    return reindex(LocalIndex(index_dir), encoder, pages, full=full, progress=progress)
