"""The one place that picks the retrieval backend from the settings (QUOTEBOT_BACKEND=local|qdrant)."""

from __future__ import annotations

import atexit
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings

if TYPE_CHECKING:
    from embeddings.backend import TextEncoder as Encoder
    from embeddings.models import ReindexProgress, ReindexReport
    from embeddings.qdrant.client import QdrantConfig

Progress = Any  # Callable[[ReindexProgress], None] | None


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


def open_live(settings: Settings, encoder: Encoder) -> Any:
    """Return the live searcher of the configured backend (LiveSearcher or QdrantLive)."""
    options: dict[str, Any] = {
        "top_k": settings.top_k,
        "max_per_article": settings.max_per_article,
        "min_score": settings.min_score,
    }
    if settings.backend == "qdrant":
        from embeddings.qdrant.live import QdrantLive

        return QdrantLive(qdrant_client(settings), qdrant_config(settings).layout, encoder, **options)
    from bot.indexing import index_store
    from embeddings.live import LiveSearcher

    return LiveSearcher(index_store(settings.index_dir), encoder, **options)


def open_state(settings: Settings, path: Path) -> Any:
    """Return the bot's state: button keys shared through Qdrant with that backend, else SQLite only."""
    if settings.backend == "qdrant":
        from bot.shared_state import SharedState

        return SharedState(path, qdrant_client(settings), settings.qdrant_prefix)
    from bot.state import BotState

    return BotState(path)


def reindex(
    settings: Settings, encoder: Encoder, corpus_dir: Path, *, full: bool, progress: Progress = None
) -> ReindexReport:
    """Bring the configured backend's index in line with corpus_dir."""
    if settings.backend == "qdrant":
        from corpus.errors import CorpusError
        from corpus.load import CorpusPages
        from embeddings.qdrant.reindex import sync

        if not Path(corpus_dir).is_dir():
            raise CorpusError(
                f"corpus directory {corpus_dir} does not exist; pass CORPUS_DIR or set QUOTEBOT_CORPUS_DIR"
            )
        pages = CorpusPages(Path(corpus_dir), settings.max_page_bytes)
        client, layout = qdrant_client(settings), qdrant_config(settings).layout
        return sync(client, layout, pages, encoder, settings.index_dir, full=full, progress=progress)
    from bot.indexing import build_index

    return build_index(
        corpus_dir,
        settings.index_dir,
        encoder,
        full=full,
        max_page_bytes=settings.max_page_bytes,
        progress=progress,
    )


def generation_summary(settings: Settings) -> tuple[str, int]:
    """Return the live generation's name and article count."""
    if settings.backend == "qdrant":
        from embeddings.qdrant import generations
        from embeddings.qdrant.index import QdrantIndex

        client, layout = qdrant_client(settings), qdrant_config(settings).layout
        return generations.live_collection(client, layout), len(
            QdrantIndex(client, layout.live).page_records()
        )
    from bot.indexing import index_store

    manifest = index_store(settings.index_dir).manifest()
    return manifest.generation, manifest.articles


def rollback(settings: Settings, encoder: Encoder) -> str:
    """Make the previous generation live again (local: unless encoder cannot search it); return a summary."""
    if settings.backend == "qdrant":
        from embeddings.qdrant import generations
        from embeddings.qdrant.reindex import reindex_lock

        client, layout = qdrant_client(settings), qdrant_config(settings).layout
        with reindex_lock(settings.index_dir):
            name = generations.rollback(client, layout)
        return f"rolled back Qdrant alias {layout.live}: now serving {name}"
    from bot.indexing import rollback_index

    manifest = rollback_index(settings.index_dir, encoder)
    return (
        f"rolled back {settings.index_dir}: now serving {manifest.generation} built {manifest.created} "
        f"({manifest.passages:,} passages from {manifest.articles:,} articles)"
    )


__all__ = [
    "ReindexProgress",
    "generation_summary",
    "open_live",
    "open_state",
    "qdrant_client",
    "reindex",
    "rollback",
]
