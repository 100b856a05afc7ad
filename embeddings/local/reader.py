"""One local generation opened for queries: FAISS for dense candidates, BM25 for lexical ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from embeddings import rank
from embeddings.backend import Fusion, Matrix, Pool, Scored, Vector
from embeddings.errors import FULL_FIX, IndexCorrupt
from embeddings.local import generations as gen
from embeddings.local import segments as seg
from embeddings.local.dense import DenseIndex
from embeddings.local.lexical import LexicalIndex, LexicalSegment
from embeddings.local.writer import catch_up
from embeddings.manifest import Manifest
from embeddings.models import Headline, Passage

log = logging.getLogger(__name__)


class LocalReader:
    """The passages, dense index and lexical index of one generation directory, all in memory."""

    def __init__(self, passages: Sequence[Passage], dense: DenseIndex, lexical: LexicalIndex) -> None:
        self._passages = tuple(passages)
        self._by_id = {p.id: p for p in self._passages}
        by_doc: dict[str, list[Passage]] = {}
        for p in self._passages:
            by_doc.setdefault(p.doc, []).append(p)
        self._pages = {doc: tuple(sorted(ps, key=lambda p: p.ordinal)) for doc, ps in by_doc.items()}
        self._captions = frozenset(p.id for p in self._passages if p.kind == "caption")
        self.dense_index = dense
        self.lexical_index = lexical
        self._lexical_ids = lexical.ids()
        self._lexical_position = {int(pid): i for i, pid in enumerate(self._lexical_ids.tolist())}
        self._last: tuple[str, npt.NDArray[np.float32], float] | None = (
            None  # the last query's BM25 scores and weight
        )

    @classmethod
    def load(cls, generation: Path) -> LocalReader:
        """Load one generation directory; raises IndexCorrupt when a file is unreadable or out of step."""
        manifest = gen.load_manifest(generation)
        if seg.is_legacy(generation):
            return cls._load_legacy(generation, manifest)
        table = seg.read_table(generation)
        segments = table.segments
        passages = seg.load_passages(generation)
        ids = np.fromiter((p.id for p in passages), dtype=np.int64, count=len(passages))
        try:
            dense = DenseIndex.load(generation / gen.DENSE)
            catch_up(dense, ids, lambda wanted: seg.live_vectors(generation, table, dense.dim, wanted))
            lexical = LexicalIndex.from_segments(
                [
                    LexicalSegment.load(generation / gen.segment_files(s.name)["lexical"])
                    for s in table.segments
                ],
                [seg.keep_mask(generation, s) for s in segments],
                order=ids,
            )
        except IndexCorrupt as exc:
            raise IndexCorrupt(str(exc) if "--full" in str(exc) else f"{exc}; {FULL_FIX}") from exc
        except Exception as exc:
            raise IndexCorrupt(f"cannot load the index files in {generation} ({exc}); {FULL_FIX}") from exc
        if not len(passages) == len(dense) == manifest.passages:
            raise IndexCorrupt(
                f"{generation} holds {len(passages)} passages and {len(dense)} vectors, the manifest says "
                f"{manifest.passages}; {FULL_FIX}"
            )
        return cls(passages, dense, lexical)

    @classmethod
    def _load_legacy(cls, generation: Path, manifest: Manifest) -> LocalReader:
        """Load a generation written before segments (its BM25 index is rebuilt from the passages)."""
        log.warning("%s predates segments: run `quotebot index` once to convert it", generation)
        passages, _ = seg.legacy_contents(generation, manifest)
        try:
            dense = DenseIndex.load(generation / gen.DENSE)
        except IndexCorrupt as exc:
            raise IndexCorrupt(f"{exc}; {FULL_FIX}") from exc
        if not len(passages) == len(dense) == manifest.passages:
            raise IndexCorrupt(f"{generation} is out of step with its manifest; {FULL_FIX}")
        return cls(passages, dense, LexicalIndex.build([p.id for p in passages], [p.text for p in passages]))

    @property
    def passages(self) -> Sequence[Passage]:
        """Return the generation's passages in page order."""
        return self._passages

    def passage(self, passage_id: int) -> Passage | None:
        """Return the passage with this id, if indexed."""
        return self._by_id.get(passage_id)

    def page(self, doc: str) -> Sequence[Passage]:
        """Return a page's passages in page order (empty when it is not indexed)."""
        return self._pages.get(doc, ())

    def headlines(self, n: int) -> tuple[Headline, ...]:
        """Return the headlines of the n newest pages (undated last)."""
        firsts = [page[0] for page in self._pages.values()]
        firsts.sort(key=lambda p: (p.date is not None, p.date or "", p.doc), reverse=True)
        return tuple(rank.to_headline(p) for p in firsts[:n])

    def date_range(self) -> tuple[str | None, str | None]:
        """Return the oldest and newest passage date (None when none is dated)."""
        dates = sorted(p.date for p in self._passages if p.date)
        return (dates[0], dates[-1]) if dates else (None, None)

    def pools(self, queries: Matrix, lexical: Sequence[str], k: int, fusion: Fusion) -> list[Pool]:
        """Return per query row its dense and lexical candidates, fused: one FAISS search for all rows."""
        dense = self.dense(queries, k) if len(lexical) else []
        return [self._pool(queries[row], query, k, fusion, dense[row]) for row, query in enumerate(lexical)]

    def _pool(self, vector: Vector, query: str, k: int, fusion: Fusion, dense: Scored) -> Pool:
        """Return one query's union of both pools with exact cosines, coverage and the fused score."""
        if query:
            found = self.lexical(query, k)
            wanted = sorted(set(dense.ids.tolist()) | set(found.ids.tolist()))
            exact = self.cosines(vector, wanted)  # also for passages only BM25 found
            known = self.lexical_scores(query, wanted)
            cosine = dict(zip(exact.ids.tolist(), exact.scores.tolist(), strict=True))
            coverage = dict(zip(known.ids.tolist(), known.scores.tolist(), strict=True))
            fused = rank.fuse(dense.ids, cosine, found.ids, coverage, lexical_weight=fusion.lexical_weight)
        else:  # the dense pool alone: FAISS's scores are the exact cosines
            cosine = dict(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
            fused = rank.fuse(dense.ids, cosine, dense.ids[:0], {}, lexical_weight=0.0)
        ranked = rank.demote(fused, self._captions, fusion.caption_penalty)
        ids = np.array([c.passage_id for c in ranked], dtype=np.int64)
        return Pool(
            ids,
            np.array([cosine[c.passage_id] for c in ranked], dtype=np.float64),
            np.array([c.lexical for c in ranked], dtype=np.float64),
            np.array([c.relevance for c in ranked], dtype=np.float64),
            {c.passage_id: self._by_id[c.passage_id] for c in ranked},
        )

    def dense(self, queries: Matrix, k: int) -> list[Scored]:
        """Return, per query row, up to k passages with their cosines, best first."""
        scores, ids = self.dense_index.search(queries, k)
        return [
            Scored(row_ids[row_ids >= 0], row[row_ids >= 0].astype(np.float64))
            for row, row_ids in zip(scores, ids, strict=True)
        ]

    def cosines(self, query: Vector, ids: Sequence[int]) -> Scored:
        """Return the exact cosine of query with each known passage of ids, in the order given."""
        known, vectors = self.dense_index.vectors(np.asarray(ids, dtype=np.int64))
        return Scored(known, (vectors @ query).astype(np.float64))

    def _bm25(self, query: str) -> tuple[npt.NDArray[np.float32], float]:
        """Return every passage's BM25 score for query and the most it can score (kept for the next call)."""
        last = self._last
        if last is not None and last[0] == query:
            return last[1], last[2]
        scores, weight = self.lexical_index.scores(query), self.lexical_index.query_weight(query)
        self._last = (query, scores, weight)
        return scores, weight

    def lexical(self, query: str, k: int) -> Scored:
        """Return up to k passages sharing a token with query, coverage in (0, 1], best first."""
        scores, weight = self._bm25(query)
        top = np.flatnonzero(scores > 0)
        if top.size > k:
            top = top[np.argpartition(-scores[top], k - 1)[:k]]
        top = top[np.lexsort((top, -scores[top]))]
        coverage = scores[top].astype(np.float64) / weight if weight > 0 else np.zeros(top.size)
        return Scored(self._lexical_ids[top], coverage)

    def lexical_scores(self, query: str, ids: Sequence[int]) -> Scored:
        """Return query's coverage of each known passage of ids (0 when none), in the order given."""
        scores, weight = self._bm25(query)
        known = [int(pid) for pid in ids if int(pid) in self._lexical_position]
        if weight <= 0:
            return Scored(np.zeros(0, dtype=np.int64), np.zeros(0))
        rows = [self._lexical_position[pid] for pid in known]
        return Scored(np.asarray(known, dtype=np.int64), scores[rows].astype(np.float64) / weight)
