"""Indexing speed: encoders side by side, `quotebot index` per encoder, incremental vs full reindex.

usage: python bench/index_speed.py [--pages N] [--corpus DIR] [--model DIR] [--workdir DIR] [--batch-size N]
       python bench/index_speed.py --encoders torch,openvino,openvino-int8 [--pages N] [--rounds R]
       python bench/index_speed.py --cli openvino-int8,torch [--pages N]
       python bench/index_speed.py --add-page 10000,50000,199000 [--adds K] [--open]
       python bench/index_speed.py --profile [--encoder auto] [--pages N]
       python bench/index_speed.py --rescan [--rounds R] [--cold]

Takes a deterministic subset of N pages spread over the corpus's subsets (the whole eval corpus takes
many minutes to embed on a shared 2-core machine), then in one run measures side by side:
the encoder's raw `encode_passages` on exactly the passages the index holds, a full `build_index`, a
no-op reindex, and a reindex after editing one paragraph of one page, with its parts timed.
--encoders embeds the same passages with each encoder, interleaved over R rounds (each encoder's
converted model cached beforehand, untimed), and prints passages/s, the ratio to the first encoder and
the cosine of its vectors to the first's. --profile splits one encoder's `quotebot index` time into
tokenising, the model and everything else (parsing, BM25, FAISS, writing: a build with the model taken
out), and prints the padding a batch of 32 passages in page order needs against token-budget batches
sorted by length. --cli runs `quotebot index --full` (the real CLI, a fresh
process each) over the pages with each QUOTEBOT_ENCODER, alternating, and prints the wall times.
--add-page builds indexes of about the given numbers of synthetic passages (pages of 20 Chinese
passages, random unit vectors: the model is not the cost) once, cached in --workdir, then times K
incremental reindexes that each add one new page, through the same reindex and store as
`quotebot index`, and prints the median and slowest per size and their ratio to the smallest size.
(Keep the largest below 200,000 passages: the commit that crosses it turns the flat FAISS index into
an HNSW graph, once, which is no page's cost.)
--rescan copies every page of the three shared sets, indexes them once (hashing encoder), then times
R no-op `quotebot index` runs that read every page (no page memo) against R that trust the memo
(corpus.page_stats), alternating; --cold drops the page cache before each run (needs root).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.cpu import print_cpu  # noqa: E402
from bot.config import DEFAULT_ENCODER  # noqa: E402
from bot.indexing import PAGE_STATS, build_index  # noqa: E402
from corpus.load import FileResult, list_pages, scan_corpus  # noqa: E402
from corpus.models import Article, Paragraph  # noqa: E402
from embeddings.encoder import Encoder  # noqa: E402
from embeddings.hashing import HashingEncoder  # noqa: E402
from embeddings.ids import passages_of  # noqa: E402
from embeddings.local.generations import current_generation  # noqa: E402
from embeddings.local.segments import load_passages  # noqa: E402

SHARED = REPO.parent / "shared"
EDIT = "本段为基准测试补充的一句话。"


def pick_pages(corpus: Path, n: int) -> list[str]:
    """Return n pages spread evenly over the sorted page list (so every subset is represented)."""
    pages = list_pages(corpus)
    if n >= len(pages):
        return pages
    step = len(pages) / n
    return [pages[int(i * step)] for i in range(n)]


def copy_subset(corpus: Path, pages: list[str], target: Path) -> None:
    """Copy the chosen pages to target, keeping their relative paths."""
    shutil.rmtree(target, ignore_errors=True)
    for rel in pages:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / rel, target / rel)


def edit_one_page(corpus: Path, pages: list[str]) -> str:
    """Append a sentence to one body paragraph of one UTF-8 page; return its path."""
    for rel in pages:
        data = (corpus / rel).read_bytes()
        try:
            html = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        entry = html.find('class="entry"')
        end = html.find("。</p>", entry)
        if entry >= 0 and end >= 0:
            (corpus / rel).write_text(html[:end] + "。" + EDIT + html[end + 1 :], encoding="utf-8")
            return rel
    raise SystemExit("no UTF-8 page with a div.entry paragraph to edit")


class ZeroCostEncoder:
    """Stands in for the model (random unit vectors) to time everything else at full corpus scale."""

    def __init__(self, dimension: int = 384, batch_size: int = 32) -> None:
        self.model_id = "zero-cost"
        self.backend, self.precision, self.family = "zero-cost", "fp32", "float"
        self.dimension = dimension
        self.prompts = {"query": "", "passage": ""}
        self.batch_size = batch_size
        self.rng = np.random.default_rng(0)

    def for_index(self, setting: str) -> ZeroCostEncoder:
        return self

    def for_new_index(self) -> ZeroCostEncoder:
        return self

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def overhead_at_scale(corpus: Path, workdir: Path) -> dict[str, float]:
    """Time a full build and a one-page reindex of the whole corpus with the model taken out."""
    pages = list_pages(corpus)
    copy_subset(corpus, pages, workdir / "all")
    index_dir = workdir / "all-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    stub: Any = ZeroCostEncoder()
    full, full_s = timed(build_index, workdir / "all", index_dir, stub, full=True)
    _, noop_s = timed(build_index, workdir / "all", index_dir, stub)
    edit_one_page(workdir / "all", pages)
    _, incr_s = timed(build_index, workdir / "all", index_dir, stub)
    passages = load_passages(current_generation(index_dir))
    from embeddings.local.lexical import LexicalIndex

    _, lexical_s = timed(LexicalIndex.build, [p.id for p in passages], [p.text for p in passages])
    _, scan_s = timed(lambda: list(scan_corpus(workdir / "all")))
    return {
        "pages": len(pages),
        "passages": full.passages,
        "full_without_model_s": round(full_s, 2),
        "noop_reindex_s": round(noop_s, 3),
        "one_page_reindex_without_model_s": round(incr_s, 3),
        "lexical_rebuild_s": round(lexical_s, 3),
        "parse_all_pages_s": round(scan_s, 3),
    }


def corpus_texts(corpus: Path) -> list[str]:
    """Return the passage texts an index of corpus holds, in page order."""
    articles = [r.article for r in scan_corpus(corpus) if r.status == "ok" and r.article]
    return [p.text for a in articles for p in passages_of(a)]


def compare_encoders(args: argparse.Namespace, texts: list[str]) -> None:
    """Embed the same passages with each encoder, interleaved in rounds; print rates and agreement."""
    names = args.encoders.split(",")
    encoders = {
        n: Encoder(args.model, encoder=n, batch_size=args.batch_size, cache_dir=args.cache_dir) for n in names
    }
    for encoder in encoders.values():
        encoder.encode_passages(["预热"] * 8)  # loads (converting once) and warms up; not timed
    seconds = {n: 0.0 for n in names}
    vectors: dict[str, np.ndarray] = {}
    chunks = [texts[i : i + 256] for i in range(0, len(texts), 256)]
    for round_ in range(args.rounds):
        for c, chunk in enumerate(chunks):
            order = names[(round_ + c) % len(names) :] + names[: (round_ + c) % len(names)]
            for n in order:  # rotating who goes first spreads the machine's noise over all of them
                out, s = timed(encoders[n].encode_passages, chunk)
                seconds[n] += s
                if round_ == 0:
                    vectors.setdefault(n, np.zeros((0, out.shape[1]), np.float32))
                    vectors[n] = np.vstack([vectors[n], out])
    base = names[0]
    print(
        f"{len(texts)} passages x {args.rounds} rounds, batch {args.batch_size}, chunks of 256, interleaved"
    )
    print(f"{'encoder':16} {'precision':9} {'passages/s':>10} {'ratio':>6} {'cos mean':>9} {'cos min':>8}")
    rows = {}
    for n in names:
        rate = len(texts) * args.rounds / seconds[n]
        cos = (vectors[n] * vectors[base]).sum(axis=1)
        rows[n] = {"precision": encoders[n].precision, "passages_per_s": round(rate, 2)}
        rows[n] |= {"ratio": round(seconds[base] / seconds[n], 3), "cos_min": round(float(cos.min()), 5)}
        print(
            f"{n:16} {encoders[n].precision:9} {rate:10.2f} {seconds[base] / seconds[n]:6.2f}"
            f" {cos.mean():9.5f} {cos.min():8.5f}"
        )
    print(json.dumps({"encoders": rows, "passages": len(texts), "rounds": args.rounds}))


def compare_cli(args: argparse.Namespace, corpus: Path) -> None:
    """Run `quotebot index --full` over corpus once per encoder per round, alternating; print wall times."""
    import subprocess

    names = args.cli.split(",")
    env = dict(os.environ, QUOTEBOT_MODEL=args.model, PYTHONPATH=str(REPO))
    if args.cache_dir is not None:
        env["QUOTEBOT_ENCODER_CACHE"] = str(args.cache_dir)
    for n in names:  # convert once beforehand (not timed): a one-page index
        one = args.workdir / "one"
        copy_subset(corpus, list_pages(corpus)[:1], one)
        cmd = [sys.executable, "-m", "bot", "index", "--full", str(one)]
        subprocess.run(
            cmd, env=env | {"QUOTEBOT_ENCODER": n, "QUOTEBOT_INDEX_DIR": str(one) + "-index"}, check=True
        )
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for round_ in range(args.rounds):
        for n in names if round_ % 2 == 0 else names[::-1]:
            index_dir = args.workdir / f"cli-{n}"
            cmd = [sys.executable, "-m", "bot", "index", "--full", "--json", str(corpus)]
            run_env = env | {"QUOTEBOT_ENCODER": n, "QUOTEBOT_INDEX_DIR": str(index_dir)}
            done, s = timed(subprocess.run, cmd, env=run_env, check=True, capture_output=True, text=True)
            report = json.loads(done.stdout)
            seconds[n].append(s)
            print(f"quotebot index --full, {n}: {s:.1f} s, {report['passages']} passages", flush=True)
    base = names[-1]
    for n in names:
        mean = sum(seconds[n]) / len(seconds[n])
        print(f"{n:16} mean {mean:8.1f} s, {sum(seconds[base]) / sum(seconds[n]):.2f}x {base}")
    print(json.dumps({"cli_seconds": seconds}))


PAGE_PASSAGES = 20


class RandomVectors(HashingEncoder):
    """The test encoder's identity with random unit vectors: embedding costs nothing at any scale."""

    def __init__(self) -> None:
        super().__init__(384)
        self.rng = np.random.default_rng(0)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class SyntheticPages:
    """An in-memory PageSource of synthetic pages: words drawn Zipf-like from 3,000 Han characters."""

    def __init__(self, pages: int, seed: int = 0) -> None:
        self.pages = [f"synthetic/{n:06d}.html" for n in range(pages)]
        self.rng = np.random.default_rng(seed)
        weights = 1 / np.arange(1, 3001)
        self.chars = np.array([chr(0x4E00 + i * 7) for i in range(3000)])
        self.weights = weights / weights.sum()

    @property
    def location(self) -> str:
        return "synthetic"

    def count(self) -> int:
        return len(self.pages)

    def article(self, path: str) -> Article:
        """Return one synthetic page of PAGE_PASSAGES paragraphs."""
        lengths = self.rng.integers(30, 150, PAGE_PASSAGES)
        texts = ["".join(self.rng.choice(self.chars, int(n), p=self.weights)) + "。" for n in lengths]
        paragraphs = tuple(Paragraph(i, t) for i, t in enumerate(texts))
        return Article(path, path, texts[0][:12], "新华社", None, "2026-01-01", (), paragraphs, f"h-{path}")

    def scan(self, known: Mapping[str, str]) -> Iterator[FileResult]:
        return self.scan_paths(self.pages, known)

    def scan_paths(self, paths: Sequence[str], known: Mapping[str, str]) -> Iterator[FileResult]:
        for path in paths:
            if path in known:
                yield FileResult(path, "unchanged", content_hash=known[path])
            else:
                article = self.article(path)
                yield FileResult(path, "ok", article=article, content_hash=article.content_hash)


