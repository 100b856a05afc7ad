"""Query latency on the eval index, and FAISS alone at 1M vectors (figures, not pass/fail).

usage: bench/query_speed.py [--cache DIR] [--sample N] [--questions N] [--million N]
                            [--skip-eval] [--skip-million]
       bench/query_speed.py --during-reindex [--encoder NAME] [--reindex-pages N] [--questions N] [--sample N]
       bench/query_speed.py --encode torch,onnx-int8 [--questions N]

1. p50/p95 of Searcher.search (encode + both searches + fusion + highlight) over N eval questions,
   with the time split into encode / dense / lexical / ranking, on the index bench/quality.py built.
2. HNSW (shipped) and IVF (rejected) recall@10 against exact search on the real eval embeddings.
3. FAISS alone on 1M random 384-d vectors with the index kind DenseIndex uses at that size:
   build time, bytes per vector, one-query latency, and the exact flat scan for comparison.
--during-reindex: p50/p95 of one question end to end (Searcher.search), idle and then while a full
   reindex of N eval pages runs in the same process with the same encoder (as the bot's /reindex does).
--encode: p50/p95 of encoding one question (Encoder.encode_queries, the bot's single-question thread
   budget) with each encoder, the encoders alternating question by question.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import print_cpu
from bench.quality import EVAL, MODEL, SHIPPED_CAP, CachedEncoder, build, index_dir
from bot.config import DEFAULT_ENCODER
from embeddings import rank
from embeddings.encoder import Encoder, serving_passage_threads
from embeddings.local.dense import FLAT_MAX, HNSW_EF_SEARCH, DenseIndex
from embeddings.search import Searcher


def percentiles(samples: list[float]) -> str:
    """Return 'p50 x ms, p95 y ms' for samples in seconds."""
    p50, p95 = np.percentile(np.array(samples) * 1000, [50, 95])
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"


def eval_latency(cache: Path, n: int, sample: int) -> None:
    """Time the whole query path and its parts on the eval index with a live (uncached) encoder."""
    from bot.indexing import open_searcher

    build(CachedEncoder(MODEL, cache), cache, sample)  # makes sure the index exists (cached vectors)
    encoder = Encoder(MODEL)
    searcher = open_searcher(index_dir(cache, "eval", sample), encoder, max_per_article=SHIPPED_CAP)
    questions = [json.loads(line)["question"] for line in (EVAL / "questions.jsonl").open(encoding="utf-8")]
    sample = [questions[i] for i in np.random.default_rng(0).choice(len(questions), n, replace=False)]
    searcher.search(sample[0])  # load the model and warm up
    total, encode, dense, lexical, ranking = [], [], [], [], []
    for question in sample:
        t0 = time.perf_counter()
        searcher.search(question)
        total.append(time.perf_counter() - t0)
        text = rank.check_question(question)
        t0 = time.perf_counter()
        vector = encoder.encode_queries([text])[0]
        t1 = time.perf_counter()
        searcher.index.dense_index.search(vector[None, :], 50)
        t2 = time.perf_counter()
        searcher.index.lexical_index.scores(text)
        t3 = time.perf_counter()
        searcher._answer(text, vector, 3, 0)
        t4 = time.perf_counter()
        encode.append(t1 - t0)
        dense.append(t2 - t1)
        lexical.append(t3 - t2)
        ranking.append(t4 - t3)
    kind = searcher.index.dense_index.kind
    print(f"eval index: {searcher.stats.passages} passages, dense {kind}, {n} questions")
    print(f"  search() end to end     {percentiles(total)}")
    print(f"  encode question         {percentiles(encode)}")
    print(f"  dense top-50            {percentiles(dense)}")
    print(f"  BM25 scores             {percentiles(lexical)}")
    print(f"  candidates+rank+hilite  {percentiles(ranking)}  (includes dense and BM25 again)")
    started = time.perf_counter()
    searcher.search_many(questions[:500])
    per = (time.perf_counter() - started) / 500 * 1000
    print(f"  search_many, 500 questions: {per:.1f} ms per question")
    verified_latency(searcher, encoder, sample, questions[:500])


def verified_latency(searcher: Searcher, encoder: Encoder, sample: list[str], batch: list[str]) -> None:
    """Time one question end to end without and with the shipped verifier, alternating, in one run."""
    from bench.quality import with_verifier
    from embeddings import calibration
    from embeddings.reranker import SHIPPED, CrossEncoderReranker

    # The verifier keeps the scores of pairs it read lately: each measurement gets its own, so no
    # question finds its pairs already scored (the warm-up's question is not in the sample).
    verified = with_verifier(searcher, CrossEncoderReranker(str(SHIPPED)))
    # The cached index may store an older record: rank with the one a build stores now (its verifier's).
    verified.calibration = calibration.for_encoder(encoder.model_id, encoder.family)
    verified.search(next(q for q in batch[::-1] if q not in sample))  # convert (once per machine), warm up
    plain_times, verified_times = [], []
    for question in sample:
        for s, times in ((searcher, plain_times), (verified, verified_times)):
            t0 = time.perf_counter()
            s.search(question)
            times.append(time.perf_counter() - t0)
    ratio = np.median(verified_times) / np.median(plain_times)
    print(f"  search() without the verifier  {percentiles(plain_times)}")
    print(f"  search() with the verifier     {percentiles(verified_times)}  (p50 {ratio:.2f}x, alternating)")
    fresh = with_verifier(verified, CrossEncoderReranker(str(SHIPPED)))
    for s, name in ((searcher, "without"), (fresh, "with")):
        started = time.perf_counter()
        s.search_many(batch)
        per = (time.perf_counter() - started) / len(batch) * 1000
        print(f"  search_many, {len(batch)} questions, {name} the verifier: {per:.1f} ms per question")


def reindex_latency(cache: Path, n: int, encoder_name: str, pages: int, sample: int) -> None:
    """Time one question at a time idle, then while this process reindexes `pages` eval pages."""
    from bench.index_speed import copy_subset, pick_pages
    from bot.indexing import build_index, open_searcher

    build(CachedEncoder(MODEL, cache, encoder_name), cache, sample)  # the eval index, this encoder's vectors
    encoder = Encoder(MODEL, encoder=encoder_name, passage_threads=serving_passage_threads())  # as the bot
    searcher = open_searcher(index_dir(cache, "eval", sample), encoder, max_per_article=SHIPPED_CAP)
    questions = [json.loads(line)["question"] for line in (EVAL / "questions.jsonl").open(encoding="utf-8")]
    sample = [questions[i] for i in np.random.default_rng(1).choice(len(questions), n, replace=False)]
    searcher.search(sample[0])  # load the model and warm up
    idle = []
    for question in sample:
        t0 = time.perf_counter()
        searcher.search(question)
        idle.append(time.perf_counter() - t0)
    corpus = cache / "reindex-corpus"
    copy_subset(EVAL / "articles", pick_pages(EVAL / "articles", pages), corpus)
    done = threading.Event()

    def reindex() -> None:
        build_index(corpus, cache / "reindex-index", encoder, full=True)
        done.set()

    started = time.perf_counter()
    threading.Thread(target=reindex, daemon=True).start()
    busy: list[float] = []
    while not done.is_set():
        t0 = time.perf_counter()
        searcher.search(sample[len(busy) % n])
        busy.append(time.perf_counter() - t0)
    took = time.perf_counter() - started
    ratio = (
        np.percentile(busy, 50) / np.percentile(idle, 50),
        np.percentile(busy, 95) / np.percentile(idle, 95),
    )
    print(f"encoder {encoder_name} ({encoder.precision}), eval index {searcher.stats.passages} passages")
    print(f"  one question, idle:            {percentiles(idle)}  ({len(idle)} questions)")
    print(f"  during a {pages}-page reindex:  {percentiles(busy)}  ({len(busy)} questions, {took:.0f} s)")
    print(f"  ratio during/idle: p50 {ratio[0]:.2f}x, p95 {ratio[1]:.2f}x")


def exact_top(base: np.ndarray, queries: np.ndarray, k: int, chunk: int = 200_000) -> np.ndarray:
    """Return the exact top-k row numbers of base for each query by brute force, chunked."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(base), chunk):
        sims = queries @ base[start : start + chunk].T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        scores = np.concatenate([best_scores, np.take_along_axis(sims, part, axis=1)], axis=1)
        rows = np.concatenate([best_rows, part + start], axis=1)
        order = np.argsort(-scores, axis=1)[:, :k]
        best_scores, best_rows = (
            np.take_along_axis(scores, order, axis=1),
            np.take_along_axis(rows, order, axis=1),
        )
    return best_rows


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Return mean recall@k of found rows against truth rows."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def real_recall(cache: Path, sample: int) -> None:
    """Report HNSW (shipped) and IVF (rejected) recall@10 against exact search on real eval vectors."""
    import faiss

    encoder = CachedEncoder(MODEL, cache)
    searcher = build(encoder, cache, sample)
    ids = searcher.index.lexical_index.ids()
    base = encoder.encode_passages([p.text for i in ids.tolist() if (p := searcher.passage(i))])
    questions = [json.loads(line)["question"] for line in (EVAL / "questions.jsonl").open(encoding="utf-8")]
    queries = encoder.encode_queries([rank.check_question(q) for q in questions[:2000]])
    truth = ids[exact_top(base, queries, 10)]
    index = DenseIndex.create(base.shape[1], flat_max=1000)
    started = time.perf_counter()
    index.add(ids, base)
    built = time.perf_counter() - started
    print(f"real eval embeddings: {len(ids)} passages, 2000 eval questions, kind {index.kind}")
    print(f"  HNSW build {built:.1f}s, {index.memory_bytes() / len(ids):,.0f} bytes/vector")
    _, found = index.search(queries, 10)
    print(f"  HNSW efSearch {HNSW_EF_SEARCH} (shipped) recall@10 {recall(found, truth):.3f}")
    nlist = int(np.sqrt(len(ids)))
    ivf = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(base.shape[1]), base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT
    )
    ivf.train(base)
    ivf.add(base)
    for nprobe in (4, 8, 16, 32):
        ivf.nprobe = nprobe
        rows = ivf.search(queries, 10)[1]
        print(
            f"  IVF nlist {nlist} nprobe {nprobe:2d} ({nprobe / nlist:5.1%})"
            f" recall@10 {recall(ids[rows], truth):.3f}"
        )


