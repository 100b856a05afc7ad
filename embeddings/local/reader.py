"""One local generation opened for queries: FAISS for dense candidates, bm25s for lexical ones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from embeddings.backend import Matrix, Scored, Vector
from embeddings.errors import FULL_FIX, IndexCorrupt
from embeddings.local import generations as gen
from embeddings.local.dense import DenseIndex
from embeddings.local.lexical import LexicalIndex
from embeddings.models import Passage


class LocalReader:
    """The passages, dense index and lexical index of one generation directory, all in memory."""

    def __init__(self, passages: Sequence[Passage], dense: DenseIndex, lexical: LexicalIndex) -> None:
        self._passages = tuple(passages)
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
        passages = gen.load_passages(generation)
        try:
            dense = DenseIndex.load(generation / gen.DENSE)
            lexical = LexicalIndex.load(generation / gen.LEXICAL)
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

    @property
    def passages(self) -> Sequence[Passage]:
        """Return the generation's passages in page order."""
        return self._passages

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
