"""Ranking variants against the shipped weighted sum, on the development and held-out halves.

usage: bench/ranking_variants.py [--cache DIR] [--sample N] [--encoder NAME]

Uses bench/quality.py's corpora, indexes and vector cache. Each question's candidates come from the
shipped Searcher (its exact cosines, BM25 coverage and caption penalty), with the RRF score of their
ranks by cosine and by coverage within the pool; each variant re-scores them, and its first 3 quotes
(capped and folded as shipped, no abstention) are judged. Variants: other lexical weights; a rank
term (the RRF score scaled to [0, 1]) added to the weighted sum; a lexical weight that depends on
the question (on the best BM25 coverage among its candidates, or on how many content terms it has).
Prints ans@1/ans@3 per subset and the calibration objective (mean over subsets of (ans@1 + ans@3) /
2) for each half.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality
from embeddings import rank, search
from embeddings.search import Searcher
from embeddings.tokens import content_query, tokenize

Pool = tuple[Searcher, quality.Question, list[rank.Candidate]]
# relevance of a candidate given its question's pool
Rule = Callable[[rank.Candidate, quality.Question, Sequence[rank.Candidate]], float]


def weighted(lexical: float, rank_term: float = 0.0) -> Rule:
    """Return cosine + lexical * coverage + rank_term * RRF scaled to [0, 1] (the shipped sum at 0)."""
    return lambda c, q, pool: c.dense + lexical * c.lexical + rank_term * c.rrf * (rank.RRF_K + 1) / 2


def by_coverage(cut: float, low: float, high: float) -> Rule:
    """Return the weighted sum with weight low when the best coverage among the candidates is < cut."""

    def relevance(c: rank.Candidate, q: quality.Question, pool: Sequence[rank.Candidate]) -> float:
        top = max((p.lexical for p in pool), default=0.0)
        return c.dense + (low if top < cut else high) * c.lexical

    return relevance


def by_terms(cut: int, low: float, high: float) -> Rule:
    """Return the weighted sum with weight low when the question has fewer than cut content terms."""

    def relevance(c: rank.Candidate, q: quality.Question, pool: Sequence[rank.Candidate]) -> float:
        return c.dense + (low if content_terms(q.text) < cut else high) * c.lexical

    return relevance


def with_rrf(candidates: Sequence[rank.Candidate]) -> list[rank.Candidate]:
    """Return candidates with their RRF score from their ranks in the pool, by cosine and by coverage.

    The backends return cosines and coverage, not ranks; the pool is the union of both top-POOL
    lists, so ranking it by each score gives those lists' ranks back.
    """
    rrf: dict[int, float] = {}
    by_coverage = sorted((c for c in candidates if c.lexical > 0), key=lambda c: -c.lexical)
    for ranked in (sorted(candidates, key=lambda c: -c.dense), by_coverage):
        for r, c in enumerate(ranked[: search.POOL]):
            rrf[c.passage_id] = rrf.get(c.passage_id, 0.0) + 1 / (rank.RRF_K + 1 + r)
    return [replace(c, rrf=rrf.get(c.passage_id, 0.0)) for c in candidates]


@cache
def content_terms(question: str) -> int:
    """Return how many distinct BM25 tokens the question has once its interrogatives are gone."""
    return len(set(tokenize(content_query(question))))


def judged(pools: Sequence[Pool], rule: Rule) -> dict[str, tuple[float, float, float]]:
    """Return quality.table of the first 3 quotes each question gets under rule."""
    hits = []
    for searcher, q, candidates in pools:
        # Questions without Han have no BM25 candidates: their coverage is 0 everywhere.
        scored = [replace(c, relevance=rule(c, q, candidates)) for c in candidates]
        scored.sort(key=lambda c: (-c.relevance, c.passage_id))
        hits.append([t for t, _ in quality.top_quotes(searcher, scored)])
    return quality.table([q for _, q, _ in pools], hits)


def line(cells: dict[str, tuple[float, float, float]]) -> str:
    """Return ans@1/ans@3 per subset and the objective, as one cell."""
    subsets = [s for s in cells if s != "ALL"]
    goal = sum((cells[s][0] + cells[s][1]) / 2 for s in subsets) / len(subsets)
    return f"obj {goal:.4f} " + " ".join(f"{s[:5]} {cells[s][0]:.3f}/{cells[s][1]:.3f}" for s in subsets)


def variants(lexical: float) -> dict[str, Rule]:
    """Return the variants measured, the shipped weight first."""
    rules = {f"weighted {lexical}": weighted(lexical)}
    rules |= {f"weighted {w}": weighted(w) for w in (0.3, 0.7, 1.0) if w != lexical}
    rules |= {f"{lexical} + rank term {g}": weighted(lexical, g) for g in (0.1, 0.2, 0.4)}
    rules |= {
        f"coverage<{cut}: {lo} else {hi}": by_coverage(cut, lo, hi)
        for cut in (0.3, 0.5)
        for lo, hi in ((0.3, 0.7), (0.7, 0.3))
    }
    rules |= {
        f"terms<{cut}: {lo} else {hi}": by_terms(cut, lo, hi)
        for cut in (20, 28)
        for lo, hi in ((0.3, 0.7), (0.7, 0.3))
    }
    return rules


def main() -> None:
    """Index both sets, collect every question's candidates once, and print each variant per half."""
    args, encoder = quality.side_bench(__doc__)
    pools: list[Pool] = []
    for name in quality.SETS:
        searcher = quality.index(encoder, name, args)
        pools += [
            (searcher, q, with_rrf(searcher.candidates(q.text, q.vector)))
            for q in quality.questions(encoder, name, args.sample)
        ]
    dev = [p for p in pools if p[1].dev]
    held = [p for p in pools if not p[1].dev]
    for name, rule in variants(pools[0][0].calibration.lexical_weight).items():
        print(f"{name:24} dev {line(judged(dev, rule))} | held-out {line(judged(held, rule))}", flush=True)


if __name__ == "__main__":
    main()
