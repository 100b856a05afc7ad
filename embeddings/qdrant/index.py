"""Reads and writes of one Qdrant generation: the fused hybrid query, idf probes, points, page records."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embeddings.models import Passage
from embeddings.qdrant.generations import PAGES_SUFFIX
from embeddings.qdrant.points import DENSE, LEXICAL, SparseTerms, passage_of

log = logging.getLogger(__name__)

UPSERT_BATCH = 256
SCROLL_PAGE = 1024
# How long a token's idf is trusted before it is asked again (writes through this object clear it).
IDF_TTL = 60.0


@dataclass(frozen=True)
class Point:
    """One point of a hybrid query: its passage, fused score and cosine to the question."""

    passage: Passage
    score: float
    cosine: float


def page_key(doc: str) -> int:
    """Return the point id of a page record (a stable 63-bit hash of the page path)."""
    digest = hashlib.blake2b(doc.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF or 1


def _sparse(terms: SparseTerms) -> Any:
    from qdrant_client import models

    return models.SparseVector(indices=list(terms.indices), values=list(terms.values))


def _formula(coverage_scale: float, caption_penalty: float, lexical: bool) -> Any:
    """Return cosine + coverage_scale * BM25 - caption_penalty * [kind = caption] as a FormulaQuery."""
    from qdrant_client import models

    caption = models.FieldCondition(key="kind", match=models.MatchValue(value="caption"))
    terms: list[Any] = ["$score[0]", models.MultExpression(mult=[-caption_penalty, caption])]
    if lexical:
        terms.append(models.MultExpression(mult=[coverage_scale, "$score[1]"]))
    return models.FormulaQuery(formula=models.SumExpression(sum=terms), defaults={"$score[1]": 0.0})


@dataclass(frozen=True)
class Hybrid:
    """One hybrid query: the question's vector, its lexical terms and the weights of the fused sum."""

    vector: np.ndarray
    terms: SparseTerms
    coverage_scale: float  # lexical weight / the sum of the terms' idf (BM25 -> coverage -> weighted)
    caption_penalty: float

    @property
    def unit(self) -> np.ndarray:
        """Return the vector scaled to length 1 (the cosine of a returned point is a dot product)."""
        return self.vector / max(float(np.linalg.norm(self.vector)), 1e-12)


def _request(query: Hybrid, pool: int) -> Any:
    """Return the QueryRequest of one hybrid query: both prefetches, rescored exactly, then the formula."""
    from qdrant_client import models

    dense = query.vector.astype(np.float32).tolist()
    lexical = bool(query.terms.indices)
    first = [models.Prefetch(query=dense, using=DENSE, limit=pool)]
    if lexical:
        first.append(models.Prefetch(query=_sparse(query.terms), using=LEXICAL, limit=pool))
    # Rescoring the union gives every candidate its exact cosine and its exact BM25 score.
    exact = [models.Prefetch(prefetch=first, query=dense, using=DENSE, limit=2 * pool)]
    if lexical:
        exact.append(
            models.Prefetch(prefetch=first, query=_sparse(query.terms), using=LEXICAL, limit=2 * pool)
        )
    return models.QueryRequest(
        prefetch=exact,
        query=_formula(query.coverage_scale, query.caption_penalty, lexical),
        limit=2 * pool,
        with_payload=True,
        with_vector=[DENSE],
    )


