"""The query path: encode the question, search both indexes, then rank with the pure functions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from embeddings import rank
from embeddings.dense import DenseIndex
from embeddings.encoder import Encoder
from embeddings.errors import BadQuestion
from embeddings.lexical import LexicalIndex, tokenize
from embeddings.models import Answer, Headline, Hit, Passage

log = logging.getLogger(__name__)

# Candidates taken from each index before fusion; enough to fill top_k after caps and folding.
POOL = 50


@dataclass(frozen=True)
class IndexStats:
    """What the index holds, for /start and /status."""

    articles: int
    passages: int
    date_min: str | None
    date_max: str | None
    model: str
    created: str
    dense_kind: str


class Searcher:
    """Answers questions from one index: dense + BM25 candidates, fused, capped, folded, highlighted."""

    def __init__(
        self,
        passages: Sequence[Passage],
        dense: DenseIndex,
        lexical: LexicalIndex,
        encoder: Encoder,
        stats: IndexStats,
        *,
        top_k: int = 3,
        max_per_article: int = 2,
        min_score: float | None = None,
    ) -> None:
        self._passages = {p.id: p for p in passages}
        self._dense = dense
        self._lexical = lexical
        self._encoder = encoder
        self._stats = stats
        self.top_k = top_k
        self.max_per_article = max_per_article
        self.min_score = rank.DEFAULT_MIN_RELEVANCE if min_score is None else min_score
        self._lexical_ids = lexical.ids()
        self._lexical_position = {int(pid): i for i, pid in enumerate(self._lexical_ids.tolist())}
        by_doc: dict[str, list[Passage]] = {}
        for p in passages:
            by_doc.setdefault(p.doc, []).append(p)
        self._pages = {doc: sorted(ps, key=lambda p: p.ordinal) for doc, ps in by_doc.items()}
        self._captions = frozenset(p.id for p in passages if p.kind == "caption")

    @property
    def dense(self) -> DenseIndex:
        """Return the dense index (read-only use: benchmarks, status)."""
        return self._dense

    @property
    def lexical(self) -> LexicalIndex:
        """Return the lexical index (read-only use: benchmarks, status)."""
        return self._lexical

    @property
    def stats(self) -> IndexStats:
        """Return what the index holds."""
        return self._stats

    def search(self, question: str, *, top_k: int | None = None, offset: int = 0) -> Answer:
        """Return the passages that answer question, or abstain with the nearest headlines."""
        text = rank.check_question(question)
        vector = self._encoder.encode_queries([text])[0]
        return self._answer(text, vector, self.top_k if top_k is None else top_k, offset)

    def search_many(
        self, questions: Sequence[str], *, top_k: int | None = None
    ) -> list[Answer | BadQuestion]:
        """Answer many questions with one batched encode; a bad question yields its BadQuestion."""
        checked: list[str | BadQuestion] = []
        for question in questions:
            try:
                checked.append(rank.check_question(question))
            except BadQuestion as error:
                checked.append(error)
        good = [q for q in checked if isinstance(q, str)]
        vectors = iter(self._encoder.encode_queries(good))
        k = self.top_k if top_k is None else top_k
        return [q if isinstance(q, BadQuestion) else self._answer(q, next(vectors), k, 0) for q in checked]

    def candidates(self, question: str, vector: np.ndarray) -> list[rank.Candidate]:
        """Return the fused candidates for a checked question and its vector, best first."""
        dense_scores, dense_ids = self._dense.search(vector[None, :], POOL)
        lexical_scores = self._lexical.scores(question)
        weight = self._lexical.query_weight(question)
        top = np.flatnonzero(lexical_scores > 0)
        if top.size > POOL:
            top = top[np.argpartition(-lexical_scores[top], POOL - 1)[:POOL]]
        top = top[np.lexsort((top, -lexical_scores[top]))]
        lexical_ids = self._lexical_ids[top]
        wanted = set(dense_ids[0].tolist()) | set(lexical_ids.tolist())
        coverage = {
            pid: float(lexical_scores[self._lexical_position[pid]]) / weight
            for pid in wanted
            if weight > 0 and pid in self._lexical_position
        }
        fused = rank.fuse(dense_ids[0], dense_scores[0], lexical_ids, coverage)
        return rank.demote(fused, self._captions, rank.CAPTION_PENALTY)

    def _answer(self, question: str, vector: np.ndarray, top_k: int, offset: int) -> Answer:
        """Rank, then build the Answer (hits with highlights, or the nearest headlines)."""
        candidates = self.candidates(question, vector)
        good = rank.quotable(candidates, self.min_score, cross_lingual=not rank.has_han(question))
        if not good:
            return Answer(question, False, nearest=rank.nearest_headlines(candidates, self._passages))
        # One hit beyond the page tells whether a "more" page would have anything on it.
        hits = rank.select_hits(
            good, self._passages, top_k=top_k + 1, offset=offset, max_per_article=self.max_per_article
        )
        has_more, hits = len(hits) > top_k, hits[:top_k]
        scorer = rank.token_overlap_scorer(tokenize(question), tokenize)
        hits = [replace(h, highlight=rank.highlight(h.text, scorer)) for h in hits]
        return Answer(question, True, hits=tuple(self._highlight_by_meaning(vector, hits)), has_more=has_more)

    def _highlight_by_meaning(self, vector: np.ndarray, hits: list[Hit]) -> list[Hit]:
        """Highlight hits that share no words with the question (e.g. English) by sentence embeddings."""
        bare = [h for h in hits if not h.highlight and len(rank.sentence_spans(h.text)) > 1]
        if not bare:
            return hits
        spans = {h.passage_id: rank.sentence_spans(h.text) for h in bare}
        sentences = [h.text[s:e] for h in bare for s, e in spans[h.passage_id]]
        similarity = dict(
            zip(sentences, (self._encoder.encode_passages(sentences) @ vector).tolist(), strict=True)
        )
        done = {
            h.passage_id: rank.highlight(
                h.text, lambda s: max(similarity.get(s, 0.0), 1e-6), keep=0.97, most=1
            )
            for h in bare
        }
        return [replace(h, highlight=done[h.passage_id]) if h.passage_id in done else h for h in hits]

    def passage(self, passage_id: int) -> Passage | None:
        """Return the passage with this id, if indexed."""
        return self._passages.get(passage_id)

    def context(self, passage_id: int, radius: int = 1) -> tuple[Passage, ...]:
        """Return the passage and up to radius neighbours each side in its page, in page order."""
        passage = self._passages.get(passage_id)
        if passage is None:
            return ()
        page = self._pages[passage.doc]
        at = next(i for i, p in enumerate(page) if p.id == passage_id)
        return tuple(page[max(0, at - radius) : at + radius + 1])

    def headlines(self, n: int) -> tuple[Headline, ...]:
        """Return the headlines of the n newest articles (undated last)."""
        firsts = [page[0] for page in self._pages.values()]
        firsts.sort(key=lambda p: (p.date is not None, p.date or "", p.doc), reverse=True)
        return tuple(rank.to_headline(p) for p in firsts[:n])
