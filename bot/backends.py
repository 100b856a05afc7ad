"""The one place that picks the retrieval backend from the settings (QUOTEBOT_BACKEND=local|qdrant).

Both backends meet embeddings.backend's IndexStore, so the search, the reindex, the rollback and the
live reload are one code path (embeddings.search, .reindex, .live) whichever is configured.
"""

from __future__ import annotations

import atexit
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings

if TYPE_CHECKING:
    from embeddings.backend import IndexStore
    from embeddings.backend import TextEncoder as Encoder
    from embeddings.live import LiveSearcher
    from embeddings.models import ReindexProgress, ReindexReport
    from embeddings.progress import Progress
    from embeddings.qdrant.client import QdrantConfig
    from embeddings.reranker import Reranker


def qdrant_config(settings: Settings) -> QdrantConfig:
    """Return where the Qdrant backend's engine is and how its collections are named and spread."""
    from embeddings.qdrant.client import QdrantConfig
    from embeddings.qdrant.generations import Layout

    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    layout = Layout(settings.qdrant_prefix, settings.qdrant_shards, settings.qdrant_replicas)
    path = (
        settings.qdrant_path if settings.qdrant_path or settings.qdrant_url else settings.index_dir / "qdrant"
    )
    return QdrantConfig(url=settings.qdrant_url, api_key=key, path=path, layout=layout)


@cache
def _client(config: QdrantConfig) -> Any:
    """Return one client per engine for the process (in-process mode allows one per directory)."""
    from embeddings.qdrant.client import connect

    client = connect(config)
    atexit.register(client.close)  # in-process mode flushes and unlocks its directory
    return client


def qdrant_client(settings: Settings) -> Any:
    """Return the process's client of the configured Qdrant."""
    return _client(qdrant_config(settings))


def index_store(settings: Settings) -> IndexStore:
    """Return the configured backend's store (Qdrant keeps its reindex lock in QUOTEBOT_INDEX_DIR)."""
    if settings.backend == "qdrant":
        from embeddings.qdrant.store import QdrantStore

        return QdrantStore(qdrant_client(settings), qdrant_config(settings).layout, settings.index_dir)
    from bot.indexing import index_store as local_store

    return local_store(settings.index_dir)


def open_live(settings: Settings, encoder: Encoder, reranker: Reranker | None = None) -> LiveSearcher:
    """Return the searcher that follows the configured backend's live generation."""
    from embeddings.live import LiveSearcher

    return LiveSearcher(
        index_store(settings),
        encoder,
        reranker=reranker,
        top_k=settings.top_k,
        max_per_article=settings.max_per_article,
        min_score=settings.min_score,
    )


STATE_FILE = "bot-state.sqlite3"


def state_file(settings: Settings) -> Path:
    """Return where the bot keeps its small state (button keys, counters, sources, last reindex)."""
    # Inside the index directory (a volume in Docker); the store's prune leaves other files alone.
    return settings.index_dir / STATE_FILE


def open_state(settings: Settings, path: Path) -> Any:
    """Return the bot's state: button keys shared through Qdrant with that backend, else SQLite only."""
    if settings.backend == "qdrant":
        from bot.shared_state import SharedState

        return SharedState(path, qdrant_client(settings), settings.qdrant_prefix)
    from bot.state import BotState

    return BotState(path)


def reindex(
    settings: Settings,
    encoder: Encoder,
    corpus_dir: Path,
    *,
    full: bool,
    progress: Progress | None = None,
    only: Collection[str] | None = None,
) -> ReindexReport:
    """Bring the configured backend's index in line with the pages under corpus_dir (only those
    named, when only: see embeddings.reindex.reindex)."""
    from bot.indexing import corpus_pages
    from embeddings.calibration import for_encoder
    from embeddings.reindex import reindex as run

    # Without an override the run picks the record of the encoder it builds with (auto: known only then).
    record = (
        for_encoder(encoder.model_id, encoder.family, settings.calibration) if settings.calibration else None
    )
    pages = corpus_pages(corpus_dir, settings.max_page_bytes, settings.index_dir)
    return run(index_store(settings), encoder, pages, full=full, progress=progress, record=record, only=only)


def generation_summary(settings: Settings) -> tuple[str, int]:
    """Return the live generation's name and article count."""
    manifest = index_store(settings).manifest()
    return manifest.generation, manifest.articles


def rollback(settings: Settings, encoder: Encoder) -> str:
    """Make the previous generation live again unless encoder cannot search it; return a summary."""
    from embeddings.reindex import rollback as run

    manifest = run(index_store(settings), encoder)
    if settings.backend == "qdrant":
        return f"rolled back Qdrant alias {settings.qdrant_prefix}: now serving {manifest.generation}"
    return (
        f"rolled back {settings.index_dir}: now serving {manifest.generation} built {manifest.created} "
        f"({manifest.passages:,} passages from {manifest.articles:,} articles)"
    )


__all__ = [
    "ReindexProgress",
    "generation_summary",
    "index_store",
    "open_live",
    "open_state",
    "qdrant_client",
    "reindex",
    "rollback",
]