def million(n: int) -> None:
    """Build the index DenseIndex uses at n random 384-d vectors and time single queries."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, 384), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = rng.standard_normal((100, 384), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ids = np.arange(1, n + 1, dtype=np.int64)
    started = time.perf_counter()
    index = DenseIndex.create(384, expected_size=n)
    for start in range(0, n, 50_000):
        index.add(ids[start : start + 50_000], base[start : start + 50_000])
    built = time.perf_counter() - started
    print(f"FAISS alone, {n:,} random 384-d vectors: kind {index.kind} (FLAT_MAX {FLAT_MAX:,})")
    print(f"  build {built:.1f}s ({n / built:,.0f} vectors/s), {index.memory_bytes() / n:,.0f} bytes/vector")
    times = []
    found = []
    for q in queries:
        t0 = time.perf_counter()
        _, got = index.search(q, 10)
        times.append(time.perf_counter() - t0)
        found.append(got[0] - 1)
    print(f"  one query, 1 thread     {percentiles(times)}")
    truth = exact_top(base, queries, 10)
    print(
        f"  recall@10 vs exact {recall(np.array(found), truth):.3f}"
        " (uniform random data: the worst case for HNSW)"
    )
    flat = DenseIndex.create(384, flat_max=n + 1)
    flat.add(ids[:n], base)
    times = []
    for q in queries[:20]:
        t0 = time.perf_counter()
        flat.search(q, 10)
        times.append(time.perf_counter() - t0)
    print(f"  exact flat for comparison {percentiles(times)}, {flat.memory_bytes() / n:,.0f} bytes/vector")


def encode_latency(names: list[str], count: int) -> None:
    """Print p50/p95 of one question's encoding per encoder, alternating encoders per question."""
    lines = (EVAL / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines[:: max(1, len(lines) // count)]][:count]
    encoders = {n: Encoder(MODEL, encoder=n) for n in names}
    for encoder in encoders.values():
        encoder.encode_queries(["预热"])  # loads (converting once); not timed
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for i, question in enumerate(questions):
        for n in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            encoders[n].encode_queries([question])
            seconds[n].append(time.perf_counter() - start)
    print(f"one question's encoding, {len(questions)} eval questions, encoders alternating")
    for n in names:
        p50, p95 = np.percentile(seconds[n], [50, 95]) * 1000
        print(f"{n:14} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    print(
        json.dumps(
            {"encode_ms": {n: np.percentile(s, [50, 95]).round(4).tolist() for n, s in seconds.items()}}
        )
    )


def main() -> None:
    """Parse arguments and run the measurements."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/b1/quality"))
    parser.add_argument("--sample", type=int, default=256, help="as bench/quality.py --sample")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument("--during-reindex", action="store_true", help="question latency during a reindex")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="QUOTEBOT_ENCODER for --during-reindex")
    parser.add_argument("--reindex-pages", type=int, default=60, help="pages the reindex embeds")
    parser.add_argument("--encode", help="comma-separated encoders: one question's encoding time only")
    args = parser.parse_args()
    print_cpu()
    if args.encode:
        encode_latency(args.encode.split(","), args.questions)
        return
    if args.during_reindex:
        reindex_latency(args.cache, args.questions, args.encoder, args.reindex_pages, args.sample)
        return
    if not args.skip_eval:
        eval_latency(args.cache, args.questions, args.sample)
        real_recall(args.cache, args.sample)
    if not args.skip_million:
        million(args.million)


if __name__ == "__main__":
    main()
