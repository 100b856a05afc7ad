"""One Qdrant generation opened for queries: both candidate pools fused on the server, in one request.

The reader keeps no corpus in memory: passages come back as payloads, so any replica can answer a
button press about any passage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embeddings.backend import Fusion, Matrix, Pool
from embeddings.models import Headline, Passage
from embeddings.qdrant.index import Hybrid, Point, QdrantIndex
from embeddings.qdrant.points import query_terms
from embeddings.tokens import tokenize


class QdrantReader:
    """An IndexReader over one collection or alias (an alias follows a switch at once)."""

    def __init__(self, index: QdrantIndex) -> None:
        self.index = index

    def pools(self, queries: Matrix, lexical: Sequence[str], k: int, fusion: Fusion) -> list[Pool]:
        """Return per query row its dense and lexical candidates, fused by the engine (one batch)."""
        terms = [query_terms(tokenize(text)) for text in lexical]
        idf = self.index.idf(sorted({i for t in terms for i in t.indices}))
        asked = []
        for row, t in enumerate(terms):
            weight = sum(idf[i] for i in t.indices)
            scale = fusion.lexical_weight / weight if weight > 0 else 0.0
            asked.append(Hybrid(queries[row], t, scale, fusion.caption_penalty))
        return [
            _pool(points, fusion, bool(q.coverage_scale))
            for q, points in zip(asked, self.index.hybrid(asked, k), strict=True)
        ]

    def passage(self, passage_id: int) -> Passage | None:
        """Return the passage with this id, if indexed (asked of the engine)."""
        return self.index.passages([passage_id]).get(passage_id)

    def page(self, doc: str) -> Sequence[Passage]:
        """Return a page's passages in page order."""
        return self.index.page(doc)

    def headlines(self, n: int) -> tuple[Headline, ...]:
        """Return the headlines of the n newest pages (undated last), from the page records."""
        records: list[dict[str, Any]] = list(self.index.page_records().values())
        records.sort(key=lambda r: (r.get("date") is not None, r.get("date") or "", r["doc"]), reverse=True)
        return tuple(
            Headline(r["doc"], r["title"], r.get("outlet"), r.get("url"), r.get("date")) for r in records[:n]
        )

    def date_range(self) -> tuple[str | None, str | None]:
        """Return the oldest and newest page date (None when no page is dated)."""
        dates = sorted(str(r["date"]) for r in self.index.page_records().values() if r.get("date"))
        return (dates[0], dates[-1]) if dates else (None, None)


def _pool(points: Sequence[Point], fusion: Fusion, lexical: bool) -> Pool:
    """Return a Pool of the engine's points: the coverage is what the fused score holds beyond the cosine."""
    ids = np.array([p.passage.id for p in points], dtype=np.int64)
    cosines = np.array([p.cosine for p in points], dtype=np.float64)
    fused = np.array([p.score for p in points], dtype=np.float64)
    penalty = np.array([fusion.caption_penalty if p.passage.kind == "caption" else 0.0 for p in points])
    coverage = np.zeros(len(points))
    if lexical and fusion.lexical_weight:
        coverage = np.maximum((fused - cosines + penalty) / fusion.lexical_weight, 0.0)
    order = np.lexsort((ids, -fused))
    passages = {p.passage.id: p.passage for p in points}
    return Pool(ids[order], cosines[order], coverage[order], fused[order], passages)
