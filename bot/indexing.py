"""The CLI's and the bot's door to the local backend over the configured directories, and the corpus pages."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.errors import CorpusError

PAGE_STATS = ".page-stats"  # in the index directory; hidden, so generation pruning leaves it

if TYPE_CHECKING:
    from corpus.load import CorpusPages
    from embeddings.backend import TextEncoder
    from embeddings.local import LocalIndex
    from embeddings.manifest import Manifest
    from embeddings.models import ReindexReport
    from embeddings.progress import Progress
    from embeddings.reranker import Reranker
    from embeddings.search import Searcher


def index_store(index_dir: Path | str) -> LocalIndex:
    """Return the index kept in index_dir."""
    from embeddings.local import LocalIndex

    return LocalIndex(index_dir)


def build_index(
    corpus_dir: Path | str,
    index_dir: Path | str,
    encoder: TextEncoder,
    *,
    full: bool = False,
    max_page_bytes: int = 5_000_000,
    progress: Progress | None = None,
    only: Collection[str] | None = None,
) -> ReindexReport:
    """Read the pages under corpus_dir (only those named, when only) and bring the index in index_dir
    in line with them."""
    from embeddings.reindex import reindex

    pages = corpus_pages(corpus_dir, max_page_bytes, index_dir)
    return reindex(index_store(index_dir), encoder, pages, full=full, progress=progress, only=only)


def corpus_pages(
    corpus_dir: Path | str, max_page_bytes: int = 5_000_000, index_dir: Path | str | None = None
) -> CorpusPages:
    """Return the pages under corpus_dir to index; raises CorpusError when the directory is missing.

    With index_dir, the scan keeps its memo of the pages' file identities there (PAGE_STATS), so a
    rescan reads only the pages that changed.
    """
    from corpus.load import CorpusPages

    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"corpus directory {corpus_dir} does not exist; pass CORPUS_DIR or set QUOTEBOT_CORPUS_DIR"
        )
    return CorpusPages(
        corpus_dir, max_page_bytes, stats_file=Path(index_dir) / PAGE_STATS if index_dir else None
    )


def rollback_index(index_dir: Path | str, encoder: TextEncoder) -> Manifest:
    """Serve the previous index in index_dir again, refusing one the encoder cannot query."""
    from embeddings.reindex import rollback

    return rollback(index_store(index_dir), encoder)


def open_searcher(
    index_dir: Path | str,
    encoder: TextEncoder,
    *,
    top_k: int = 3,
    max_per_article: int = 2,
    min_score: float | None = None,
    reranker: Reranker | None = None,
) -> Searcher:
    """Open the live index in index_dir for searching, checked against the encoder."""
    from embeddings.search import open_searcher as open_store

    return open_store(
        index_store(index_dir),
        encoder,
        top_k=top_k,
        max_per_article=max_per_article,
        min_score=min_score,
        reranker=reranker,
    )
