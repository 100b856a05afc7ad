"""BM25 (bm25s) over folded Chinese tokens (embeddings.tokens), keyed by int64 passage ids."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from embeddings.backend import Ids
from embeddings.errors import IndexCorrupt
from embeddings.tokens import DEFAULT_SEGMENTER, SEGMENTERS, tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class LexicalIndex:
    """A BM25 index over passages keyed by their int64 ids."""

    def __init__(self, bm25: Any, ids: npt.ArrayLike, segmenter: str = DEFAULT_SEGMENTER) -> None:
        self._bm25 = bm25
        self._ids = np.asarray(ids, dtype=np.int64)
        self.segmenter = segmenter
        # Document frequency per vocabulary entry: the CSC matrix has one column per token.
        self._df = np.diff(np.asarray(bm25.scores["indptr"]))

    @classmethod
    def build(
        cls, ids: Sequence[int], texts: Sequence[str], segmenter: str = DEFAULT_SEGMENTER
    ) -> LexicalIndex:
        """Build the index over texts, whose passage ids are ids."""
        import bm25s

        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        if segmenter not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {segmenter!r}; choose one of {SEGMENTERS}")
        bm25 = bm25s.BM25()
        # An empty token list still needs a row so positions line up with ids.
        bm25.index([tokenize(t, segmenter) for t in texts], show_progress=False)
        return cls(bm25, np.asarray(ids, dtype=np.int64), segmenter)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """Return the BM25 score of every passage for query, in index order (zeros when nothing matches)."""
        vocab = self._bm25.vocab_dict
        token_ids = sorted({vocab[t] for t in tokenize(query, self.segmenter) if t in vocab})
        if not token_ids or len(self) == 0:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(token_ids), dtype=np.float32)

    def query_weight(self, query: str) -> float:
        """Return the sum of the idf of query's distinct tokens: the most any passage can score."""
        # bm25s "lucene": each term adds idf * tf / (tf + k1 * norm) < idf, so this bounds the score.
        # Terms no passage contains count at df = 0: a question about absent things matches less.
        vocab = self._bm25.vocab_dict
        df = self._df
        n = len(self)
        return float(
            sum(
                math.log(1 + (n - d + 0.5) / (d + 0.5))
                for d in (
                    int(df[vocab[t]]) if t in vocab else 0 for t in set(tokenize(query, self.segmenter))
                )
            )
        )

    def search(self, query: str, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """Return (scores, ids) of at most k passages that share a token with query, best first."""
        scores = self.scores(query)
        matching = np.flatnonzero(scores > 0)
        if k <= 0 or matching.size == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if matching.size > k:
            matching = matching[np.argpartition(-scores[matching], k - 1)[:k]]
        # Ties break by position so results are deterministic.
        order = matching[np.lexsort((matching, -scores[matching]))]
        return scores[order], self._ids[order]

    def ids(self) -> Ids:
        """Return the passage ids in index order."""
        return self._ids.copy()

    def save(self, directory: Path) -> None:
        """Write the index into directory (bm25s files, ids.npy, lexical.json)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory), show_progress=False)
        np.save(directory / "ids.npy", self._ids)
        meta = {"format": FORMAT_VERSION, "segmenter": self.segmenter, "fold": "nfkc-lower-opencc-t2s"}
        (directory / "lexical.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by save; raises IndexCorrupt when it is unreadable."""
        import bm25s

        try:
            meta = json.loads((directory / "lexical.json").read_text(encoding="utf-8"))
            ids = np.load(directory / "ids.npy", allow_pickle=False)
            bm25 = bm25s.BM25.load(str(directory), show_progress=False)
        except Exception as error:
            raise IndexCorrupt(f"cannot read the lexical index in {directory}: {error}") from error
        if meta.get("format") != FORMAT_VERSION or int(bm25.scores["num_docs"]) != len(ids):
            raise IndexCorrupt(f"the lexical index in {directory} is inconsistent; rebuild it with --full")
        return cls(bm25, ids, str(meta.get("segmenter", DEFAULT_SEGMENTER)))
