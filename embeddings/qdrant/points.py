"""Passages as Qdrant points: payload, a named dense vector and a BM25 sparse vector from OUR tokens."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embeddings.models import Passage
from embeddings.tokens import tokenize

DENSE = "dense"
LEXICAL = "lexical"
# The same BM25 as the local backend (bm25s "lucene"): each term adds idf * tf / (tf + k1 * norm).
# Qdrant multiplies by the idf at query time (Modifier.IDF), so a point stores only the tf part.
K1 = 1.5
B = 0.75
PAYLOAD_FIELDS = ("text", "doc", "ordinal", "kind", "title", "outlet", "url", "date")


def token_index(token: str) -> int:
    """Return the sparse dimension of a token: a stable 32-bit hash (no vocabulary to keep in step)."""
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big")


@dataclass(frozen=True)
class SparseTerms:
    """A sparse vector as parallel index and value lists (indices unique and ascending)."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


def document_terms(tokens: Sequence[str], average_length: float) -> SparseTerms:
    """Return the BM25 term-frequency part of a passage's tokens, per hashed token."""
    counts = Counter(token_index(t) for t in tokens)
    norm = K1 * (1 - B + B * len(tokens) / average_length) if average_length > 0 else K1
    indices = sorted(counts)
    # float32 like bm25s, so both backends add up the same numbers.
    values = np.asarray([counts[i] / (counts[i] + norm) for i in indices], dtype=np.float32)
    return SparseTerms(tuple(indices), tuple(float(v) for v in values))


def query_terms(tokens: Sequence[str]) -> SparseTerms:
    """Return a question's distinct hashed tokens, each weighted 1 (bm25s counts a term once)."""
    indices = sorted({token_index(t) for t in tokens})
    return SparseTerms(tuple(indices), tuple(1.0 for _ in indices))


def average_length(texts: Sequence[str]) -> float:
    """Return the mean token count of texts (bm25s's avgdl, empty passages included)."""
    return float(np.mean([len(tokenize(t)) for t in texts])) if texts else 1.0


def payload_of(passage: Passage) -> dict[str, Any]:
    """Return the payload stored with a passage's point."""
    return {name: getattr(passage, name) for name in PAYLOAD_FIELDS}


def passage_of(point_id: int, payload: Mapping[str, Any]) -> Passage:
    """Return the Passage a point's id and payload describe."""
    return Passage(
        id=int(point_id),
        doc=str(payload["doc"]),
        ordinal=int(payload["ordinal"]),
        text=str(payload["text"]),
        kind=str(payload["kind"]),
        title=str(payload["title"]),
        outlet=payload.get("outlet"),
        url=payload.get("url"),
        date=payload.get("date"),
    )


def point_of(passage: Passage, vector: np.ndarray, avgdl: float) -> Any:
    """Return the qdrant PointStruct of a passage: payload, dense vector, BM25 sparse vector."""
    from qdrant_client import models

    terms = document_terms(tokenize(passage.text), avgdl)
    return models.PointStruct(
        id=passage.id,
        payload=payload_of(passage),
        vector={
            DENSE: np.asarray(vector, dtype=np.float32).tolist(),
            LEXICAL: models.SparseVector(indices=list(terms.indices), values=list(terms.values)),
        },
    )
