"""What the abstention costs and buys: answered, ans@1/ans@3 and refusals for several answered levels.

usage: bench/abstention_tradeoff.py [--cache DIR] [--sample N] [--encoder NAME] [--reranker NAME]

Uses bench/quality.py's corpora, indexes and vector cache. The Searcher refuses a question exactly
when its best relevance is below its kind's threshold; otherwise it quotes what it would quote with
no abstention. So one pass gives, per question, the quotes it would give and its best relevance, in
corpus (each set's full index) and out of corpus (each set's questions on the index of the other half
of its pages, and on the other set's index). For each answered level, per-kind thresholds are derived
as --calibrate derives them (that share of the development half's in-corpus questions answered), and
the table shows per subset the share answered and ans@1/ans@3 with the abstention, beside BM25, dense
and RRF (which answer everything), and the share refused on every out-of-corpus set.
With a verifier (--reranker, the shipped one by default; none to skip), the same curve follows on the
held-out half only (it was trained on the other), first without it and then with it, on the same
questions: its thresholds are derived on the development questions --calibrate-verifier scores, the
curve shows held-out questions answered with ans@1/ans@3 per subset, and refused when their page is
not indexed (each set's first half) and on another set's index.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality
from embeddings.search import Searcher

LEVELS = (0.97, 0.98, 0.99, 0.995, 0.999)


def best(searcher: Searcher, qs: Sequence[quality.Question]) -> np.ndarray:
    """Return each question's best relevance on this index (what the abstention compares)."""
    return np.array(
        [max((c.relevance for c in searcher.candidates(q.text, q.vector)), default=-np.inf) for q in qs]
    )


def firsts(searcher: Searcher, qs: Sequence[quality.Question]) -> np.ndarray:
    """Return the rank of the first quote holding an answer without abstention (99 when none)."""
    hits = quality.shipped(searcher, qs, abstain=False)[0]
    return np.array(
        [99 if (f := quality.answered(h[:3], q)) is None else f for h, q in zip(hits, qs, strict=True)]
    )


def thresholds(qs: Sequence[quality.Question], scores: np.ndarray, level: float) -> dict[str, float]:
    """Return per-kind thresholds answering level of the development half's questions (as --calibrate)."""
    best: dict[str, list[float]] = {}
    for q, score in zip(qs, scores.tolist(), strict=True):
        if q.dev:
            best.setdefault(q.kind, []).append(score)
    return quality.kind_thresholds(best, level)


def refused(qs: Sequence[quality.Question], scores: np.ndarray, cut: dict[str, float]) -> float:
    """Return the share of questions refused at these thresholds (a kind without one is answered)."""
    return float(np.mean([s < cut.get(q.kind, -np.inf) for q, s in zip(qs, scores, strict=True)]))


def cell(took: np.ndarray, first: np.ndarray) -> str:
    """Return ans@1/ans@3 with abstention: answered and the answer among the first 1 / 3 quotes."""
    return f"{np.mean(took & (first < 1)):.3f}/{np.mean(took & (first < 3)):.3f}"


def main() -> None:
    """Collect quotes and best relevances once, then print one row per answered level."""
    args, encoder = quality.side_bench(__doc__)
    sets = {name: quality.questions(encoder, name, args.sample) for name in quality.SETS}
    full = {name: quality.index(encoder, name, args) for name in quality.SETS}
    qs = [q for name in quality.SETS for q in sets[name]]
    inside = np.concatenate([best(full[name], sets[name]) for name in quality.SETS])
    first = np.concatenate([firsts(full[name], sets[name]) for name in quality.SETS])
    outside: dict[str, tuple[list[quality.Question], np.ndarray]] = {}
    for name, questions in sets.items():
        halves = {part: quality.index(encoder, name, args, part) for part in ("first", "second")}
        held = [q for q in questions if not q.dev]
        dev = [q for q in questions if q.dev]
        outside[f"{name} halves"] = (
            held + dev,
            np.concatenate([best(halves["first"], held), best(halves["second"], dev)]),
        )
    for a, b in (("eval", "news"), ("news", "eval")):
        outside[f"{a} on {b}"] = (sets[a], best(full[b], sets[a]))
    subsets = [s for name in quality.SETS for s in quality.SETS[name][1]]
    for name, searcher in full.items():
        methods = quality.anchors(searcher, sets[name])
        for method, hits in methods.items():
            table = quality.table(sets[name], hits)
            print(
                f"{name} {method:9} "
                + " ".join(f"{s} {c[0]:.3f}/{c[1]:.3f}" for s, c in table.items() if s != "ALL")
            )
    subset = np.array([q.subset for q in qs])
    for level in (*LEVELS, 1.0):
        cut = thresholds(qs, inside, level) if level < 1 else {}
        took = np.array([s >= cut.get(q.kind, -np.inf) for q, s in zip(qs, inside, strict=True)])
        cells = [
            f"{s} {took[m].mean():.3f} {cell(took[m], first[m])}" for s in subsets if (m := subset == s).any()
        ]
        refusals = " ".join(
            f"{k} {refused(o_qs, o_scores, cut):.3f}" for k, (o_qs, o_scores) in outside.items()
        )
        print(f"answer {level:.3f} of dev: " + " | ".join(cells) + f" || refused: {refusals}", flush=True)
    reranker = quality.verifier(args)
    if reranker is not None:
        verified_curve(encoder, args, sets, full, reranker)


