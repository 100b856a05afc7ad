"""BM25 over folded Chinese tokens (embeddings.tokens), keyed by int64 passage ids, kept in segments.

A segment stores term frequencies, not scores: BM25's idf and average length depend on every live
passage, so a segment written once stays valid while others are added or rows are deleted. Loading
computes the scores of the live rows eagerly, entry for entry as bm25s ("lucene", k1 1.5, b 0.75)
does, so the ranking equals a full bm25s build's (tests/test_lexical.py checks it against bm25s).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from embeddings.backend import Ids
from embeddings.errors import IndexCorrupt
from embeddings.tokens import DEFAULT_SEGMENTER, SEGMENTERS, tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
K1 = 1.5
B = 0.75
SEGMENT_FILE = "segment.npz"
META_FILE = "lexical.json"
Mask = npt.NDArray[np.bool_]
INT_ARRAYS = {"ids": np.int64, "lengths": np.int32, "indptr": np.int64, "terms": np.int32, "counts": np.int32}
CHUNK = 4096
REBUILD = "rebuild it with --full"


@dataclass(frozen=True)
class LexicalSegment:
    """Term frequencies of some passages: rows in order, each a run of (term, count) in indptr."""

    ids: Ids
    lengths: npt.NDArray[np.int32]  # tokens per row (bm25s' document length)
    indptr: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int32]  # indexes into vocab
    counts: npt.NDArray[np.int32]
    vocab: tuple[str, ...]
    segmenter: str

    @classmethod
    def of(
        cls, ids: Sequence[int], texts: Sequence[str], segmenter: str = DEFAULT_SEGMENTER
    ) -> LexicalSegment:
        """Tokenise texts (whose passage ids are ids) into a segment."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        if segmenter not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {segmenter!r}; choose one of {SEGMENTERS}")
        vocab: dict[str, int] = {}
        lengths, indptr, terms, counts = [], [np.zeros(1, np.int64)], [], []
        for start in range(0, len(texts), CHUNK):  # chunks bound the token lists held at once
            docs = [
                [vocab.setdefault(t, len(vocab)) for t in tokenize(x, segmenter)]
                for x in texts[start : start + CHUNK]
            ]
            sizes = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
            rows = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
            flat = np.fromiter((t for d in docs for t in d), dtype=np.int64, count=int(sizes.sum()))
            keys, n = np.unique(rows << 32 | flat, return_counts=True)
            lengths.append(sizes.astype(np.int32))
            terms.append((keys & 0xFFFFFFFF).astype(np.int32))
            counts.append(n.astype(np.int32))
            indptr.append(indptr[-1][-1] + np.cumsum(np.bincount(keys >> 32, minlength=len(docs))))
        return cls(
            np.asarray(ids, dtype=np.int64),
            np.concatenate(lengths) if lengths else np.zeros(0, np.int32),
            np.concatenate(indptr),
            np.concatenate(terms) if terms else np.zeros(0, np.int32),
            np.concatenate(counts) if counts else np.zeros(0, np.int32),
            tuple(vocab),
            segmenter,
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def save(self, path: Path) -> None:
        """Write the segment to the file path (npz, no pickles)."""
        with path.open("wb") as out:
            np.savez(
                out,
                ids=self.ids,
                lengths=self.lengths,
                indptr=self.indptr,
                terms=self.terms,
                counts=self.counts,
                vocab=np.array("\n".join(self.vocab)),  # tokens hold no whitespace
                meta=np.array([json.dumps({"format": FORMAT_VERSION, "segmenter": self.segmenter})]),
            )

    @classmethod
    def load(cls, path: Path) -> LexicalSegment:
        """Read a segment written by save; raises IndexCorrupt when it is unreadable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"][0]))
                arrays = {
                    k: data[k].astype(np.int64) for k in ("ids", "lengths", "indptr", "terms", "counts")
                }
                words = str(data["vocab"])
        except Exception as error:
            raise IndexCorrupt(f"cannot read the lexical segment {path}: {error}") from error
        vocab = tuple(words.split("\n")) if words else ()
        segment = cls(**arrays, vocab=vocab, segmenter=str(meta.get("segmenter", DEFAULT_SEGMENTER)))
        rows = len(segment)
        if (
            meta.get("format") != FORMAT_VERSION
            or segment.lengths.shape != (rows,)
            or segment.indptr.shape != (rows + 1,)
            or not int(segment.indptr[-1]) == segment.terms.shape[0] == segment.counts.shape[0]
            or (segment.terms.size and int(segment.terms.max()) >= len(vocab))
        ):
            raise IndexCorrupt(f"the lexical segment {path} is inconsistent; rebuild it with --full")
        return segment

    def reordered(self, order: Ids) -> LexicalSegment:
        """Return the segment with its rows permuted into the id order given (the same ids, once each)."""
        return _reordered(self, order)


def merge_segments(segments: Sequence[LexicalSegment], keeps: Sequence[Mask]) -> LexicalSegment:
    """Return one segment of the kept rows of segments, in order, over one vocabulary."""
    segmenters = {s.segmenter for s in segments}
    if len(segmenters) > 1:
        raise IndexCorrupt(
            f"lexical segments of different segmenters {sorted(segmenters)}; rebuild with --full"
        )
    # The largest vocabulary is taken whole (its terms keep their numbers): the others are few.
    largest = max(range(len(segments)), key=lambda i: len(segments[i].vocab), default=0)
    vocab = (
        dict(zip(segments[largest].vocab, range(len(segments[largest].vocab)), strict=True))
        if segments
        else {}
    )
    ids: list[Ids] = []
    lengths, counts, terms, sizes = [], [], [], []
    for index, (segment, keep) in enumerate(zip(segments, keeps, strict=True)):
        to_global = (
            np.arange(len(segment.vocab), dtype=np.int64)
            if index == largest
            else np.fromiter(
                (vocab.setdefault(w, len(vocab)) for w in segment.vocab), np.int64, len(segment.vocab)
            )
        )
        per_row = np.diff(segment.indptr)
        entry_keep = np.repeat(keep, per_row)
        ids.append(segment.ids[keep])
        lengths.append(segment.lengths[keep])
        sizes.append(per_row[keep])
        terms.append(to_global[segment.terms[entry_keep]].astype(np.int32))
        counts.append(segment.counts[entry_keep])
    kept_sizes = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    indptr = np.zeros(kept_sizes.shape[0] + 1, dtype=np.int64)
    np.cumsum(kept_sizes, out=indptr[1:])
    return LexicalSegment(
        np.concatenate(ids) if ids else np.zeros(0, np.int64),
        np.concatenate(lengths) if lengths else np.zeros(0, np.int32),
        indptr,
        np.concatenate(terms) if terms else np.zeros(0, np.int32),
        np.concatenate(counts) if counts else np.zeros(0, np.int32),
        tuple(vocab),
        segmenters.pop() if segmenters else DEFAULT_SEGMENTER,
    )


class LexicalIndex:
    """A BM25 index over passages keyed by their int64 ids (the live rows of its segments)."""

    def __init__(self, segment: LexicalSegment) -> None:
        self._segment = segment
        self._ids = segment.ids
        self.segmenter = segment.segmenter
        self._vocab = dict(zip(segment.vocab, range(len(segment.vocab)), strict=True))
        self._data, self._rows, self._indptr, self._df = _eager_scores(segment)

    @classmethod
    def build(
        cls, ids: Sequence[int], texts: Sequence[str], segmenter: str = DEFAULT_SEGMENTER
    ) -> LexicalIndex:
        """Build the index over texts, whose passage ids are ids."""
        return cls(LexicalSegment.of(ids, texts, segmenter))

    @classmethod
    def from_segments(
        cls, segments: Sequence[LexicalSegment], keeps: Sequence[Mask], order: Ids | None = None
    ) -> LexicalIndex:
        """Return the index over the kept rows of segments, rows in the id order given (else theirs)."""
        merged = merge_segments(segments, keeps)
        if order is not None:
            merged = merged.reordered(np.asarray(order, dtype=np.int64))
        return cls(merged)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """Return the BM25 score of every passage for query, in index order (zeros when nothing matches)."""
        token_ids = sorted({self._vocab[t] for t in tokenize(query, self.segmenter) if t in self._vocab})
        # bm25s sums the float32 entries in float32, in the order of its vocabulary (a set's, so it
        # varies from process to process in the last bit); summing in float64 makes a passage's score
        # the same whatever the segments and their vocabularies, and within a float32 step of bm25s'.
        scores = np.zeros(len(self), dtype=np.float64)
        for term in token_ids:
            start, end = self._indptr[term], self._indptr[term + 1]
            np.add.at(scores, self._rows[start:end], self._data[start:end])
        return scores.astype(np.float32)

    def query_weight(self, query: str) -> float:
        """Return the sum of the idf of query's distinct tokens: the most any passage can score."""
        # "lucene": each term adds idf * tf / (tf + k1 * norm) < idf, so this bounds the score.
        # Terms no passage contains count at df = 0: a question about absent things matches less.
        n = len(self)
        return float(
            sum(
                math.log(1 + (n - d + 0.5) / (d + 0.5))
                for d in (
                    int(self._df[self._vocab[t]]) if t in self._vocab else 0
                    for t in set(tokenize(query, self.segmenter))
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
        """Write the index into directory as one segment (segment.npz, lexical.json)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._segment.save(directory / SEGMENT_FILE)
        meta = {"format": FORMAT_VERSION, "segmenter": self.segmenter, "fold": "nfkc-lower-opencc-t2s"}
        (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by save; raises IndexCorrupt when it is unreadable."""
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        except Exception as error:
            raise IndexCorrupt(f"cannot read the lexical index in {directory}: {error}") from error
        if meta.get("format") != FORMAT_VERSION:
            raise IndexCorrupt(f"the lexical index in {directory} is inconsistent; rebuild it with --full")
        return cls(LexicalSegment.load(directory / SEGMENT_FILE))


def _reordered(segment: LexicalSegment, order: Ids) -> LexicalSegment:
    """Return segment with its rows permuted into the id order given (the same ids, once each)."""
    by_id = np.argsort(segment.ids, kind="stable")
    known = segment.ids[by_id]
    at = np.minimum(np.searchsorted(known, order), max(len(segment) - 1, 0))
    if order.shape != segment.ids.shape or (len(segment) and not np.array_equal(known[at], order)):
        raise IndexCorrupt(
            "the lexical index holds other passages than the generation; rebuild it with --full"
        )
    rows = by_id[at]
    sizes = np.diff(segment.indptr)[rows]
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    starts = np.repeat(segment.indptr[rows] - indptr[:-1], sizes) + np.arange(int(indptr[-1]))
    return LexicalSegment(
        order.copy(),
        segment.lengths[rows],
        indptr,
        segment.terms[starts],
        segment.counts[starts],
        segment.vocab,
        segment.segmenter,
    )


def _eager_scores(
    segment: LexicalSegment,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return the score of every (row, term) entry, grouped by term (data, rows, indptr), and the dfs."""
    n, vocab = len(segment), len(segment.vocab)
    rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(segment.indptr))
    df = np.bincount(segment.terms, minlength=vocab).astype(np.int64)
    if n == 0:
        return np.zeros(0, np.float32), rows, np.zeros(vocab + 1, np.int64), df
    # The same float steps as bm25s: idf in float64 stored as float32, the tf part in float64
    # (its average length is a float64 scalar), each entry's product rounded to float32.
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
    avg = segment.lengths.mean()
    tf = segment.counts.astype(np.float64)
    norm = K1 * ((1 - B) + B * segment.lengths.astype(np.float64) / avg)
    data = (idf[segment.terms].astype(np.float64) * (tf / (norm[rows] + tf))).astype(np.float32)
    by_term = np.argsort(segment.terms, kind="stable")  # rows stay ascending within a term
    indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return data[by_term], rows[by_term], indptr, df
