"""Retrieval quality on ../shared/eval: BM25-only, dense-only and hybrid, per subset, scored by score.py.

usage: bench/quality.py [--cache DIR] [--segmenters | --calibrate | --trims]

The eval pages are parsed with corpus.parse and indexed with bot.indexing.build_index; passage and
question vectors are cached per text under --cache (keyed by model id, prompt and text), so a second run
costs seconds. Prints ans@1/ans@3/MRR@10 per subset for each method, side by side.
--segmenters compares BM25 over jieba words, character bigrams and unigrams+bigrams.
--trims scores the full Searcher at the shipped threshold per caption penalty and relative margin.
--calibrate indexes half of the pages and reports, per threshold, how often questions about the indexed
half are answered and questions about the other half abstain.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings import rank
from embeddings.encoder import Encoder
from embeddings.local.dense import DenseIndex
from embeddings.local.lexical import LexicalIndex
from embeddings.local.reader import LocalReader
from embeddings.models import Passage
from embeddings.search import IndexStats, Searcher
from embeddings.tokens import SEGMENTERS

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
MODEL = str(REPO.parent / "shared" / "models" / "multilingual-e5-small-zh-en")
SUBSETS = ("cmrc2018", "drcd", "xquad")


class CachedEncoder(Encoder):
    """An Encoder that remembers every vector it computed, per text, in one .npz per prompt."""

    def __init__(self, model: str, cache: Path) -> None:
        super().__init__(model)
        self.cache = cache
        self.computed = 0

    def _store(self, kind: str) -> Path:
        prompt = self.prompts[kind]
        key = hashlib.sha256(f"{self.model_id}\x00{prompt}".encode()).hexdigest()[:16]
        return self.cache / f"vectors-{kind}-{key}.npz"

    def _cached(
        self, texts: Sequence[str], kind: str, compute: Callable[[Sequence[str]], np.ndarray]
    ) -> np.ndarray:
        path = self._store(kind)
        known: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as saved:
                known = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
        if missing:
            vectors = compute([t for _, t in missing])
            self.computed += len(missing)
            known.update(zip((k for k, _ in missing), vectors, strict=True))
            self.cache.mkdir(parents=True, exist_ok=True)
            np.savez(path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode questions, from the cache when possible."""
        return self._cached(texts, "query", super().encode_queries)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages, from the cache when possible."""
        return self._cached(texts, "passage", super().encode_passages)


def load_questions() -> list[dict]:
    """Return the eval questions."""
    return [json.loads(line) for line in (EVAL / "questions.jsonl").open(encoding="utf-8")]


def build(encoder: CachedEncoder, work: Path) -> Searcher:
    """Index the eval pages with the store (full rebuild) and open a Searcher that never abstains."""
    from bot.indexing import build_index, open_searcher

    started = time.monotonic()
    report = build_index(EVAL / "articles", work / "index", encoder, full=True)
    print(
        f"indexed {report.added} pages, {report.passages} passages, {len(report.failed)} failed, "
        f"{report.skipped} skipped in {time.monotonic() - started:.0f}s ({encoder.computed} embedded)",
        flush=True,
    )
    return open_searcher(work / "index", encoder, top_k=10, min_score=-1e9)


def hit_rows(passages: dict[int, Passage], ids: Sequence[int]) -> list[dict]:
    """Return score.py hit records for passage ids."""
    return [{"text": passages[i].text, "doc": passages[i].doc} for i in ids if i in passages]


def run_methods(
    searcher: Searcher, questions: list[dict], vectors: np.ndarray
) -> dict[str, list[list[dict]]]:
    """Return, per method, the top-10 hits of every question."""
    passages = {pid: p for pid in searcher.index.lexical_index.ids().tolist() if (p := searcher.passage(pid))}
    out: dict[str, list[list[dict]]] = {"bm25": [], "dense": [], "rrf": [], "weighted": [], "searcher": []}
    _, dense_ids = searcher.index.dense_index.search(vectors, 10)
    for n, q in enumerate(questions):
        text = rank.check_question(q["question"])
        out["bm25"].append(hit_rows(passages, searcher.index.lexical_index.search(text, 10)[1].tolist()))
        out["dense"].append(hit_rows(passages, dense_ids[n].tolist()))
        candidates = searcher.candidates(text, vectors[n])
        out["weighted"].append(hit_rows(passages, [c.passage_id for c in candidates[:10]]))
        by_rrf = sorted(candidates, key=lambda c: (-c.rrf, c.passage_id))
        out["rrf"].append(hit_rows(passages, [c.passage_id for c in by_rrf[:10]]))
    for answer in searcher.search_many([q["question"] for q in questions], top_k=10):
        hits = [] if isinstance(answer, Exception) else answer.hits
        out["searcher"].append([{"text": h.text, "doc": h.doc} for h in hits])
    return out


def score(
    questions: list[dict], hits: list[list[dict]], work: Path, name: str
) -> dict[str, tuple[float, ...]]:
    """Write results for score.py, run it, and return {subset: (ans@1, ans@3, mrr@10)}."""
    results = work / f"results-{name}.jsonl"
    with results.open("w", encoding="utf-8") as f:
        for q, h in zip(questions, hits, strict=True):
            f.write(json.dumps({"id": q["id"], "hits": h}, ensure_ascii=False) + "\n")
    printed = subprocess.run(
        [sys.executable, str(EVAL / "score.py"), str(EVAL / "questions.jsonl"), str(results)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = {}
    for line in printed.splitlines():
        cells = line.split()
        if cells and cells[0] in (*SUBSETS, "ALL"):
            # columns: set n ans@1 ans@3 ans@5 ans@10 doc@1 doc@3 doc@5 doc@10 mrr10 missing
            table[cells[0]] = (float(cells[2]), float(cells[3]), float(cells[10]))
    return table


def fmt(cells: tuple[float, ...]) -> str:
    """Return a1/a3/mrr as one cell."""
    return "/".join(f"{c:.3f}" for c in cells)


def quality(args: argparse.Namespace) -> None:
    """Print ans@1/ans@3/MRR@10 per subset for every method."""
    encoder = CachedEncoder(MODEL, args.cache)
    questions = load_questions()
    searcher = build(encoder, args.cache)
    started = time.monotonic()
    vectors = encoder.encode_queries([rank.check_question(q["question"]) for q in questions])
    print(f"encoded {len(questions)} questions in {time.monotonic() - started:.0f}s", flush=True)
    methods = run_methods(searcher, questions, vectors)
    print(f"\n{'method':10} " + " ".join(f"{s + ' a1/a3/mrr':>26}" for s in (*SUBSETS, "ALL")))
    for name, hits in methods.items():
        table = score(questions, hits, args.cache, name)
        row = " ".join(f"{fmt(table[s]):>26}" for s in (*SUBSETS, "ALL"))
        print(f"{name:10} {row}", flush=True)
    print("anchor     char-bigram BM25 over naive paragraphs: ALL 0.808/0.923/0.869")


def segmenters(args: argparse.Namespace) -> None:
    """Compare BM25 segmentations on the parsed eval passages."""
    encoder = CachedEncoder(MODEL, args.cache)
    questions = load_questions()
    searcher = build(encoder, args.cache)
    ids = searcher.index.lexical_index.ids().tolist()
    passages = {i: p for i in ids if (p := searcher.passage(i))}
    texts = [passages[i].text for i in ids]
    for segmenter in SEGMENTERS:
        started = time.monotonic()
        lexical = LexicalIndex.build(ids, texts, segmenter)
        built = time.monotonic() - started
        started = time.monotonic()
        hits = [hit_rows(passages, lexical.search(q["question"], 10)[1].tolist()) for q in questions]
        per_query = (time.monotonic() - started) / len(questions) * 1000
        table = score(questions, hits, args.cache, f"bm25-{segmenter}")
        row = " ".join(f"{s} {fmt(table[s])}" for s in (*SUBSETS, "ALL"))
        print(f"{segmenter:10} build {built:5.1f}s query {per_query:.2f}ms  {row}", flush=True)


def in_half(doc: str) -> bool:
    """Return whether a page belongs to the indexed half (a stable hash of its path)."""
    return hashlib.sha256(Path(doc).name.encode()).digest()[0] % 2 == 0


def calibrate(args: argparse.Namespace) -> None:
    """Index half the pages; report answer/abstain rates per threshold for both halves' questions."""
    encoder = CachedEncoder(MODEL, args.cache)
    questions = load_questions()
    full = build(encoder, args.cache)
    kept = [p for i in full.index.lexical_index.ids().tolist() if (p := full.passage(i)) and in_half(p.doc)]
    ids = np.array([p.id for p in kept], dtype=np.int64)
    dense = DenseIndex.create(encoder.dimension)
    dense.add(ids, encoder.encode_passages([p.text for p in kept]))
    lexical = LexicalIndex.build(ids.tolist(), [p.text for p in kept])
    stats = IndexStats(0, len(kept), None, None, encoder.model_id, "", dense.kind)
    half = Searcher(LocalReader(kept, dense, lexical), encoder, stats)
    texts = [rank.check_question(q["question"]) for q in questions]
    vectors = encoder.encode_queries(texts)
    inside = np.array([in_half(q["doc"]) for q in questions])
    best_relevance = np.zeros(len(questions))
    best_cosine = np.zeros(len(questions))
    for n, text in enumerate(texts):
        candidates = half.candidates(text, vectors[n])
        best_relevance[n] = max(c.relevance for c in candidates)
        best_cosine[n] = max(c.dense for c in candidates)
    print(f"indexed half: {len(kept)} passages; {inside.sum()} questions inside, {(~inside).sum()} outside")
    for name, values in (("relevance (cosine + w*coverage)", best_relevance), ("cosine only", best_cosine)):
        print(f"\n{name}: threshold  answered(inside)  abstained(outside)  balanced")
        best = max(np.unique(np.round(values, 3)), key=lambda t: rates(values, inside, t)[2])
        for t in sorted(
            {*np.round(np.linspace(np.percentile(values, 5), np.percentile(values, 95), 12), 3), best}
        ):
            answered, abstained, balanced = rates(values, inside, t)
            mark = "  <- best" if t == best else ""
            print(f"  {t:.3f}  {answered:.3f}  {abstained:.3f}  {balanced:.3f}{mark}")
    t = rank.DEFAULT_MIN_RELEVANCE
    answered, abstained, _ = rates(best_relevance, inside, t)
    print(f"\nshipped threshold {t}: answered {answered:.3f} inside, abstained {abstained:.3f} outside")