def verified_curve(
    encoder: quality.CachedEncoder,
    args: Any,
    sets: dict[str, list[quality.Question]],
    full: dict[str, Searcher],
    reranker: quality.CachedReranker,
) -> None:
    """Print the curve on the held-out half without the verifier, then with it, side by side: answered,
    ans@1/ans@3 and refusals per level."""
    from embeddings import calibration

    record = calibration.for_encoder(encoder.model_id, encoder.family)
    verification = record.verification
    if verification is None or verification.sha256 != reranker.digest:
        print("no verification constants for this reranker: run bench/quality.py --calibrate-verifier")
        return
    depth, weight = verification.depth, verification.weight
    # Candidates and the verifier's logits once per question set; both curves are derived from them.
    dev: list[quality.Question] = []
    held: list[quality.Question] = []
    dev_pools, held_pools = [], []
    outside: dict[str, tuple[list[quality.Question], list[Any]]] = {}
    for name, qs in sets.items():
        checked = [q for q in qs if q.kind != "cross-lingual"]
        sample = quality.spread([q for q in checked if q.dev], quality.VERIFY_SAMPLE)  # as calibrated
        dev += sample
        dev_pools += quality.verified_pools(full[name], sample, reranker, depth)
        hq = quality.spread([q for q in checked if not q.dev], 400)
        held += hq
        held_pools += quality.verified_pools(full[name], hq, reranker, depth)
        lacking = quality.index(encoder, name, args, "first")
        outside[f"{name} halves"] = (hq, quality.verified_pools(lacking, hq, reranker, depth))
    for a, b in (("eval", "news"), ("news", "eval")):
        hq = quality.spread([q for q in sets[a] if not q.dev and q.kind != "cross-lingual"], 200)
        outside[f"{a} on {b}"] = (hq, quality.verified_pools(full[b], hq, reranker, depth))
    subset = np.array([q.subset for q in held])
    subsets = [s for name in quality.SETS for s in quality.SETS[name][1]]
    for verified in (False, True):
        kinds = tuple(verification.min_score) if verified else ()
        on = verification.abstain_on if verified else "relevance"

        def signal(pools: list[Any], kinds: tuple[str, ...] = kinds, on: str = on) -> np.ndarray:
            """Return each question's abstention signal."""
            return quality.verified_signals(pools, depth, weight, record, kinds)[1][on]

        quotes, signals = quality.verified_signals(held_pools, depth, weight, record, kinds)
        inside, dev_signal = signals[on], signal(dev_pools)
        first = np.array(
            [
                99 if (f := quality.answered([t for t, _ in qq], q)) is None else f
                for qq, q in zip(quotes, held, strict=True)
            ]
        )
        refusing = {k: (o_qs, signal(o_pools)) for k, (o_qs, o_pools) in outside.items()}
        print(
            f"\nheld-out, with the verifier ({verification.reranker}, abstaining on {on}):"
            if verified
            else "\nheld-out, without the verifier (abstaining on relevance), the same questions:"
        )
        for level in (*LEVELS, 1.0):
            best: dict[str, list[float]] = {}
            for q, v in zip(dev, dev_signal.tolist(), strict=True):
                best.setdefault(q.kind, []).append(v)
            cut = quality.kind_thresholds(best, level) if level < 1 else {}
            took = np.array([v >= cut.get(q.kind, -np.inf) for q, v in zip(held, inside, strict=True)])
            cells = [
                f"{s} {took[m].mean():.3f} {cell(took[m], first[m])}"
                for s in subsets
                if (m := subset == s).any()
            ]
            refusals = " ".join(f"{k} {refused(o_qs, o_s, cut):.3f}" for k, (o_qs, o_s) in refusing.items())
            print(f"answer {level:.3f} of dev: " + " | ".join(cells) + f" || refused: {refusals}", flush=True)


if __name__ == "__main__":
    main()
