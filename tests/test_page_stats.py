"""The page memo: a rescan reads only the pages whose files changed, and never misses a change."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.indexing import PAGE_STATS, build_index
from corpus import page_stats
from corpus.page_stats import PageStats
from embeddings.hashing import HashingEncoder
from tests.test_store import PAGES, write_corpus

TYPHOON = "news/typhoon.html"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Record the name of every page of the test's corpus (tmp_path/corpus) whose bytes are read."""
    seen: list[str] = []
    original = Path.read_bytes
    corpus = tmp_path / "corpus"

    def read_bytes(self: Path) -> bytes:
        if self.is_relative_to(corpus):
            seen.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return seen


@pytest.fixture
def no_racy_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust file times at once: the pages of a test are written a moment before it scans them."""
    monkeypatch.setattr(page_stats, "RACY_NS", 0)


def page_reads(reads: list[str]) -> list[str]:
    return sorted(reads)


def index(corpus: Path, index_dir: Path) -> tuple[int, int, int]:
    report = build_index(corpus, index_dir, HashingEncoder())
    return report.added, report.updated, report.unchanged


@pytest.mark.usefixtures("no_racy_wait")
def test_a_rescan_reads_only_the_page_that_changed(tmp_path: Path, reads: list[str]) -> None:
    corpus, index_dir = write_corpus(tmp_path / "corpus"), tmp_path / "index"
    pages = len(PAGES) + 1
    assert index(corpus, index_dir) == (pages, 0, 0)
    assert len(page_reads(reads)) == pages
    assert (index_dir / PAGE_STATS).is_file()

    reads.clear()
    assert index(corpus, index_dir) == (0, 0, pages)
    assert page_reads(reads) == []

    time.sleep(0.05)  # past the file system's timestamp granularity
    page = corpus / TYPHOON
    page.write_text(page.read_text(encoding="utf-8").replace("十四级", "十五级"), encoding="utf-8")
    reads.clear()
    assert index(corpus, index_dir) == (0, 1, pages - 1)
    assert page_reads(reads) == ["typhoon.html"]


@pytest.mark.usefixtures("no_racy_wait")
def test_an_edit_that_keeps_size_and_modification_time_is_still_read(tmp_path: Path) -> None:
    corpus, index_dir = write_corpus(tmp_path / "corpus"), tmp_path / "index"
    index(corpus, index_dir)
    page = corpus / TYPHOON
    before = page.stat()
    time.sleep(0.05)
    text = page.read_text(encoding="utf-8")
    edited = text.replace("十四级", "十五级")
    assert len(edited.encode()) == len(text.encode())
    page.write_text(edited, encoding="utf-8")
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `rsync -t` or `touch -r` leave it
    assert page.stat().st_size == before.st_size and page.stat().st_mtime_ns == before.st_mtime_ns
    assert index(corpus, index_dir) == (0, 1, len(PAGES))  # the change time gave it away


def test_a_page_written_in_the_moment_of_the_scan_is_read_again(tmp_path: Path, reads: list[str]) -> None:
    corpus, index_dir = write_corpus(tmp_path / "corpus"), tmp_path / "index"
    index(corpus, index_dir)  # every page is younger than RACY_NS: none is trusted yet
    reads.clear()
    assert index(corpus, index_dir) == (0, 0, len(PAGES) + 1)
    assert len(page_reads(reads)) == len(PAGES) + 1


@pytest.mark.usefixtures("no_racy_wait")
def test_a_memo_of_another_corpus_or_a_broken_one_reads_every_page(tmp_path: Path, reads: list[str]) -> None:
    corpus, index_dir = write_corpus(tmp_path / "corpus"), tmp_path / "index"
    index(corpus, index_dir)
    memo = index_dir / PAGE_STATS
    kept = PageStats.load(memo, str(corpus.resolve()))
    assert set(kept.entries) == {*PAGES, "seed.html"}
    assert PageStats.load(memo, str(tmp_path / "elsewhere")).entries == {}

    memo.write_bytes(memo.read_bytes()[:100])  # cut short, as by a full disk
    reads.clear()
    assert index(corpus, index_dir) == (0, 0, len(PAGES) + 1)
    assert len(page_reads(reads)) == len(PAGES) + 1
    assert set(PageStats.load(memo, str(corpus.resolve())).entries) == {*PAGES, "seed.html"}  # rewritten


@pytest.mark.usefixtures("no_racy_wait")
def test_a_deleted_page_leaves_the_memo_and_named_runs_leave_it_alone(
    tmp_path: Path, reads: list[str]
) -> None:
    corpus, index_dir = write_corpus(tmp_path / "corpus"), tmp_path / "index"
    index(corpus, index_dir)
    (corpus / TYPHOON).unlink()
    index(corpus, index_dir)
    memo = index_dir / PAGE_STATS
    assert TYPHOON not in PageStats.load(memo, str(corpus.resolve())).entries

    # A named run (/add, a poll) costs its pages, not the corpus: the memo is not read or rewritten.
    kept = memo.read_bytes(), memo.stat().st_mtime_ns
    time.sleep(0.05)
    page = corpus / "news/plane.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</p>", "。</p>", 1), encoding="utf-8")
    report = build_index(corpus, index_dir, HashingEncoder(), only=["news/plane.html"])
    assert report.updated == 1
    assert (memo.read_bytes(), memo.stat().st_mtime_ns) == kept
    # Its stale entry fails the page's new file key: the next scan reads that page, and only it.
    reads.clear()
    assert index(corpus, index_dir) == (0, 0, len(PAGES))
    assert page_reads(reads) == ["plane.html"]


@pytest.mark.usefixtures("no_racy_wait")
def test_a_full_reindex_reads_every_page(tmp_path: Path, reads: list[str]) -> None:
    corpus, index_dir = write_corpus(tmp_path / "corpus"), tmp_path / "index"
    index(corpus, index_dir)
    reads.clear()
    report = build_index(corpus, index_dir, HashingEncoder(), full=True)
    assert report.full and len(page_reads(reads)) == len(PAGES) + 1