def add_one_page(
    sizes: list[int], adds: int, workdir: Path, *, open_too: bool, scan: bool = False
) -> dict[int, dict[str, float]]:
    """Time adding one page, adds times, to an index of each size (in passages); return the figures.

    The reindex is told which page is new (reindex(only=...)), as a poll and /add tell it; with scan,
    it scans every page instead, as `quotebot index` does after a page was put in the folder.

    The sizes take turns (round after round), so a busy machine slows them alike; the CPU seconds
    of the process are printed beside the wall seconds (the CPU is shared: wall time includes waiting
    for it, CPU time does not; fsync waits count in neither).
    """
    from bot.indexing import index_store
    from embeddings.local.writer import LocalWriter
    from embeddings.reindex import reindex

    commit_cpu: list[float] = []
    commit = LocalWriter.commit

    def timed_commit(self: LocalWriter, *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return commit(self, *args, **kwargs)
        finally:
            commit_cpu.append(time.process_time() - start)

    LocalWriter.commit = timed_commit  # type: ignore[method-assign]
    encoder: Any = RandomVectors()
    sources = {}
    for size in sizes:
        index_dir = workdir / f"add-page-{size}"
        sources[size] = SyntheticPages(size // PAGE_PASSAGES)
        if not (index_dir / "current").exists():
            _, build_s = timed(reindex, index_store(index_dir), encoder, sources[size], full=True)
            print(f"{size} passages: built in {build_s:.1f} s (once; cached in {index_dir})", flush=True)
        sources[size].rng = np.random.default_rng(time.time_ns())  # new pages, not the built ones again
        reindex(index_store(index_dir), encoder, sources[size])  # pages added by an earlier run leave
    wall: dict[int, list[float]] = {size: [] for size in sizes}
    cpu: dict[int, list[float]] = {size: [] for size in sizes}
    store_cpu: dict[int, list[float]] = {size: [] for size in sizes}
    passages = {}
    for n in range(adds):
        for size in sizes:
            page = f"synthetic/added-{time.time_ns()}-{n}.html"
            sources[size].pages.append(page)
            cpu_start = time.process_time()
            store = index_store(workdir / f"add-page-{size}")
            report, s = timed(reindex, store, encoder, sources[size], only=None if scan else [page])
            cpu[size].append(time.process_time() - cpu_start)
            store_cpu[size].append(commit_cpu[-1])
            wall[size].append(s)
            passages[size] = report.passages
            assert report.added == 1, report
    figures: dict[int, dict[str, float]] = {}
    for size in sizes:
        index_dir = workdir / f"add-page-{size}"
        open_s = timed(index_store(index_dir).open)[1] if open_too else float("nan")
        files = sorted(p.name for p in (index_dir / "current").iterdir())
        figures[size] = {
            "passages": passages[size],
            "median_s": round(float(np.median(wall[size])), 3),
            "max_s": round(max(wall[size]), 3),
            "median_cpu_s": round(float(np.median(cpu[size])), 3),
            "max_cpu_s": round(max(cpu[size]), 3),
            "median_commit_cpu_s": round(float(np.median(store_cpu[size])), 3),
            "open_s": round(open_s, 2),
            "segments": sum(name.endswith(".ids.npy") for name in files),
        }
        print(json.dumps({size: figures[size]}), flush=True)
    base, base_cpu = figures[sizes[0]]["median_s"], figures[sizes[0]]["median_cpu_s"]
    base_commit = figures[sizes[0]]["median_commit_cpu_s"]
    print(
        f"one page added ({PAGE_PASSAGES} passages), {adds} times per size, sizes in turn, model taken out:"
    )
    for row in figures.values():
        print(
            f"  {row['passages']:>8} passages: wall median {row['median_s']:.3f} s"
            f" (slowest {row['max_s']:.3f},"
            f" {row['median_s'] / base:.2f}x the smallest), CPU median {row['median_cpu_s']:.3f} s"
            f" (slowest {row['max_cpu_s']:.3f}, {row['median_cpu_s'] / base_cpu:.2f}x), of which the"
            f" store's commit {row['median_commit_cpu_s']:.3f} s"
            f" ({row['median_commit_cpu_s'] / base_commit:.2f}x);"
            f" {row['segments']} segments; opening the index {row['open_s']:.2f} s"
        )
    return figures


def profile(args: argparse.Namespace, corpus: Path, texts: list[str]) -> None:
    """Print where one encoder's index time goes: tokenising, the model, the rest; and the padding."""
    from embeddings.encoder import token_batches

    encoder = Encoder(args.model, encoder=args.encoder, batch_size=args.batch_size).for_new_index()
    encoder.encode_passages(["预热"] * 8)  # loads (and converts once) the model; not timed
    loaded: Any = encoder._load()
    prefixed = [encoder.prompts["passage"] + t for t in texts]
    lengths, tokenise_s = timed(loaded.token_counts, prefixed)
    _, encode_s = timed(encoder.encode_passages, texts)
    _, rest_s = timed(build_index, corpus, args.workdir / "profile-index", ZeroCostEncoder(), full=True)
    real = sum(lengths)
    in_order = sum(len(b) * max(b) for b in (lengths[i : i + 32] for i in range(0, len(lengths), 32)))
    budgeted = sum(len(b) * lengths[b[0]] for b in token_batches(lengths, encoder.token_budget, 32))
    # encode_passages tokenises twice: to count tokens for the budget, then each batch for the model.
    model_s = encode_s - 2 * tokenise_s
    total = encode_s + rest_s
    print(f"profile of `quotebot index`, encoder {encoder.concrete}: {len(texts)} passages, {real} tokens")
    print(f"  tokenising x2 {2 * tokenise_s:7.2f} s  {2 * tokenise_s / total:6.1%} (count, then batch)")
    print(f"  model         {model_s:7.2f} s  {model_s / total:6.1%}")
    print(f"  the rest      {rest_s:7.2f} s  {rest_s / total:6.1%} (parse, BM25, FAISS, write)")
    print(
        f"  padding: batches of 32 in page order {in_order / real - 1:.1%} extra tokens, sorted token-budget"
        f" batches ({encoder.token_budget}) {budgeted / real - 1:.1%}"
    )
    print(json.dumps({"profile": {"tokenise_s": tokenise_s, "encode_s": encode_s, "rest_s": rest_s}}))


def rescan(workdir: Path, rounds: int, cold: bool) -> dict[str, Any]:
    """Time no-op reindexes of every shared page, reading every page and trusting the page memo."""
    from corpus import page_stats

    corpus, index_dir = workdir / "rescan-corpus", workdir / "rescan-index"
    if not corpus.is_dir():
        for name in ("eval", "eval-news", "eval-web"):
            copy_subset(SHARED / name, list_pages(SHARED / name), corpus / name)
    shutil.rmtree(index_dir, ignore_errors=True)
    encoder = HashingEncoder()
    first = build_index(corpus, index_dir, encoder)
    pages = first.added + first.skipped + len(first.failed)
    megabytes = sum(p.stat().st_size for p in corpus.rglob("*.htm*")) / 1e6
    time.sleep(page_stats.RACY_NS / 1e9)  # the copies are trusted once older than that
    times: dict[str, list[float]] = {"read every page": [], "page memo": []}
    for _ in range(rounds):
        for label in times:
            if label == "read every page":
                (index_dir / PAGE_STATS).unlink(missing_ok=True)
            if cold:
                os.sync()
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            report, seconds = timed(build_index, corpus, index_dir, encoder)
            assert report.added == report.updated == report.removed == 0, report
            times[label].append(seconds)
    medians = {label: float(np.median(t)) for label, t in times.items()}
    for label, t in times.items():
        print(f"no-op reindex, {label}: median {medians[label]:.3f} s ({', '.join(f'{x:.3f}' for x in t)})")
    ratio = medians["read every page"] / medians["page memo"]
    print(f"{pages} pages, {megabytes:.1f} MB, {'cold' if cold else 'warm'} page cache: {ratio:.2f}x")
    return {"pages": pages, "megabytes": round(megabytes, 1), "cold": cold, "seconds": times, "ratio": ratio}


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Return (result, seconds)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the figures (and one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="pages of the corpus to use (default 200)")
    parser.add_argument("--corpus", type=Path, default=SHARED / "eval" / "articles")
    parser.add_argument("--model", default=str(SHARED / "models" / "multilingual-e5-small-zh-en"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/b2/index_speed"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--skip-scale", action="store_true", help="skip the whole-corpus run with the model taken out"
    )
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="QUOTEBOT_ENCODER of the main run")
    parser.add_argument("--encoders", help="comma-separated encoders to compare on the same passages")
    parser.add_argument("--cli", help="comma-separated encoders to run `quotebot index --full` with")
    parser.add_argument("--profile", action="store_true", help="where the index time goes (--encoder)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --encoders / --cli (default 2)")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="converted models (QUOTEBOT_ENCODER_CACHE)"
    )
    parser.add_argument("--add-page", help="comma-separated index sizes (passages) to time adding a page to")
    parser.add_argument("--adds", type=int, default=7, help="one-page reindexes per size (default 7)")
    parser.add_argument("--open", action="store_true", help="--add-page: also time loading each index")
    parser.add_argument("--rescan", action="store_true", help="no-op reindex with and without the page memo")
    parser.add_argument("--cold", action="store_true", help="--rescan: drop the page cache before each run")
    parser.add_argument(
        "--scan",
        action="store_true",
        help="--add-page: scan every page (`quotebot index`), not just the new one",
    )
    args = parser.parse_args()
    print_cpu()
    if args.rescan:
        print(json.dumps({"rescan": rescan(args.workdir, args.rounds, args.cold)}))
        return
    if args.add_page:
        sizes = [int(n) for n in args.add_page.split(",")]
        figures = add_one_page(sizes, args.adds, args.workdir, open_too=args.open, scan=args.scan)
        print(json.dumps({"add_one_page": figures}))
        return
    if not args.skip_scale and not (args.encoders or args.cli or args.profile):
        scale = overhead_at_scale(args.corpus, args.workdir)
        print(
            f"whole corpus, model taken out: {scale['pages']} pages, {scale['passages']} passages: full build"
            f" {scale['full_without_model_s']} s, no-op {scale['noop_reindex_s']} s, one page edited"
            f" {scale['one_page_reindex_without_model_s']} s (of which lexical rebuild"
            f" {scale['lexical_rebuild_s']} s, parsing all pages {scale['parse_all_pages_s']} s)"
        )
        print(json.dumps({"scale": scale}))

    pages = pick_pages(args.corpus, args.pages)
    corpus, index_dir = args.workdir / "corpus", args.workdir / "index"
    copy_subset(args.corpus, pages, corpus)
    shutil.rmtree(index_dir, ignore_errors=True)
    texts = corpus_texts(corpus)
    if args.encoders:
        compare_encoders(args, texts)
        return
    if args.cli:
        compare_cli(args, corpus)
        return
    if args.profile:
        profile(args, corpus, texts)
        return
    encoder = Encoder(args.model, encoder=args.encoder, batch_size=args.batch_size)
    encoder.encode_passages(["预热"] * 8)  # loads (and converts once) the model; not timed

    def raw() -> float:
        _, seconds = timed(encoder.encode_passages, texts)
        return seconds

    raw_before = raw()
    full, full_s = timed(build_index, corpus, index_dir, encoder, full=True)
    raw_after = raw()
    raw_s = (raw_before + raw_after) / 2
    if full.passages != len(texts):
        print(f"note: the index holds {full.passages} passages, raw encoded {len(texts)}", file=sys.stderr)

    noop, noop_s = timed(build_index, corpus, index_dir, encoder)
    edited = edit_one_page(corpus, pages)
    incremental, incr_s = timed(build_index, corpus, index_dir, encoder)
    page_passages = [p for p in load_passages(current_generation(index_dir)) if p.doc == edited]
    _, page_embed_s = timed(encoder.encode_passages, [p.text for p in page_passages])
    _, scan_s = timed(lambda: list(scan_corpus(corpus)))

    n = full.passages
    figures = {
        "pages": len(pages),
        "pages_indexed": full.added,
        "passages": n,
        "raw_encode_s": round(raw_s, 2),
        "raw_encode_runs_s": [round(raw_before, 2), round(raw_after, 2)],
        "raw_passages_per_s": round(len(texts) / raw_s, 1),
        "index_full_s": round(full_s, 2),
        "index_passages_per_s": round(n / full_s, 1),
        "throughput_ratio": round((n / full_s) / (len(texts) / raw_s), 3),
        "noop_reindex_s": round(noop_s, 3),
        "incremental_reindex_s": round(incr_s, 3),
        "incremental_report": {"updated": incremental.updated, "unchanged": incremental.unchanged},
        "one_page_embed_s": round(page_embed_s, 3),
        "one_page_passages": len(page_passages),
        "parse_all_pages_s": round(scan_s, 3),
        "incremental_vs_full": round(incr_s / full_s, 4),
    }
    total = len(list_pages(args.corpus))
    raw_rate, rate = len(texts) / raw_s, n / full_s
    ratio = figures["throughput_ratio"]
    print(f"corpus: {len(pages)} of {total} pages of {args.corpus} (--pages {args.pages})")
    print(f"passages: {n} (raw encode: {len(texts)}), batch size {args.batch_size}, encoder {args.encoder}")
    print(
        f"raw encode:       {raw_s:8.2f} s {raw_rate:7.1f} passages/s"
        f" (runs {raw_before:.2f}, {raw_after:.2f})"
    )
    print(f"quotebot index:   {full_s:8.2f} s {rate:7.1f} passages/s, ratio {ratio:.3f}x")
    print(f"no-op reindex:    {noop_s:8.3f} s ({noop.unchanged} unchanged)")
    print(
        f"one page edited:  {incr_s:8.3f} s ({incremental.updated} updated,"
        f" {incremental.unchanged} unchanged), {incr_s / full_s:.2%} of the full build"
    )
    print(
        f"  that page: {len(page_passages)} passages, raw encode {page_embed_s:.3f} s;"
        f" parsing all pages {scan_s:.3f} s"
    )
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
