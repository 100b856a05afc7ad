"""Parsing speed over a corpus: pages/s for the parser alone, and scan_corpus with 1 vs 2 workers.

usage: python bench/parse_speed.py [CORPUS_DIR] [--repeat N]
Figures, not pass/fail; all measured side by side in one run on the same pages.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cpu import print_cpu  # noqa: E402
from corpus.decode import decode_page  # noqa: E402
from corpus.load import list_pages, scan_corpus  # noqa: E402
from corpus.page_tree import build_tree  # noqa: E402
from corpus.parse import parse_article  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "eval" / "articles"


def best_of(repeat: int, run: object) -> float:
    """Return the fastest wall time of several runs (the least disturbed by other jobs on the box)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    """Print pages/s for each stage and for one and two workers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print_cpu()
    paths = list_pages(args.corpus)
    blobs = [(args.corpus / path).read_bytes() for path in paths]
    total_mb = sum(map(len, blobs)) / 1e6
    print(f"{args.corpus}: {len(paths)} pages, {total_mb:.1f} MB, best of {args.repeat}")

    stages = {
        "decode only": lambda: [decode_page(blob) for blob in blobs],
        "decode + lxml tree": lambda: [build_tree(decode_page(blob)) for blob in blobs],
        "parse_article (in memory)": lambda: [
            parse_article(blob, path) for blob, path in zip(blobs, paths, strict=True)
        ],
        "scan_corpus workers=1": lambda: list(scan_corpus(args.corpus, workers=1)),
        "scan_corpus workers=2": lambda: list(scan_corpus(args.corpus, workers=2)),
    }
    results = {name: best_of(args.repeat, run) for name, run in stages.items()}
    for name, seconds in results.items():
        print(f"  {name:28} {seconds:6.2f} s  {len(paths) / seconds:8.0f} pages/s")
    one, two = results["scan_corpus workers=1"], results["scan_corpus workers=2"]
    print(f"  workers=2 / workers=1 speed-up: {one / two:.2f}x")
    sizes = [len(blob) for blob in blobs]
    print(f"  page size median {statistics.median(sizes) / 1e3:.1f} kB, max {max(sizes) / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
