"""Connect to Qdrant: a server or cluster by URL (with an optional API key), or in-process in a directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embeddings.errors import BackendUnavailable
from embeddings.qdrant.generations import Layout

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
