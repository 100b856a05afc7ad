"""Cost of one look of the watched folder (bot.watch.snapshot) against the indexer's listing, side by side.

usage: python bench/watch_scan.py [--pages 10000,50000] [--rounds 5]

Writes N one-byte pages into 100 subdirectories of a temporary directory, then times, interleaved over
R rounds, `snapshot` (what QUOTEBOT_WATCH does every QUOTEBOT_WATCH_INTERVAL seconds) and
`corpus.load.list_pages` plus a stat of each page (what a snapshot built on the indexer's listing
would cost). Prints the median milliseconds and the share of one core at the default interval.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.watch import snapshot
from corpus.load import list_pages


def listed(root: Path) -> dict[str, tuple[int, int]]:
    """Return the indexer's listing with a stat of each page."""
    return {rel: (st.st_size, st.st_mtime_ns) for rel in list_pages(root) for st in [os.stat(root / rel)]}


def main() -> None:
    """Print the cost of a look at folders of each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="10000,50000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    interval = float(Settings.model_fields["watch_interval"].default)
    for n in (int(x) for x in args.pages.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for i in range(n):
                page = root / f"d{i % 100}" / f"p{i}.html"
                page.parent.mkdir(exist_ok=True)
                page.write_bytes(b"x")
            assert snapshot(root) == listed(root)
            times: dict[str, list[float]] = {"snapshot": [], "list_pages+stat": []}
            for _ in range(args.rounds):
                for name, look in (("snapshot", snapshot), ("list_pages+stat", listed)):
                    started = time.perf_counter()
                    look(root)
                    times[name].append(time.perf_counter() - started)
            for name, values in times.items():
                ms = statistics.median(values) * 1000
                share = ms / 10 / interval
                print(f"{n:>7} pages  {name:<16} {ms:8.1f} ms  {share:5.1f}% of a core every {interval:g}s")


if __name__ == "__main__":
    main()
