"""Test helpers for the Qdrant backend: the shipped test encoder, recording; a client recording writes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embeddings.backend import Matrix
from embeddings.hashing import DIMENSION, HashingEncoder
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.store import QdrantStore


class RecordingEncoder(HashingEncoder):
    """The shipped hashing encoder, remembering every passage text it encoded."""

    def __init__(self, dimension: int = DIMENSION, *, batch_size: int = 32) -> None:
        super().__init__(dimension, batch_size=batch_size)
        self.encoded: list[str] = []

    def encode_passages(self, texts: Sequence[str]) -> Matrix:
        """Encode passages (and remember what was encoded)."""
        self.encoded.extend(texts)
        return super().encode_passages(texts)


def store(client: Any, layout: Layout, lock_dir: Path) -> QdrantStore:
    """Return the Qdrant IndexStore of client under layout, its reindex lock in lock_dir."""
    return QdrantStore(client, layout, lock_dir)


class RecordingClient:
    """Wraps a real QdrantClient and records every upsert and delete (collection, point ids)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.upserted: list[tuple[str, list[int]]] = []
        self.deleted: list[tuple[str, list[int]]] = []

    def upsert(self, collection_name: str, points: Sequence[Any], **options: Any) -> Any:
        self.upserted.append((collection_name, [int(p.id) for p in points]))
        return self._client.upsert(collection_name, points=points, **options)

    def delete(self, collection_name: str, points_selector: Any, **options: Any) -> Any:
        self.deleted.append((collection_name, [int(i) for i in points_selector.points]))
        return self._client.delete(collection_name, points_selector=points_selector, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
