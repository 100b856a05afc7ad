"""Which signals separate in-corpus questions from out-of-corpus ones, per out-of-corpus set.

usage: bench/abstention_signals.py [--cache DIR] [--sample N] [--encoder NAME]

Uses bench/quality.py's corpora, indexes and vector cache. For each question the shipped Searcher
ranks its candidates (calibrated weights, caps, folding); the signals are read off its quotes:
best relevance (what the shipped abstention uses), best minus the mean of the top 10, the best
quote's cosine and BM25 coverage, and the share of the question's content terms (tokens of two or
more characters) found in the best quote and in its whole article. Prints, per out-of-corpus set
(each set's halves against each other, each set against the other's index), every signal's AUC
against the in-corpus questions of the same set and the share it refuses at the threshold (per
question kind) that answers 97% of them; then a logistic regression of all signals fitted on the
development half and judged on the held-out half (same-event news: the other half's questions).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality
from embeddings import rank
from embeddings.search import Searcher
from embeddings.tokens import content_query, fold, tokenize

SIGNALS = ("best", "gap", "cosine", "coverage", "quote terms", "article terms")
ANSWERED = 0.97  # the floor for in-corpus questions answered


def article_texts(searcher: Searcher) -> dict[str, str]:
    """Return each article's folded text (all its passages), by page."""
    parts: dict[str, list[str]] = {}
    for p in searcher.index.passages:
        parts.setdefault(p.doc, []).append(p.text)
    return {doc: fold("".join(texts)) for doc, texts in parts.items()}


def signals(searcher: Searcher, articles: dict[str, str], q: quality.Question) -> list[float]:
    """Return one question's signals (SIGNALS order) from the Searcher's quotes."""
    candidates = searcher.candidates(q.text, q.vector)
    passages = {c.passage_id: p for c in candidates if (p := searcher.passage(c.passage_id))}
    hits = rank.select_hits(candidates, passages, top_k=10, max_per_article=searcher.max_per_article)
    top = next(c for c in candidates if c.passage_id == hits[0].passage_id)
    scores = [h.score for h in hits]
    terms = {t for t in tokenize(content_query(q.text)) if len(t) >= 2}
    quote, article = fold(hits[0].text), articles[hits[0].doc]
    return [
        scores[0],
        scores[0] - float(np.mean(scores)),
        top.dense,
        top.lexical,
        share(terms, quote),
        share(terms, article),
    ]


def share(terms: set[str], text: str) -> float:
    """Return the share of terms found in text (1 when there are none)."""
    return float(np.mean([t in text for t in terms])) if terms else 1.0


def table(searcher: Searcher, qs: Sequence[quality.Question]) -> np.ndarray:
    """Return the signals of questions on one index, a row each."""
    articles = article_texts(searcher)
    return np.array([signals(searcher, articles, q) for q in qs])


def auc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Return the probability that an in-corpus question scores above an out-of-corpus one (ties half)."""
    both = np.concatenate([inside, outside])
    ranks = np.argsort(np.argsort(both, kind="stable"), kind="stable").astype(float) + 1
    for value in np.unique(both):  # average ranks of ties
        tied = both == value
        ranks[tied] = ranks[tied].mean()
    n, m = len(inside), len(outside)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * m))


def refused(inside: np.ndarray, in_kinds: list[str], outside: np.ndarray, out_kinds: list[str]) -> float:
    """Return the share of outside refused at per-kind thresholds that answer ANSWERED of inside."""
    kinds = np.array(in_kinds)
    cut = {k: np.quantile(inside[kinds == k], 1 - ANSWERED) for k in set(in_kinds)}
    return float(np.mean([v < cut.get(k, -np.inf) for v, k in zip(outside, out_kinds, strict=True)]))


def report(name: str, inside: tuple[np.ndarray, list[str]], outside: tuple[np.ndarray, list[str]]) -> None:
    """Print each signal's AUC and refusal at 97% answered for one out-of-corpus set."""
    cells = [
        f"{s} {auc(inside[0][:, i], outside[0][:, i]):.3f}/"
        f"{refused(inside[0][:, i], inside[1], outside[0][:, i], outside[1]):.3f}"
        for i, s in enumerate(SIGNALS)
    ]
    print(f"{name} ({len(outside[1])}), AUC/refused: " + "; ".join(cells), flush=True)


def combined(dev: tuple[np.ndarray, np.ndarray], held: tuple[np.ndarray, np.ndarray]) -> None:
    """Fit a logistic regression of all signals on dev (in, out), print its AUC and refusal on held."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack(dev)
    model = LogisticRegression(max_iter=5000).fit(x, [1] * len(dev[0]) + [0] * len(dev[1]))
    inside, outside = (model.decision_function(h) for h in held)
    cut = np.quantile(inside, 1 - ANSWERED)
    print(
        f"  logistic of all signals (fit on dev, judged held-out): AUC {auc(inside, outside):.3f}, "
        f"refuses {np.mean(outside < cut):.3f} at {ANSWERED:.0%} answered (one cut for all kinds)",
        flush=True,
    )


def main() -> None:
    """Index both sets and their halves, then print the signal tables."""
    args, encoder = quality.side_bench(__doc__)
    sets = {name: quality.questions(encoder, name, args.sample) for name in quality.SETS}
    full = {name: quality.index(encoder, name, args) for name in quality.SETS}
    kinds = {name: [q.kind for q in qs] for name, qs in sets.items()}
    inside = {name: table(full[name], qs) for name, qs in sets.items()}
    for name, qs in sets.items():
        dev = [q for q in qs if q.dev]
        held = [q for q in qs if not q.dev]
        first, second = (
            quality.index(encoder, name, args, "first"),
            quality.index(encoder, name, args, "second"),
        )
        outs = {"held-out on first": table(first, held), "dev on second": table(second, dev)}
        out_kinds = [q.kind for q in held] + [q.kind for q in dev]
        report(f"{name} halves", (inside[name], kinds[name]), (np.vstack(list(outs.values())), out_kinds))
        is_dev = np.array([q.dev for q in qs])
        combined(
            (inside[name][is_dev], outs["dev on second"]),
            (inside[name][~is_dev], outs["held-out on first"]),
        )
    for a, b in (("eval", "news"), ("news", "eval")):
        report(f"{a} questions on the {b} index", (inside[a], kinds[a]), (table(full[b], sets[a]), kinds[a]))


if __name__ == "__main__":
    main()
