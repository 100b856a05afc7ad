"""Qdrant backend vs local backend on ../shared/eval: same top-3, ans@1/ans@3, latency, upsert rate.

usage: bench/quality.py --backend qdrant [--cache DIR] [--fraction F] [--limit N] [--encoder NAME] [--lexical]

Qdrant's in-process mode is pure Python (brute force, ~0.2 s per sparse scan of 1,000 points on
this machine), so the comparison runs on a stable subset of the eval pages (--fraction, by a hash
of the file name) and the questions about them; both backends index exactly the same pages with
the same cached vectors (bench/eval_sets.py's CachedEncoder). --lexical also compares the two
lexical representations (IDF sparse vector vs the BM25 text index on pre-tokenized text).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.eval_sets import EVAL, MODEL, CachedEncoder, fmt

SUBSETS = ("cmrc2018", "drcd", "xquad")


def load_questions() -> list[dict]:
    """Return the eval questions."""
    return [json.loads(line) for line in (EVAL / "questions.jsonl").open(encoding="utf-8")]


def score(
    questions: list[dict], hits: list[list[dict]], work: Path, name: str
) -> dict[str, tuple[float, ...]]:
    """Write results for the eval's score.py, run it, and return {subset: (ans@1, ans@3, mrr@10)}."""
    results = work / f"results-{name}.jsonl"
    with results.open("w", encoding="utf-8") as f:
        for q, h in zip(questions, hits, strict=True):
            f.write(json.dumps({"id": q["id"], "hits": h}, ensure_ascii=False) + "\n")
    scorer, asked = work / "eval" / "score.py", work / "eval" / "questions.jsonl"
    printed = subprocess.run(
        [sys.executable, str(scorer), str(asked), str(results)], capture_output=True, text=True, check=True
    ).stdout
    table = {}
    for line in printed.splitlines():
        cells = line.split()
        if cells and cells[0] in (*SUBSETS, "ALL"):
            table[cells[0]] = (float(cells[2]), float(cells[3]), float(cells[10]))
    return table


def subset_corpus(work: Path, fraction: float) -> Path:
    """Copy a stable fraction of the eval pages into work/corpus (same relative paths)."""
    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    for page in sorted((EVAL / "articles").rglob("*.htm*")):
        if hashlib.sha256(page.name.encode()).digest()[0] < fraction * 256:
            target = corpus / page.relative_to(EVAL / "articles")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, target)  # a reindex reads no symbolic link out of the corpus
    return corpus


def local_subset(args: argparse.Namespace) -> tuple[Path, Path, CachedEncoder, Any]:
    """Copy the --fraction subset, index it with the local backend; return work, corpus, encoder, searcher."""
    from bot.indexing import build_index, open_searcher

    work = args.cache / f"parity-{args.fraction}"
    corpus = subset_corpus(work, args.fraction)
    encoder = CachedEncoder(MODEL, args.cache, getattr(args, "encoder", "torch"))
    build_index(corpus, work / "index", encoder, full=True)
    return work, corpus, encoder, open_searcher(work / "index", encoder, top_k=10, min_score=-1e9)


class TimedClient:
    """A QdrantClient whose upserts are timed (points and seconds)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.points = 0
        self.seconds = 0.0

    def upsert(self, collection_name: str, points: Any, **options: Any) -> Any:
        started = time.monotonic()
        result = self._client.upsert(collection_name, points=points, **options)
        if not collection_name.endswith("-pages"):
            self.seconds += time.monotonic() - started
            self.points += len(points)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def answers(searcher: Any, questions: list[dict]) -> tuple[list[list[Any]], list[float]]:
    """Return every question's top-10 hits and the seconds each search took."""
    hits, seconds = [], []
    for q in questions:
        started = time.monotonic()
        answer = searcher.search(q["question"], top_k=10)
        seconds.append(time.monotonic() - started)
        hits.append(list(answer.hits))
    return hits, seconds


def ms(values: list[float]) -> str:
    """Return p50/p95 in milliseconds."""
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def parity(args: argparse.Namespace) -> None:
    """Index the subset with both backends and compare what they quote."""
    from qdrant_client import QdrantClient

    from bot.indexing import corpus_pages
    from embeddings.qdrant.generations import Layout
    from embeddings.qdrant.store import QdrantStore
    from embeddings.reindex import reindex
    from embeddings.search import open_searcher as open_store

    work, corpus, encoder, local = local_subset(args)
    shutil.rmtree(work / "qdrant", ignore_errors=True)
    timed = TimedClient(QdrantClient(path=str(work / "qdrant")))
    store = QdrantStore(timed, Layout("parity"), work / "lock")
    started = time.monotonic()
    reindex(store, encoder, corpus_pages(corpus), full=True)
    built = time.monotonic() - started
    print(
        f"{local.stats.articles} pages, {local.stats.passages} passages; qdrant full build {built:.1f}s, "
        f"upsert {timed.points} points in {timed.seconds:.1f}s = {timed.points / timed.seconds:.0f} points/s"
    )
    remote = open_store(store, encoder, top_k=10, min_score=-1e9)
    remote.index.index.idf_ttl = 1e9  # type: ignore[attr-defined]  # nothing writes: ask each idf once
    docs = {p.doc for p in local.index.passages}  # type: ignore[attr-defined]  # the local reader
    questions = [q for q in load_questions() if q["doc"] in docs]
    if args.limit:  # every k-th question, so a few hundred still span the whole index
        questions = questions[:: max(1, len(questions) // args.limit)][: args.limit]
    encoder.encode_queries([q["question"] for q in questions])  # cache, so latency excludes the model
    local_hits, local_s = answers(local, questions)
    remote_hits, remote_s = answers(remote, questions)
    same = sum(
        [h.passage_id for h in a[:3]] == [h.passage_id for h in b[:3]]
        for a, b in zip(local_hits, remote_hits, strict=True)
    )
    print(f"{len(questions)} questions: same top-3 passages for {same} ({same / len(questions):.1%})")
    print(f"latency per question (encoding cached): local {ms(local_s)}; qdrant in-process {ms(remote_s)}")
    subset_questions = work / "questions.jsonl"
    subset_questions.write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8"
    )
    for name, hits in (("local", local_hits), ("qdrant", remote_hits)):
        rows = [[{"text": h.text, "doc": h.doc} for h in hs] for hs in hits]
        table = score_subset(questions, rows, work, name, subset_questions)
        print(
            f"{name:7} " + " ".join(f"{s} {fmt(table[s])}" for s in (*SUBSETS, "ALL") if s in table),
            flush=True,
        )


def score_subset(questions: list[dict], rows: list[list[dict]], work: Path, name: str, path: Path) -> dict:
    """Score rows with the eval's score.py against the subset's questions file."""
    linked = work / "eval"
    linked.mkdir(exist_ok=True)
    for link, target in (("score.py", EVAL / "score.py"), ("questions.jsonl", path)):
        (linked / link).unlink(missing_ok=True)
        (linked / link).symlink_to(target)
    return score(questions, rows, work, name)
