"""The query path: encode the question, ask the index for dense and lexical candidates, rank them."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from embeddings import calibration, rank
from embeddings.backend import (
    Fusion,
    IndexReader,
    IndexStore,
    Matrix,
    Pool,
    TextEncoder,
    Vector,
    encoder_mismatch,
)
from embeddings.calibration import Calibration, Verification
from embeddings.errors import FULL_FIX, BadQuestion, IndexCorrupt, IndexMismatch
from embeddings.manifest import Manifest, encoder_setting, vector_family
from embeddings.models import Answer, Headline, Hit, Passage
from embeddings.reranker import Reranker
from embeddings.tokens import content_query, tokenize

log = logging.getLogger(__name__)

# Candidates taken from each index before fusion; enough to fill top_k after caps and folding.
POOL = 50
# Candidates a verifier without measured constants re-orders (a measured one says how many it reads):
# as many as a record that does not say.
VERIFY_DEPTH = Verification.depth


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
    calibration: str = ""  # the model the ranking constants were measured for ("": not known)
    calibrated: bool = False  # whether they were measured (False: the defaults)


class Searcher:
    """Answers questions from one index: dense + BM25 candidates, fused, capped, folded, highlighted.

    It holds no passages: every answer is built from what the index returns, so a reader backed by
    an engine (Qdrant) lets any replica answer a button press about any passage.
    """

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
        reranker: Reranker | None = None,
    ) -> None:
        self._index = index
        self._encoder = encoder
        self.reranker = reranker
        self._stats = stats
        self.top_k = top_k
        self.max_per_article = max_per_article
        self.min_score = min_score
        self.calibration = Calibration() if calibration is None else calibration

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
        self, questions: Sequence[str], *, top_k: int | None = None, verify: bool = True
    ) -> list[Answer | BadQuestion]:
        """Answer questions with one encode and one pools call; a bad question yields its BadQuestion.

        verify=False leaves the verifier out (a caller shedding load: ranking and abstention as without it).
        """
        checked: list[str | BadQuestion] = []
        for question in questions:
            try:
                checked.append(rank.check_question(question))
            except BadQuestion as error:
                checked.append(error)
        good = [q for q in checked if isinstance(q, str)]
        vectors = self._encoder.encode_queries(good)
        pools = self._pools(good, vectors) if good else []
        k = self.top_k if top_k is None else top_k
        candidates = [self.candidates(q, vectors[i], pools[i]) for i, q in enumerate(good)]
        logits = self._verify_many(good, candidates, pools) if verify else [[] for _ in good]
        answers = (
            self._answer(q, vectors[i], k, 0, pools[i], candidates[i], logits[i]) for i, q in enumerate(good)
        )
        return [q if isinstance(q, BadQuestion) else next(answers) for q in checked]

    def verification(self, question: str) -> tuple[int, Verification | None]:
        """Return how many candidates the verifier reads for a checked question, and its constants.

        (0, None): no verifier, or a question without Han characters (it was trained on Chinese
        questions), or of a kind its measured constants leave out (it did not help that kind on the
        development half), or the shipped verifier without its constants; (n, None): another verifier whose
        constants were not measured re-orders the first n.
        """
        kind = rank.question_kind(question)
        if self.reranker is None or kind == "cross-lingual":
            return 0, None
        record = self.calibration.verification
        if record is not None and record.sha256 == self.reranker.digest:  # measured: the kinds it helps
            return (record.depth, record) if kind in record.min_score else (0, None)
        # Without constants measured for it (another embedding model, an index built before it), a
        # reranker the admin chose re-orders; the shipped verifier is too weak to be trusted alone.
        return (VERIFY_DEPTH, None) if getattr(self.reranker, "orders_alone", True) else (0, None)

    def _verify_many(
        self, questions: Sequence[str], candidates: Sequence[list[rank.Candidate]], pools: Sequence[Pool]
    ) -> list[list[float] | None]:
        """Return each question's verifier logits of its first candidates, from one reranker call."""
        spans: list[tuple[int, int] | None] = []
        pairs: list[tuple[str, str]] = []
        for question, found, pool in zip(questions, candidates, pools, strict=True):
            depth = self.verification(question)[0]
            if not depth:
                spans.append(None)
                continue
            start = len(pairs)
            pairs += [(question, pool.passages[c.passage_id].text) for c in found[:depth]]
            spans.append((start, len(pairs)))
        if not pairs:
            return [None] * len(spans)
        assert self.reranker is not None
        scores = self.reranker.score(pairs).tolist()
        return [None if span is None else scores[span[0] : span[1]] for span in spans]

    def _pools(self, questions: Sequence[str], vectors: Matrix) -> list[Pool]:
        """Return the candidate pools of checked questions and their vectors (one index call)."""
        cal = self.calibration
        # BM25 over Chinese cannot help a question without Han characters: rank by cosine alone.
        lexical = ["" if rank.question_kind(q) == "cross-lingual" else content_query(q) for q in questions]
        return self._index.pools(vectors, lexical, POOL, Fusion(cal.lexical_weight, cal.caption_penalty))

    def candidates(self, question: str, vector: Vector, pool: Pool | None = None) -> list[rank.Candidate]:
        """Return the fused candidates for a checked question and its vector, best first."""
        if pool is None:
            pool = self._pools([question], vector[None, :])[0]
        penalty = self.calibration.caption_penalty
        return [
            rank.Candidate(
                pid, cosine - (penalty if pool.passages[pid].kind == "caption" else 0.0), cov, 0.0, fused
            )
            for pid, cosine, cov, fused in zip(
                pool.ids.tolist(),
                pool.cosines.tolist(),
                pool.coverage.tolist(),
                pool.fused.tolist(),
                strict=True,
            )
        ]

    def ranked(
        self,
        question: str,
        vector: Vector,
        pool: Pool,
        candidates: list[rank.Candidate] | None = None,
        logits: Sequence[float] | None = None,
    ) -> tuple[list[rank.Candidate], float, float]:
        """Return the candidates in their final order, the abstention threshold and the quote margin.

        The verifier (when there is one for this question) reads the first candidates; logits given
        are its scores of them (search_many scores many questions' candidates in one call).
        """
        if candidates is None:
            candidates = self.candidates(question, vector, pool)
        kind = rank.question_kind(question)
        threshold = rank.threshold(self.calibration, kind, self.min_score)
        margin = self.calibration.quote_margin
        depth, record = self.verification(question)
        if not depth or logits == []:  # no verifier here, or the caller left it out
            return candidates, threshold, margin
        if logits is None:
            assert self.reranker is not None
            head = candidates[:depth]
            logits = self.reranker.score(
                [(question, pool.passages[c.passage_id].text) for c in head]
            ).tolist()
        if record is None:
            return rank.verify(candidates, logits, 0.0, reorder_only=True), threshold, margin
        final = rank.verify(candidates, logits, record.weight)
        if record.abstain_on == "combined":
            threshold += record.min_score[kind]
        elif self.min_score != -math.inf:  # -inf: answer everything (benchmarks)
            if record.abstain_on == "relevance":  # the thresholds of retrieval alone, as without it
                best = max((c.relevance for c in candidates), default=-math.inf)
                cut = threshold
            else:
                best = max((c.verified for c in final if c.verified is not None), default=0.0)
                cut = record.min_score[kind]
            threshold = -math.inf if best >= cut else math.inf
        return final, threshold, record.quote_margin

    def _answer(
        self,
        question: str,
        vector: Vector,
        top_k: int,
        offset: int,
        pool: Pool | None = None,
        candidates: list[rank.Candidate] | None = None,
        logits: Sequence[float] | None = None,
    ) -> Answer:
        """Rank, then build the Answer (hits with highlights, or the nearest headlines)."""
        if pool is None:
            pool = self._pools([question], vector[None, :])[0]
        candidates, threshold, margin = self.ranked(question, vector, pool, candidates, logits)
        good = rank.quotable(candidates, threshold, margin)
        if not good:
            return Answer(question, False, nearest=rank.nearest_headlines(candidates, pool.passages))
        # One hit beyond the page tells whether a "more" page would have anything on it.
        hits = rank.select_hits(
            good, pool.passages, top_k=top_k + 1, offset=offset, max_per_article=self.max_per_article
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
        return self._index.passage(passage_id)

    def context(self, passage_id: int, radius: int = 1) -> tuple[Passage, ...]:
        """Return the passage and up to radius neighbours each side in its page, in page order."""
        passage = self._index.passage(passage_id)
        if passage is None:
            return ()
        page = self._index.page(passage.doc)
        at = next((i for i, p in enumerate(page) if p.id == passage_id), None)
        if at is None:
            return (passage,)
        return tuple(page[max(0, at - radius) : at + radius + 1])

    def headlines(self, n: int) -> tuple[Headline, ...]:
        """Return the headlines of the n newest articles (undated last)."""
        return self._index.headlines(n)


def open_searcher(
    store: IndexStore,
    encoder: TextEncoder,
    *,
    generation: str | None = None,
    top_k: int = 3,
    max_per_article: int = 2,
    min_score: float | None = None,
    reranker: Reranker | None = None,
) -> Searcher:
    """Open a generation (the live one by default) for searching, checked against the encoder first."""
    name = store.live() if generation is None else generation
    manifest = store.manifest(name)
    # Questions are encoded as the index's passages were, whatever this CPU would build a new one with.
    encoder = encoder.for_index(encoder_setting(manifest.encoder, manifest.precision))
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
    record = stored_calibration(manifest)
    stats = index_stats(manifest, index, record)
    return Searcher(
        index,
        encoder,
        stats,
        top_k=top_k,
        max_per_article=max_per_article,
        min_score=min_score,
        calibration=record,
        reranker=reranker,
    )


def stored_calibration(manifest: Manifest) -> Calibration:
    """Return the record a generation ranks with: the one it stores, else (an older build's) its model's."""
    if manifest.calibration is None:
        return calibration.for_model(manifest.model, vector_family(manifest.encoder, manifest.precision))
    try:
        return calibration.from_dict(manifest.calibration)
    except (TypeError, ValueError) as exc:
        raise IndexCorrupt(
            f"the index {manifest.generation} stores an unreadable calibration record ({exc}); {FULL_FIX}"
        ) from exc


def index_stats(manifest: Manifest, index: IndexReader, record: Calibration | None = None) -> IndexStats:
    """Return what a generation holds, for /start and /status."""
    date_min, date_max = index.date_range()
    return IndexStats(
        articles=manifest.articles,
        passages=manifest.passages,
        date_min=date_min,
        date_max=date_max,
        model=manifest.model,
        created=manifest.created,
        dense_kind=manifest.dense_kind,
        calibration=record.model if record else "",
        calibrated=record is not None and not record.is_default,
    )
