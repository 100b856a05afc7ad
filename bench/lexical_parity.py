"""BM25 parity: the segmented lexical index against bm25s (the index it replaced) on the eval sets.

usage: python bench/lexical_parity.py [--sets eval,eval-news] [--k 10]

Parses each set's pages into passages as `quotebot index` does and searches every question (without
its interrogatives, as the Searcher does) in three indexes over the same passages: a bm25s full build
ranked as the previous LexicalIndex ranked it (ties by page order), LexicalIndex.build, and the same
passages as four segments written over time with a tenth of the rows deleted and written again later
(LexicalIndex.from_segments). Prints, per set, the share of questions with the same top k (ids and
order) and the largest score difference relative to the top score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from corpus.load import scan_corpus  # noqa: E402
from embeddings.ids import passages_of  # noqa: E402
from embeddings.local.lexical import LexicalIndex, LexicalSegment  # noqa: E402
from embeddings.tokens import content_query, tokenize  # noqa: E402

SHARED = REPO.parent / "shared"


def top(scores: npt.NDArray[np.float32], k: int) -> list[int]:
    """Return the positions of the k best scores above 0, ties by position (LexicalIndex.search's order)."""
    matching = np.flatnonzero(scores > 0)
    return matching[np.lexsort((matching, -scores[matching]))][:k].tolist()


def bm25s_scores(texts: list[str]) -> object:
    """Return a scorer over a bm25s full build of texts, as the previous LexicalIndex built it."""
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index([tokenize(t) for t in texts], show_progress=False)

    def scores(query: str) -> npt.NDArray[np.float32]:
        ids = sorted({bm25.vocab_dict[t] for t in tokenize(query) if t in bm25.vocab_dict})
        if not ids:
            return np.zeros(len(texts), dtype=np.float32)
        return np.asarray(bm25.get_scores_from_ids(ids), dtype=np.float32)

    return scores


def segmented(ids: list[int], texts: list[str]) -> LexicalIndex:
    """Return the passages as four segments written over time, a tenth deleted and written again."""
    rng = np.random.default_rng(0)
    again = set(rng.choice(len(ids), len(ids) // 10, replace=False).tolist())
    quarters = np.array_split(np.arange(len(ids)), 4)
    segments = [LexicalSegment.of([ids[i] for i in q], [texts[i] for i in q]) for q in quarters]
    keeps = [np.array([i not in again for i in q]) for q in quarters]
    redo = sorted(again)
    segments.append(LexicalSegment.of([ids[i] for i in redo], [texts[i] for i in redo]))
    keeps.append(np.ones(len(redo), dtype=bool))
    return LexicalIndex.from_segments(segments, keeps, order=np.asarray(ids, dtype=np.int64))


def parity(name: str, k: int) -> dict[str, float]:
    """Compare the three indexes on one eval set; return its figures."""
    root = SHARED / name
    articles = [r.article for r in scan_corpus(root / "articles") if r.status == "ok" and r.article]
    passages = sorted((p for a in articles for p in passages_of(a)), key=lambda p: (p.doc, p.ordinal))
    ids, texts = [p.id for p in passages], [p.text for p in passages]
    questions = [json.loads(line)["question"] for line in (root / "questions.jsonl").open(encoding="utf-8")]
    reference = bm25s_scores(texts)
    built, segs = LexicalIndex.build(ids, texts), segmented(ids, texts)
    same_built = same_segmented = 0
    worst = 0.0
    for question in questions:
        query = content_query(question)
        want = reference(query)  # type: ignore[operator]
        got, seg = built.scores(query), segs.scores(query)
        np.testing.assert_array_equal(got, seg)
        same_built += top(got, k) == top(want, k)
        same_segmented += top(seg, k) == top(want, k)
        if want.max() > 0:
            worst = max(worst, float(np.abs(got - want).max() / want.max()))
    n = len(questions)
    figures = {
        "passages": len(passages),
        "questions": n,
        f"same_top{k}_build": round(same_built / n, 4),
        f"same_top{k}_segmented": round(same_segmented / n, 4),
        "max_relative_score_difference": worst,
    }
    print(
        f"{name}: {len(passages)} passages, {n} questions; same top {k} as bm25s: build"
        f" {same_built}/{n}, segmented {same_segmented}/{n}; largest score difference"
        f" {worst:.2e} of the top score",
        flush=True,
    )
    return figures


def main() -> None:
    """Run the comparison and print the figures (and one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="eval,eval-news")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps({name: parity(name, args.k) for name in args.sets.split(",")}))


if __name__ == "__main__":
    main()
