"""Pure ranking: question checks, fusion, per-article caps, duplicate folding, highlights, abstention."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from embeddings.calibration import Calibration
from embeddings.errors import BadQuestion
from embeddings.models import Headline, Hit, Passage, Source, citation
from embeddings.tokens import fold

MAX_QUESTION_CHARS = 1000
# The fusion weights, the caption penalty, the quote margin and the abstention thresholds are measured
# per model by bench/quality.py --calibrate and stored with the index (embeddings/calibration.py).
RRF_K = 60
DUPLICATE_JACCARD = 0.8
# Sentence ends: Chinese and Western terminators, then any closing quotes/brackets that belong to it.
_SENTENCE = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;\n]+[」』”’\"')）]*|$)")
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
_NOT_ALNUM = re.compile(r"[\W_]+")
# Once the page of hits is full, keep looking this far down the list for copies to fold in:
# syndicated copies score (almost) the same as the original, so they sit right beside it.
DUPLICATE_LOOKAHEAD = 20
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def check_question(question: str) -> str:
    """Return the question with whitespace collapsed, or raise BadQuestion saying what is wrong."""
    if not isinstance(question, str):
        raise BadQuestion(f"the question must be text, not {type(question).__name__}")
    bad = sorted({c for c in question if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS})
    if bad:
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad[:3])
        raise BadQuestion(f"the question contains control characters ({codes}); send plain text")
    text = " ".join(question.split())
    if not text:
        raise BadQuestion("the question is empty; ask something, e.g. 谁宣布了这项政策？")
    if len(text) > MAX_QUESTION_CHARS:
        raise BadQuestion(
            f"the question is {len(text):,} characters long; keep it under {MAX_QUESTION_CHARS:,}"
        )
    if not any(unicodedata.category(c)[0] in "LN" for c in text):
        raise BadQuestion("the question has no words or numbers to search for (only symbols or emoji)")
    return text


@dataclass(frozen=True)
class Candidate:
    """One passage considered for an answer, with its scores from both indexes."""

    passage_id: int
    dense: float  # cosine similarity to the question (exact, also for passages only BM25 found)
    lexical: float  # BM25 coverage in [0, 1]: score / sum of the question terms' idf
    rrf: float  # reciprocal-rank fusion score
    relevance: float  # calibrated absolute score used for ranking and abstention
    page: float = 0.0  # BM25 coverage of the passage's whole article
    verified: float | None = None  # the verifier's probability that it answers (None: not read)


def fuse(
    dense_ids: npt.NDArray[np.int64],
    cosines: Mapping[int, float],
    lexical_ids: npt.NDArray[np.int64],
    lexical_coverage: Mapping[int, float],
    page_coverage: Mapping[int, float] | None = None,
    *,
    lexical_weight: float,
    page_weight: float = 0.0,
    method: str = "weighted",
) -> list[Candidate]:
    """Return the union of both result lists, best first, by weighted sum ("weighted") or "rrf".

    relevance = cosine + lexical_weight * coverage + page_weight * page coverage; cosines must hold
    the exact cosine of every candidate (a passage only BM25 found is not given an invented one).
    """
    dense_rank = {int(i): r for r, i in enumerate(dense_ids) if i >= 0}
    lexical_rank = {int(i): r for r, i in enumerate(lexical_ids) if i >= 0}
    pages = page_coverage or {}
    candidates = []
    for pid in dense_rank.keys() | lexical_rank.keys():
        cosine = float(cosines[pid])
        coverage = float(lexical_coverage.get(pid, 0.0))
        page = float(pages.get(pid, 0.0))
        rrf = sum(1.0 / (RRF_K + 1 + ranks[pid]) for ranks in (dense_rank, lexical_rank) if pid in ranks)
        relevance = cosine + lexical_weight * coverage + page_weight * page
        candidates.append(Candidate(pid, cosine, coverage, rrf, relevance, page))
    key: Callable[[Candidate], tuple[float, int]] = (
        (lambda c: (-c.rrf, c.passage_id)) if method == "rrf" else (lambda c: (-c.relevance, c.passage_id))
    )
    return sorted(candidates, key=key)


def demote(candidates: Sequence[Candidate], ids: frozenset[int], penalty: float) -> list[Candidate]:
    """Return candidates re-ranked with penalty taken off the scores of those in ids."""
    if not ids or penalty == 0:
        return list(candidates)
    moved = [
        replace(c, dense=c.dense - penalty, relevance=c.relevance - penalty) if c.passage_id in ids else c
        for c in candidates
    ]
    return sorted(moved, key=lambda c: (-c.relevance, c.passage_id))


def shingles(text: str, n: int = 4) -> frozenset[str]:
    """Return the character n-grams of text's letters and digits (case-folded)."""
    chars = _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())
    return frozenset(chars[i : i + n] for i in range(max(1, len(chars) - n + 1)))


def near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float = DUPLICATE_JACCARD) -> bool:
    """Return whether two shingle sets overlap by at least threshold (Jaccard)."""
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return the [start, end) spans of text's sentences, surrounding whitespace excluded."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def highlight(
    text: str, sentence_score: Callable[[str], float], *, keep: float = 0.75, most: int = 2
) -> tuple[tuple[int, int], ...]:
    """Return the spans of the best-scoring sentence(s): the best, plus any within keep of it."""
    spans = sentence_spans(text)
    scored = [(sentence_score(text[s:e]), (s, e)) for s, e in spans]
    best = max((score for score, _ in scored), default=0.0)
    if best <= 0:
        return ()
    chosen = sorted(scored, key=lambda item: -item[0])[:most]
    return tuple(sorted(span for score, span in chosen if score >= keep * best))


