"""Answer quality per encoder: the full Searcher on the same eval pages, side by side in one run.

usage: python bench/encoder_quality.py [--encoders torch,openvino,openvino-int8] [--pages N] [--cache DIR]
                                      [--covered]

Indexes N eval pages (spread evenly over ../shared/eval/articles; 0 = all 1,279) once per encoder with
embeddings.store.build_index, asks every eval question about those pages through Searcher.search_many
(top 10, never abstaining) and scores it with ../shared/eval/score.py: ans@1 / ans@3 / MRR@10, the
share of questions whose top hit is the same passage as with the first encoder, and the share answered
at the shipped threshold. Vectors are cached per encoder and text under --cache (bench/quality.py's
cache files), so a second run costs seconds. --covered takes the N pages (spread evenly) among those
whose every passage is already in the caches of all the encoders, to measure on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import print_cpu
from bench.index_speed import copy_subset, pick_pages
from bench.quality import EVAL, MODEL, CachedEncoder
from bot.indexing import build_index, open_searcher
from corpus.load import scan_corpus
from embeddings.ids import passages_of


def covered_pages(names: list[str], cache: Path) -> list[str]:
    """Return the eval pages whose every passage has a cached vector for each encoder."""
    import hashlib

    import numpy as np

    known = []
    for name in names:
        path = CachedEncoder(MODEL, cache, name)._store("passage")
        known.append(set(np.load(path)["keys"].tolist()) if path.exists() else set())
    pages = []
    for result in scan_corpus(EVAL / "articles"):
        if result.status == "ok" and result.article:
            keys = {hashlib.sha256(p.text.encode()).hexdigest() for p in passages_of(result.article)}
            if all(keys <= k for k in known):
                pages.append(result.path)
    return sorted(pages)


def measure(name: str, corpus: Path, questions: list[dict], work: Path) -> dict:
    """Index corpus with one encoder and return its scores and top-1 passages."""
    encoder = CachedEncoder(MODEL, work, name)
    build_index(corpus, work / f"index-{name}", encoder, full=True)
    searcher = open_searcher(work / f"index-{name}", encoder, top_k=10, min_score=-1e9)
    answers = searcher.search_many([q["question"] for q in questions], top_k=10)
    hits = [[] if isinstance(a, Exception) else a.hits for a in answers]
    results = work / f"results-{name}.jsonl"
    with results.open("w", encoding="utf-8") as out:
        for q, h in zip(questions, hits, strict=True):
            rows = [{"text": x.text, "doc": x.doc} for x in h]
            out.write(json.dumps({"id": q["id"], "hits": rows}, ensure_ascii=False) + "\n")
    printed = subprocess.run(
        [sys.executable, str(EVAL / "score.py"), str(work / "questions.jsonl"), str(results)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cells = next(line.split() for line in printed.splitlines() if line.startswith("ALL"))
    shipped = open_searcher(work / f"index-{name}", encoder, top_k=3).search_many(
        [q["question"] for q in questions], top_k=3
    )
    answered = sum(1 for a in shipped if not isinstance(a, Exception) and a.answered) / len(questions)
    return {
        "precision": encoder.precision,
        "ans1": float(cells[2]),
        "ans3": float(cells[3]),
        "mrr10": float(cells[10]),
        "answered": round(answered, 4),
        "top1": [h[0].passage_id if h else None for h in hits],
    }


def main() -> None:
    """Run every encoder on the same pages and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="torch,openvino,openvino-int8")
    parser.add_argument("--pages", type=int, default=400, help="eval pages to index (0: all)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/b1/quality"))
    parser.add_argument("--covered", action="store_true", help="only pages every encoder has vectors for")
    args = parser.parse_args()
    print_cpu()
    pages = pick_pages(EVAL / "articles", args.pages or 10**9)
    if args.covered:
        covered = covered_pages(args.encoders.split(","), args.cache)
        step = max(1.0, len(covered) / (args.pages or len(covered)))
        pages = [covered[int(i * step)] for i in range(min(len(covered), args.pages or len(covered)))]
    corpus = args.cache / f"pages-{len(pages)}"
    copy_subset(EVAL / "articles", pages, corpus)
    chosen = set(pages)
    lines = (EVAL / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [q for q in map(json.loads, lines) if q["doc"] in chosen]
    args.cache.mkdir(parents=True, exist_ok=True)
    (args.cache / "questions.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8"
    )
    print(f"{len(pages)} pages, {len(questions)} questions; full Searcher, top 10, never abstaining")
    print(
        f"{'encoder':14} {'precision':9} {'ans@1':>6} {'ans@3':>6} {'MRR@10':>6} {'same top-1':>10} answered"
    )
    rows, names = {}, args.encoders.split(",")
    for name in names:
        rows[name] = row = measure(name, corpus, questions, args.cache)
        same = sum(a == b for a, b in zip(row["top1"], rows[names[0]]["top1"], strict=True)) / len(questions)
        print(
            f"{name:14} {row['precision']:9} {row['ans1']:6.3f} {row['ans3']:6.3f} {row['mrr10']:6.3f}"
            f" {same:10.3f} {row['answered']:.3f}",
            flush=True,
        )
    print(json.dumps({n: {k: v for k, v in r.items() if k != "top1"} for n, r in rows.items()}))


if __name__ == "__main__":
    main()
