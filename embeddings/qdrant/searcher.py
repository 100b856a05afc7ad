"""The query path over Qdrant: one fused hybrid query, then caps, folding and highlights as locally.

Every answer is built from what the engine returns (payloads carry the passages), so a replica keeps
no corpus in memory and any replica can answer a button press about any passage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from embeddings import calibration, rank
from embeddings.backend import TextEncoder
from embeddings.errors import BadQuestion
from embeddings.models import Answer, Headline, Hit, Passage
from embeddings.qdrant.index import QdrantIndex
from embeddings.qdrant.points import query_terms
from embeddings.search import POOL, IndexStats
from embeddings.tokens import content_query, tokenize


class QdrantSearcher:
    """Answers questions from the live Qdrant alias with the same ranking as the local Searcher."""

    def __init__(
        self,
        index: QdrantIndex,
        encoder: TextEncoder,
        stats: IndexStats,
        *,
        top_k: int = 3,
        max_per_article: int = 2,
        min_score: float | None = None,
    ) -> None:
        self.index = index
        self._encoder = encoder
        self._stats = stats
        self.top_k = top_k
        self.max_per_article = max_per_article
        self.min_score = min_score
        self.calibration = calibration.for_model(stats.model)

    @property
    def stats(self) -> IndexStats:
        """Return what the index held when it was opened."""
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
        vectors = iter(self._encoder.encode_queries([q for q in checked if isinstance(q, str)]))
        k = self.top_k if top_k is None else top_k
        return [q if isinstance(q, BadQuestion) else self._answer(q, next(vectors), k, 0) for q in checked]

    def scored(self, question: str, vector: np.ndarray) -> tuple[list[rank.Candidate], dict[int, Passage]]:
        """Return the fused candidates, best first, and their passages (one hybrid query)."""
        cal = self.calibration
        # BM25 over Chinese cannot help a question without Han characters: cosine alone, as locally.
        lexical_query = "" if rank.question_kind(question) == "cross-lingual" else content_query(question)
        terms = query_terms(tokenize(lexical_query))
        weight = sum(self.index.idf(terms.indices).values()) if terms.indices else 0.0
        scale = cal.lexical_weight / weight if weight > 0 else 0.0
        points = self.index.hybrid(vector, terms, scale, cal.caption_penalty, POOL)
        candidates = []
        for p in points:
            penalty = cal.caption_penalty if p.passage.kind == "caption" else 0.0
            lexical = (p.score - p.cosine + penalty) / cal.lexical_weight if scale else 0.0
            candidates.append(
                rank.Candidate(p.passage.id, p.cosine - penalty, max(lexical, 0.0), 0.0, p.score)
            )
        candidates.sort(key=lambda c: (-c.relevance, c.passage_id))
        return candidates, {p.passage.id: p.passage for p in points}

    def candidates(self, question: str, vector: np.ndarray) -> list[rank.Candidate]:
        """Return the fused candidates for a checked question and its vector, best first."""
        return self.scored(question, vector)[0]

    def _answer(self, question: str, vector: np.ndarray, top_k: int, offset: int) -> Answer:
        """Rank, then build the Answer (hits with highlights, or the nearest headlines)."""
        candidates, passages = self.scored(question, vector)
        threshold = rank.threshold(self.calibration, rank.question_kind(question), self.min_score)
        good = rank.quotable(candidates, threshold, self.calibration.quote_margin)
        if not good:
            return Answer(question, False, nearest=rank.nearest_headlines(candidates, passages))
        hits = rank.select_hits(
            good, passages, top_k=top_k + 1, offset=offset, max_per_article=self.max_per_article
        )
        has_more, hits = len(hits) > top_k, hits[:top_k]
        scorer = rank.token_overlap_scorer(tokenize(question), tokenize)
        hits = [replace(h, highlight=rank.highlight(h.text, scorer)) for h in hits]
        return Answer(question, True, hits=tuple(self._highlight_by_meaning(vector, hits)), has_more=has_more)

    def _highlight_by_meaning(self, vector: np.ndarray, hits: list[Hit]) -> list[Hit]:
        """Highlight hits that share no words with the question by sentence embeddings."""
        bare = [h for h in hits if not h.highlight and len(rank.sentence_spans(h.text)) > 1]
        if not bare:
            return hits
        sentences = [h.text[s:e] for h in bare for s, e in rank.sentence_spans(h.text)]
        similarity = dict(
            zip(sentences, (self._encoder.encode_passages(sentences) @ vector).tolist(), strict=True)
        )

        def best(h: Hit) -> Hit:
            return replace(
                h,
                highlight=rank.highlight(
                    h.text, lambda s: max(similarity.get(s, 0.0), 1e-6), keep=0.97, most=1
                ),
            )

        chosen = {h.passage_id: best(h) for h in bare}
        return [chosen.get(h.passage_id, h) for h in hits]

    def passage(self, passage_id: int) -> Passage | None:
        """Return the passage with this id, if indexed (asked of the engine: no replica-local state)."""
        return self.index.passages([passage_id]).get(passage_id)

    def context(self, passage_id: int, radius: int = 1) -> tuple[Passage, ...]:
        """Return the passage and up to radius neighbours each side in its page, in page order."""
        passage = self.passage(passage_id)
        if passage is None:
            return ()
        page = self.index.page(passage.doc)
        at = next(i for i, p in enumerate(page) if p.id == passage_id)
        return tuple(page[max(0, at - radius) : at + radius + 1])

    def headlines(self, n: int) -> tuple[Headline, ...]:
        """Return the headlines of the n newest articles (undated last)."""
        records: list[dict[str, Any]] = list(self.index.page_records().values())
        records.sort(key=lambda r: (r.get("date") is not None, r.get("date") or "", r["doc"]), reverse=True)
        return tuple(
            Headline(r["doc"], r["title"], r.get("outlet"), r.get("url"), r.get("date")) for r in records[:n]
        )