def token_overlap_scorer(
    question_tokens: Sequence[str], tokenize: Callable[[str], list[str]]
) -> Callable[[str], float]:
    """Return a sentence scorer: the share of distinct question tokens the sentence contains."""
    wanted = set(question_tokens)

    def score(sentence: str) -> float:
        return len(wanted & set(tokenize(sentence))) / len(wanted) if wanted else 0.0

    return score


def to_source(passage: Passage) -> Source:
    """Return where passage was published."""
    return Source(passage.doc, **citation(passage))


def to_headline(passage: Passage) -> Headline:
    """Return the headline of passage's article."""
    return Headline(passage.doc, **citation(passage))


def select_hits(
    candidates: Sequence[Candidate],
    passages: Mapping[int, Passage],
    *,
    top_k: int,
    offset: int = 0,
    max_per_article: int = 2,
) -> list[Hit]:
    """Return hits offset..offset+top_k: duplicates folded (also_in), at most max_per_article per page."""
    kept: list[tuple[Hit, frozenset[str]]] = []
    per_doc: dict[str, int] = {}
    lookahead = DUPLICATE_LOOKAHEAD
    for candidate in candidates:
        passage = passages.get(candidate.passage_id)
        if passage is None:
            continue
        grams = shingles(passage.text)
        twin = next((i for i, (_, g) in enumerate(kept) if near_duplicate(grams, g)), None)
        if twin is not None:
            hit, g = kept[twin]
            if passage.doc != hit.doc and all(s.doc != passage.doc for s in hit.also_in):
                kept[twin] = (replace(hit, also_in=(*hit.also_in, to_source(passage))), g)
            continue
        if per_doc.get(passage.doc, 0) >= max_per_article:
            continue
        if len(kept) >= offset + top_k:
            # Later candidates may still be copies of kept hits; look a little further for those.
            lookahead -= 1
            if lookahead < 0:
                break
            continue
        per_doc[passage.doc] = per_doc.get(passage.doc, 0) + 1
        hit = Hit(
            passage_id=passage.id,
            text=passage.text,
            doc=passage.doc,
            ordinal=passage.ordinal,
            **citation(passage),
            score=round(candidate.relevance, 4),
            highlight=(),
        )
        kept.append((hit, grams))
    return [hit for hit, _ in kept[offset : offset + top_k]]


def nearest_headlines(
    candidates: Sequence[Candidate], passages: Mapping[int, Passage], n: int = 3
) -> tuple[Headline, ...]:
    """Return the headlines of the first n distinct articles among candidates."""
    seen: dict[str, Headline] = {}
    for candidate in candidates:
        passage = passages.get(candidate.passage_id)
        if passage is not None and passage.doc not in seen:
            seen[passage.doc] = to_headline(passage)
            if len(seen) == n:
                break
    return tuple(seen.values())


def has_han(text: str) -> bool:
    """Return whether text contains a Han character (so BM25 over Chinese can match it)."""
    return _HAN.search(text) is not None


def question_kind(text: str) -> str:
    """Return "cross-lingual" (no Han), "traditional" (some character folds) or "simplified"."""
    if not has_han(text):
        return "cross-lingual"
    plain = unicodedata.normalize("NFKC", text).lower()
    return "traditional" if fold(plain) != plain else "simplified"


def quotable(candidates: Sequence[Candidate], threshold: float, margin: float) -> list[Candidate]:
    """Return the candidates good enough to quote: past the threshold and within margin of the best."""
    if not candidates:
        return []
    best = max(c.relevance for c in candidates)
    if best < threshold:
        return []
    return [c for c in candidates if c.relevance >= best - margin]


def verify(
    candidates: Sequence[Candidate], logits: Sequence[float], weight: float, *, reorder_only: bool = False
) -> list[Candidate]:
    """Return candidates re-ranked with the verifier's logits of the first len(logits) of them.

    Their relevance becomes relevance + weight * sigmoid(logit); with reorder_only (a verifier whose
    constants were not measured) they are re-ordered by logit among themselves, scores unchanged.
    """
    head, rest = list(candidates[: len(logits)]), list(candidates[len(logits) :])
    chance = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    if reorder_only:
        order = sorted(range(len(head)), key=lambda i: (-chance[i], head[i].passage_id))
        slots = sorted(head, key=lambda c: (-c.relevance, c.passage_id))
        moved = [
            replace(head[i], relevance=slot.relevance, verified=float(chance[i]))
            for i, slot in zip(order, slots, strict=True)
        ]
        return moved + rest
    moved = [
        replace(c, relevance=c.relevance + weight * float(p), verified=float(p))
        for c, p in zip(head, chance, strict=True)
    ]
    return sorted(moved + rest, key=lambda c: (-c.relevance, c.passage_id))


def threshold(calibration: Calibration, kind: str, min_score: float | None = None) -> float:
    """Return the abstention threshold for a question kind; min_score overrides the simplified one."""
    offset = 0.0 if min_score is None else min_score - calibration.threshold("simplified")
    return calibration.threshold(kind) + offset
