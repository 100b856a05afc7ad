"""Connect to Qdrant (server, cluster or in-process) and open the live generation for searching."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embeddings.backend import TextEncoder
from embeddings.errors import BackendUnavailable, IndexCorrupt
from embeddings.qdrant import generations
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.index import QdrantIndex
from embeddings.qdrant.reindex import check_encoder, collection_metadata
from embeddings.qdrant.searcher import QdrantSearcher
from embeddings.search import IndexStats

INSTALL_HINT = "install the optional extra: pip install 'quotebot[qdrant]'"


@dataclass(frozen=True)
class QdrantConfig:
    """Where the engine is: a URL (server or cluster, optional API key) or a directory (in-process)."""

    url: str | None = None
    api_key: str | None = None
    path: Path | None = None  # in-process mode; ":memory:" when neither url nor path is set
    layout: Layout = field(default_factory=Layout)
    timeout: float = 30.0


def connect(config: QdrantConfig) -> Any:
    """Return a QdrantClient for config; raises BackendUnavailable when qdrant-client is missing."""
    try:
        from qdrant_client import QdrantClient
    except ImportError as error:  # the extra is not installed
        raise BackendUnavailable(
            f"the Qdrant backend needs qdrant-client ({error}); {INSTALL_HINT}"
        ) from error
    if config.url:
        return QdrantClient(url=config.url, api_key=config.api_key, timeout=int(config.timeout))
    if config.path is not None:
        Path(config.path).mkdir(parents=True, exist_ok=True)
        return QdrantClient(path=str(config.path))
    return QdrantClient(":memory:")


def stats_of(client: Any, layout: Layout) -> IndexStats:
    """Return what the live generation holds, for /start and /status."""
    name = generations.live_collection(client, layout)
    meta = collection_metadata(client, name)
    index = QdrantIndex(client, layout.live)
    records = index.page_records()
    dates = sorted(str(r["date"]) for r in records.values() if r.get("date"))
    return IndexStats(
        articles=len(records),
        passages=index.count(),
        date_min=dates[0] if dates else None,
        date_max=dates[-1] if dates else None,
        model=str(meta.get("model", "?")),
        created=str(meta.get("created", "?")),
        dense_kind=f"qdrant:{name}",
    )


def open_searcher(
    client: Any,
    layout: Layout,
    encoder: TextEncoder,
    *,
    top_k: int = 3,
    max_per_article: int = 2,
    min_score: float | None = None,
) -> QdrantSearcher:
    """Return a searcher over the live alias, checked against the configured encoder."""
    name = generations.live_collection(client, layout)
    meta = collection_metadata(client, name)
    if meta.get("state") != "ready":
        raise IndexCorrupt(f"the Qdrant collection {name} was never finished; run `quotebot index --full`")
    check_encoder(meta, encoder)
    return QdrantSearcher(
        QdrantIndex(client, layout.live),
        encoder,
        stats_of(client, layout),
        top_k=top_k,
        max_per_article=max_per_article,
        min_score=min_score,
    )