def trims(args: argparse.Namespace) -> None:
    """Score the full Searcher (shipped threshold) per caption penalty and relative margin."""
    encoder = CachedEncoder(MODEL, args.cache)
    questions = load_questions()
    searcher = build(encoder, args.cache)
    searcher.min_score = rank.DEFAULT_MIN_RELEVANCE
    shipped = (rank.CAPTION_PENALTY, rank.RELATIVE_MARGIN)
    print(
        f"\n{'penalty':>7} {'margin':>6} {'answered':>8} {'quotes':>6} "
        + " ".join(f"{s:>18}" for s in SUBSETS)
    )
    for penalty, margin in (
        (0.0, 9.0),
        (0.05, 9.0),
        (1.0, 9.0),
        (0.05, 0.05),
        (0.05, 0.08),
        (0.05, 0.12),
        (1.0, 0.08),
    ):
        rank.CAPTION_PENALTY, rank.RELATIVE_MARGIN = penalty, margin
        answers = searcher.search_many([q["question"] for q in questions], top_k=10)
        hits = [
            [] if isinstance(a, Exception) else [{"text": h.text, "doc": h.doc} for h in a.hits]
            for a in answers
        ]
        answered = np.mean([bool(h) for h in hits])
        quotes = np.mean([min(3, len(h)) for h in hits if h])
        table = score(questions, hits, args.cache, f"trim-{penalty}-{margin}")
        row = " ".join(f"{fmt(table[s]):>18}" for s in (*SUBSETS, "ALL"))
        print(f"{penalty:7.2f} {margin:6.2f} {answered:8.3f} {quotes:6.2f} {row}", flush=True)
    rank.CAPTION_PENALTY, rank.RELATIVE_MARGIN = shipped
    print(f"shipped: caption penalty {shipped[0]}, margin {shipped[1]}")


def rates(values: np.ndarray, inside: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Return (answered inside, abstained outside, their mean) at threshold."""
    answered = float(np.mean(values[inside] >= threshold))
    abstained = float(np.mean(values[~inside] < threshold))
    return answered, abstained, (answered + abstained) / 2


def main() -> None:
    """Parse arguments and run the chosen measurement."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/b1/quality"), help="vector cache and work dir"
    )
    parser.add_argument("--segmenters", action="store_true", help="compare BM25 segmentations")
    parser.add_argument("--calibrate", action="store_true", help="measure abstention on a half index")
    parser.add_argument(
        "--trims", action="store_true", help="caption penalty and relative margin, full Searcher"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.segmenters:
        segmenters(args)
    elif args.calibrate:
        calibrate(args)
    elif args.trims:
        trims(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
