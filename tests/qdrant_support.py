"""Test helpers for the Qdrant backend: a deterministic encoder and a client that records writes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from embeddings.tokens import fold


class HashingEncoder:
    """Meets the encoder contract with hashed character bigrams (no model; same text, same vector)."""

    model_id = "test-hashing-bigrams"
    dimension = 64
    prompts = {"query": "q: ", "passage": "p: "}  # noqa: RUF012
    batch_size = 16

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        chars = fold(text)
        for gram in (chars[i : i + 2] for i in range(max(1, len(chars) - 1))):
            digest = hashlib.blake2b(gram.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "big") % self.dimension] += 1.0
        vector[0] += 0.5  # no zero vectors, even for an empty text
        return vector / np.linalg.norm(vector)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit vector per question."""
        return (
            np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        )

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit vector per passage (and remember what was encoded)."""
        self.encoded.extend(texts)
        return (
            np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        )


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
