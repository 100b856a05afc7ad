"""The query path: encode the question, ask the index for dense and lexical candidates, rank them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from embeddings import calibration, rank
from embeddings.backend import IndexReader, IndexStore, Scored, TextEncoder, Vector
from embeddings.calibration import Calibration
from embeddings.errors import BadQuestion, IndexMismatch
from embeddings.manifest import Manifest, encoder_mismatch, encoder_setting
from embeddings.models import Answer, Headline, Hit, Passage
from embeddings.tokens import content_query, tokenize

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
        index: IndexReader,
        encoder: TextEncoder,
        stats: IndexStats,
        *,
        top_k: int = 3,
        max_per_article: int = 2,
        min_score: float | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        passages = index.passages
        self._passages = {p.id: p for p in passages}
        self._index = index
        self._encoder = encoder
        self._stats = stats
        self.top_k = top_k
        self.max_per_article = max_per_article
        self.min_score = min_score
        self.calibration = Calibration() if calibration is None else calibration
        by_doc: dict[str, list[Passage]] = {}
        for p in passages:
            by_doc.setdefault(p.doc, []).append(p)
        self._pages = {doc: sorted(ps, key=lambda p: p.ordinal) for doc, ps in by_doc.items()}
        self._captions = frozenset(p.id for p in passages if p.kind == "caption")

    @property
    def index(self) -> IndexReader:
        """Return the index generation searched (read-only use: benchmarks)."""
        return self._index

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
        """Answer questions with one encode and one dense search; a bad question yields its BadQuestion."""
        checked: list[str | BadQuestion] = []
        for question in questions:
            try:
                checked.append(rank.check_question(question))
            except BadQuestion as error:
                checked.append(error)
        good = [q for q in checked if isinstance(q, str)]
        vectors = self._encoder.encode_queries(good)
        dense = self._index.dense(vectors, POOL) if good else []
        k = self.top_k if top_k is None else top_k
        answers = (self._answer(q, vectors[i], k, 0, dense[i]) for i, q in enumerate(good))
        return [q if isinstance(q, BadQuestion) else next(answers) for q in checked]

    def candidates(self, question: str, vector: Vector, dense: Scored | None = None) -> list[rank.Candidate]:
        """Return the fused candidates for a checked question, its vector (and its dense hits), best first."""
        if dense is None:
            dense = self._index.dense(vector[None, :], POOL)[0]
        cal = self.calibration
        if rank.question_kind(question) == "cross-lingual":
            # BM25 over Chinese cannot help a question without Han characters: rank by cosine alone.
            cosines = dict(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
            fused = rank.fuse(dense.ids, cosines, dense.ids[:0], {}, lexical_weight=0.0)
            return rank.demote(fused, self._captions, cal.caption_penalty)
        query = content_query(question)
        lexical = self._index.lexical(query, POOL)
        wanted = sorted(set(dense.ids.tolist()) | set(lexical.ids.tolist()))
        exact = self._index.cosines(vector, wanted)  # also for passages only BM25 found
        known = self._index.lexical_scores(query, wanted)
        fused = rank.fuse(
            dense.ids,
            dict(zip(exact.ids.tolist(), exact.scores.tolist(), strict=True)),
            lexical.ids,
            dict(zip(known.ids.tolist(), known.scores.tolist(), strict=True)),
            lexical_weight=cal.lexical_weight,
        )
        return rank.demote(fused, self._captions, cal.caption_penalty)

    def _answer(
        self, question: str, vector: Vector, top_k: int, offset: int, dense: Scored | None = None
    ) -> Answer:
        """Rank, then build the Answer (hits with highlights, or the nearest headlines)."""
        candidates = self.candidates(question, vector, dense)
        threshold = rank.threshold(self.calibration, rank.question_kind(question), self.min_score)
        good = rank.quotable(candidates, threshold, self.calibration.quote_margin)
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

    def _highlight_by_meaning(self, vector: Vector, hits: list[Hit]) -> list[Hit]:
        """Highlight hits that share no words with the question (e.g. English) by sentence embeddings."""
        bare = [h for h in hits if not h.highlight and len(rank.sentence_spans(h.text)) > 1]
        if not bare:
            return hits
        spans = {h.passage_id: rank.sentence_spans(h.text) for h in bare}
        sentences = [h.text[s:e] for h in bare for s, e in spans[h.passage_id]]
        similarity = dict(
            zip(sentences, (self._encoder.encode_sentences(sentences) @ vector).tolist(), strict=True)
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


def open_searcher(
    store: IndexStore,
    encoder: TextEncoder,
    *,
    generation: str | None = None,
    top_k: int = 3,
    max_per_article: int = 2,
    min_score: float | None = None,
) -> Searcher:
    """Open a generation (the live one by default) for searching, checked against the encoder first."""
    name = store.live() if generation is None else generation
    manifest = store.manifest(name)
    reason = encoder_mismatch(manifest, encoder)
    if reason:
        raise IndexMismatch(
            f"the index in {store.location} was {reason}; run `quotebot index --full` to rebuild it for the "
            f"configured model and encoder, or configure the model {manifest.model} with the "
            f"{encoder_setting(manifest.encoder, manifest.precision)} encoder to use it as it is",
            built_with=manifest.model,
            built_by=encoder_setting(manifest.encoder, manifest.precision),
        )
    index = store.open(name)
    stats = index_stats(manifest, index.passages)
    return Searcher(
        index,
        encoder,
        stats,
        top_k=top_k,
        max_per_article=max_per_article,
        min_score=min_score,
        calibration=calibration.for_model(manifest.model),
    )


def index_stats(manifest: Manifest, passages: Sequence[Passage]) -> IndexStats:
    """Return what a generation holds, for /start and /status."""
    dates = sorted(p.date for p in passages if p.date)
    return IndexStats(
        articles=manifest.articles,
        passages=manifest.passages,
        date_min=dates[0] if dates else None,
        date_max=dates[-1] if dates else None,
        model=manifest.model,
        created=manifest.created,
        dense_kind=manifest.dense_kind,
    )
