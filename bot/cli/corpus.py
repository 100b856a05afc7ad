"""`quotebot parse FILE...` and `quotebot corpus DIR`: check pages and corpora before indexing them."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from corpus.load import FileResult, list_pages, read_one, scan_corpus

log = logging.getLogger(__name__)

# Below this many pages a progress bar only flickers.
PROGRESS_MIN_PAGES = 200


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the parse and corpus subcommands."""
    parse = subparsers.add_parser(
        "parse",
        help="print parsed pages as JSON (title, outlet, date, paragraphs)",
        description="Parse news pages and print each article as JSON, for checking a new source.",
    )
    parse.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".html/.htm page(s)")
    parse.add_argument("--compact", action="store_true", help="one JSON object per line instead of indented")
    parse.set_defaults(func=run_parse)

    corpus = subparsers.add_parser(
        "corpus",
        help="walk a corpus directory and print counts (pages, paragraphs, captions, skipped, duplicates)",
        description="Parse every .html/.htm page under DIR and report what an index would contain.",
    )
    corpus.add_argument(
        "dir", nargs="?", type=Path, metavar="DIR", help="corpus directory (QUOTEBOT_CORPUS_DIR)"
    )
    corpus.add_argument("--json", action="store_true", help="print the report as JSON for machines")
    corpus.add_argument("--workers", type=int, default=1, help="parser processes (default 1)")
    corpus.add_argument("--max-bytes", type=int, help="skip pages larger than this (QUOTEBOT_MAX_PAGE_BYTES)")
    corpus.set_defaults(func=run_corpus)


def run_parse(args: argparse.Namespace, settings: Settings) -> int:
    """Print each file's article as JSON; report unreadable or unparsable files and go on."""
    failed = 0
    for file in args.files:
        # The same read, size limit and parse as an index run, so the admin sees what indexing would.
        result = read_one(Path(), file.as_posix(), settings.max_page_bytes)
        article = result.article
        if article is None:
            print(f"quotebot: {result.path}: {result.reason}", file=sys.stderr)
            failed += 1
            continue
        try:
            print(json.dumps(asdict(article), ensure_ascii=False, indent=None if args.compact else 2))
        except BrokenPipeError:  # `quotebot parse page.html | head` closed the pipe: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    return 1 if failed else 0


@dataclass
class CorpusReport:
    """Counts over one corpus scan, plus the reason for every page that did not become an article."""

    directory: str
    pages: int = 0
    articles: int = 0
    paragraphs: int = 0
    body: int = 0
    captions: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, result: FileResult) -> None:
        """Count one file's result."""
        self.pages += 1
        self.statuses[result.status] += 1
        if result.article is not None and result.status == "ok":
            self.articles += 1
            self.paragraphs += len(result.article.paragraphs)
            self.body += len(result.article.body)
            self.captions += len(result.article.paragraphs) - len(result.article.body)
            if result.reason:
                self.notes[result.path] = result.reason
        elif result.status == "skipped":
            self.skipped[result.path] = result.reason or ""
        elif result.status == "failed":
            self.failed[result.path] = result.reason or ""
        elif result.status == "duplicate":
            self.duplicates[result.path] = result.duplicate_of or ""

    def as_json(self) -> dict[str, Any]:
        """Return the report as plain JSON values."""
        data = asdict(self)
        data["statuses"] = dict(self.statuses)
        data["pages_per_second"] = round(self.pages / self.seconds, 1) if self.seconds else None
        return data


def run_corpus(args: argparse.Namespace, settings: Settings) -> int:
    """Scan a corpus directory and print its counts; exit 1 when some page failed."""
    root: Path = args.dir or settings.corpus_dir
    max_bytes = args.max_bytes or settings.max_page_bytes
    total = len(list_pages(root))
    report = CorpusReport(directory=root.as_posix())
    started = time.perf_counter()
    results = scan_corpus(root, max_bytes=max_bytes, workers=args.workers)
    for result in _with_progress(results, total):
        report.add(result)
    report.seconds = round(time.perf_counter() - started, 3)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print_report(report, sys.stdout)
    return 1 if report.failed else 0


def _with_progress(results: Iterable[FileResult], total: int) -> Iterable[FileResult]:
    if total < PROGRESS_MIN_PAGES or not sys.stderr.isatty():
        return results
    from tqdm import tqdm

    bar: Iterable[FileResult] = tqdm(results, total=total, unit="page", file=sys.stderr, leave=False)
    return bar


def print_report(report: CorpusReport, out: TextIO) -> None:
    """Print a corpus report for a person."""
    rate = f" ({report.pages / report.seconds:.0f} pages/s)" if report.seconds else ""
    out.write(f"{report.directory}: {report.pages} pages in {report.seconds:.1f} s{rate}\n")
    out.write(f"  articles    {report.articles}\n")
    out.write(f"  paragraphs  {report.paragraphs} ({report.body} body, {report.captions} captions)\n")
    out.write(f"  unchanged   {report.statuses['unchanged']}\n")
    out.write(f"  skipped     {len(report.skipped)}\n")
    out.write(f"  duplicates  {len(report.duplicates)}\n")
    out.write(f"  failed      {len(report.failed)}\n")
    for title, rows in (
        ("skipped", report.skipped),
        ("failed", report.failed),
        ("notes", report.notes),
    ):
        for path, reason in rows.items():
            out.write(f"{title}: {path}: {reason}\n")
    for path, original in report.duplicates.items():
        out.write(f"duplicate: {path}: same article as {original}\n")