class QdrantIndex:
    """One collection (or alias) of passages and its page records, behind qdrant-client."""

    def __init__(self, client: Any, collection: str, *, idf_ttl: float = IDF_TTL) -> None:
        self.client = client
        self.collection = collection
        self.idf_ttl = idf_ttl
        self._idf: dict[int, tuple[float, float]] = {}  # token index -> (idf, when asked)
        self._count: tuple[int, float] | None = None

    # ------------------------------------------------------------ query side

    def hybrid(self, queries: Sequence[Hybrid], pool: int) -> list[list[Point]]:
        """Return per query the union of its dense and lexical top-pool, scored on the server by the
        weighted sum: all queries in one batched request."""
        if not queries:
            return []
        answers = self.client.query_batch_points(
            self.collection, requests=[_request(q, pool) for q in queries]
        )
        return [
            [
                Point(
                    passage_of(int(p.id), p.payload), float(p.score), float(np.dot(p.vector[DENSE], q.unit))
                )
                for p in answer.points
            ]
            for q, answer in zip(queries, answers, strict=True)
        ]

    def idf(self, indices: Sequence[int]) -> dict[int, float]:
        """Return the engine's idf of each token index (df 0 for tokens no passage holds)."""
        from qdrant_client import models

        now = time.monotonic()
        fresh = {i: v for i, (v, t) in self._idf.items() if now - t < self.idf_ttl}
        asked = sorted({int(i) for i in indices} - fresh.keys())
        if asked:
            probes = [
                models.QueryRequest(
                    query=models.SparseVector(indices=[i], values=[1.0]),
                    using=LEXICAL,
                    limit=1,
                    with_vector=[LEXICAL],
                )
                for i in asked
            ]
            answers = self.client.query_batch_points(self.collection, requests=probes)
            n = self.count()
            for i, answer in zip(asked, answers, strict=True):
                fresh[i] = self._probe_idf(i, answer.points, n)
                self._idf[i] = (fresh[i], now)
        return {int(i): fresh[int(i)] for i in indices}

    @staticmethod
    def _probe_idf(index: int, points: Sequence[Any], n: int) -> float:
        """Return idf from a one-term probe: its score is idf * the top point's stored weight."""
        if points:
            stored = points[0].vector[LEXICAL]
            weight = dict(zip(stored.indices, stored.values, strict=True)).get(index, 0.0)
            if weight > 0:
                return float(points[0].score) / float(weight)
        return math.log(1 + (n + 0.5) / 0.5)

    def count(self) -> int:
        """Return how many passages the collection holds (cached like the idf)."""
        now = time.monotonic()
        if self._count is None or now - self._count[1] >= self.idf_ttl:
            self._count = (int(self.client.count(self.collection, exact=True).count), now)
        return self._count[0]

    def passages(self, ids: Iterable[int]) -> dict[int, Passage]:
        """Return the passages with these ids (absent ids are left out)."""
        points = self.client.retrieve(self.collection, ids=[int(i) for i in ids], with_payload=True)
        return {int(p.id): passage_of(int(p.id), p.payload) for p in points}

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Return the stored dense vectors of these ids."""
        points = self.client.retrieve(self.collection, ids=[int(i) for i in ids], with_vectors=[DENSE])
        return {int(p.id): np.asarray(p.vector[DENSE], dtype=np.float32) for p in points}

    def page(self, doc: str) -> list[Passage]:
        """Return a page's passages in page order."""
        return sorted(
            (passage_of(int(p.id), p.payload) for p in self._scroll_doc(doc, True)), key=lambda p: p.ordinal
        )

    def page_ids(self, doc: str) -> set[int]:
        """Return the ids of every point of a page (those of a killed run included)."""
        return {int(p.id) for p in self._scroll_doc(doc, False)}

    def _scroll_doc(self, doc: str, payload: bool) -> Iterator[Any]:
        from qdrant_client import models

        only = models.Filter(must=[models.FieldCondition(key="doc", match=models.MatchValue(value=doc))])
        yield from self._scroll(self.collection, only, payload)

    def _scroll(self, collection: str, only: Any, payload: bool) -> Iterator[Any]:
        offset = None
        while True:
            points, offset = self.client.scroll(
                collection, scroll_filter=only, limit=SCROLL_PAGE, offset=offset, with_payload=payload
            )
            yield from points
            if offset is None:
                return

    # ------------------------------------------------------------ write side

    def upsert(self, points: Sequence[Any]) -> None:
        """Write points in batches, waiting until each is applied."""
        for start in range(0, len(points), UPSERT_BATCH):
            self.client.upsert(self.collection, points=list(points[start : start + UPSERT_BATCH]), wait=True)
        self._idf.clear()
        self._count = None

    def delete(self, ids: Iterable[int]) -> None:
        """Delete the points with these ids."""
        from qdrant_client import models

        doomed = sorted(int(i) for i in ids)
        for start in range(0, len(doomed), UPSERT_BATCH):
            chunk = doomed[start : start + UPSERT_BATCH]
            self.client.delete(
                self.collection, points_selector=models.PointIdsList(points=list[Any](chunk)), wait=True
            )
        self._idf.clear()
        self._count = None

    def page_records(self) -> dict[str, dict[str, Any]]:
        """Return every page record (doc -> payload): what is indexed, for the next incremental run."""
        return {
            str(p.payload["doc"]): p.payload for p in self._scroll(self.collection + PAGES_SUFFIX, None, True)
        }

    def put_pages(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Write page records (doc -> payload)."""
        from qdrant_client import models

        points = [
            models.PointStruct(id=page_key(doc), payload=dict(r), vector={}) for doc, r in records.items()
        ]
        for start in range(0, len(points), UPSERT_BATCH):
            chunk = points[start : start + UPSERT_BATCH]
            self.client.upsert(self.collection + PAGES_SUFFIX, points=chunk, wait=True)

    def drop_pages(self, docs: Iterable[str]) -> None:
        """Delete the page records of docs."""
        from qdrant_client import models

        keys = [page_key(d) for d in docs]
        if keys:
            selector = models.PointIdsList(points=list[Any](keys))
            self.client.delete(self.collection + PAGES_SUFFIX, points_selector=selector, wait=True)
