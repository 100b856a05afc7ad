"""Disk side of the corpus: walk a directory of pages, read, hash, parse, and report every file."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import unicodedata
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from corpus.errors import CorpusError, PageError
from corpus.models import Article
from corpus.page_stats import FileKey, PageStats, file_key
from corpus.parse import read_page
from corpus.text import text_fingerprint

log = logging.getLogger(__name__)

Status = Literal["ok", "unchanged", "skipped", "duplicate", "failed"]
PAGE_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class FileResult:
    """What happened to one page file: parsed, unchanged, skipped, a duplicate, or failed (with why)."""

    path: str
    status: Status
    reason: str | None = None
    article: Article | None = None
    duplicate_of: str | None = None
    content_hash: str | None = None
    file_key: FileKey | None = None  # the file's identity when its bytes were read (corpus.page_stats)


def list_pages(root: Path) -> list[str]:
    """Return the sorted POSIX paths, relative to root, of every .html/.htm entry below it."""
    if not root.is_dir():
        raise CorpusError(f"{root}: not a directory of pages; pass the corpus directory")
    found: list[str] = []
    for directory, subdirs, files in os.walk(root):
        # Hidden directories (.git, .cache) hold no pages.
        subdirs[:] = [name for name in subdirs if not name.startswith(".")]
        # Relative paths by string, once per directory: pathlib per page was half a no-op reindex.
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        # A directory named like a page is listed too, so that it is reported instead of vanishing.
        for name in (*files, *subdirs):
            if name.lower().endswith(PAGE_SUFFIXES) and not name.startswith("."):
                found.append(prefix + name)
    return sorted(found)


# Control, format (bidi overrides, zero-width) and line-separator characters in a name would drive a
# terminal, reorder a report line or hide part of the name.
_UNPRINTABLE_NAME = frozenset({"Cc", "Cf", "Zl", "Zp"})


def name_problem(path: str) -> FileResult | None:
    """Return the failure of a page whose name is not UTF-8 or not printable, else None."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        # Linux keeps the bytes of a name that is not UTF-8 (GBK names from a Windows zip); such a path
        # cannot be printed, stored in the index or shown to users, so the page is reported by its bytes.
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        return FileResult(shown, "failed", "file name is not UTF-8: rename it (convmv -f gbk -t utf-8)")
    if any(unicodedata.category(ch) in _UNPRINTABLE_NAME for ch in path):
        shown = "".join(
            ch.encode("unicode_escape").decode("ascii")
            if unicodedata.category(ch) in _UNPRINTABLE_NAME
            else ch
            for ch in path
        )
        return FileResult(
            shown, "failed", "file name has unprintable characters (controls, bidi marks): rename it"
        )
    return None


def link_problem(root: Path, path: str) -> FileResult | None:
    """Return the failure of a page that is a dangling link or a link out of the corpus, else None."""
    if not os.path.islink(os.path.join(root, path)):
        return None
    full = root / path
    try:
        target = full.resolve(strict=True)
    except (OSError, RuntimeError):  # missing target, or a loop of links
        return FileResult(
            path, "failed", f"dangling symbolic link (to {os.readlink(full)}): fix or remove it"
        )
    if not target.is_relative_to(root.resolve()):
        return FileResult(path, "failed", "symbolic link to a file outside the corpus directory: not read")
    return None


def read_one(
    root: Path, path: str, max_bytes: int, known_hash: str | None = None, same_as: FileKey | None = None
) -> FileResult:
    """Read, hash and parse one page; never raise for a bad page. A page whose file still has the
    identity same_as, under which its bytes hashed to known_hash, is unchanged without being read."""
    problem = name_problem(path) or link_problem(root, path)
    if problem is not None:
        return problem
    full = root / path
    try:
        status = full.stat()
        if stat.S_ISDIR(status.st_mode):
            return FileResult(path, "failed", "unreadable: is a directory, not a file")
        if not stat.S_ISREG(status.st_mode):  # a FIFO or device would block or never end
            return FileResult(path, "failed", "unreadable: not a regular file")
        size = status.st_size
        if size > max_bytes:
            return FileResult(path, "skipped", f"too large: {size:,} bytes > limit {max_bytes:,}")
        key = file_key(status)  # taken before the read: a write after it changes the key next time
        if same_as is not None and key == same_as:
            return FileResult(path, "unchanged", content_hash=known_hash, file_key=key)
        data = full.read_bytes()
    except OSError as exc:
        return FileResult(path, "failed", f"unreadable: {exc.strerror or exc}")
    if len(data) > max_bytes:  # grew between stat and read
        return FileResult(path, "skipped", f"too large: {len(data):,} bytes > limit {max_bytes:,}")
    content_hash = hashlib.sha256(data).hexdigest()
    if known_hash == content_hash:
        return FileResult(path, "unchanged", content_hash=content_hash, file_key=key)
    try:
        article, notes = read_page(data, path)
    except PageError as exc:
        return FileResult(path, "skipped" if exc.skip else "failed", exc.reason, content_hash=content_hash)
    except CorpusError as exc:
        return FileResult(path, "failed", str(exc), content_hash=content_hash)
    except Exception as exc:  # a parser bug on one page must not stop the batch
        log.exception("unexpected error parsing %s", path)
        return FileResult(
            path, "failed", f"parser error: {type(exc).__name__}: {exc}", content_hash=content_hash
        )
    reason = "; ".join(notes) or None
    return FileResult(path, "ok", reason, article, content_hash=content_hash, file_key=key)


Task = tuple[Path, str, int, str | None, FileKey | None]


def _read_task(task: Task) -> FileResult:
    return read_one(*task)


def article_fingerprint(article: Article) -> str:
    """Return a hash of an article's title and text, equal for the same article saved twice."""
    return text_fingerprint(article.title, (paragraph.text for paragraph in article.body))


def scan_corpus(
    root: Path,
    *,
    max_bytes: int = 5_000_000,
    known: Mapping[str, str] | None = None,
    workers: int = 1,
    stats: PageStats | None = None,
) -> Iterator[FileResult]:
    """Yield one FileResult per page under root, in sorted path order; never raise for one bad page.
    With stats, a page whose file is as it was when its bytes hashed to its known hash is not read."""
    yield from mark_duplicates(
        _results(_tasks(root, list_pages(root), max_bytes, known or {}, stats), workers)
    )


def _tasks(
    root: Path, paths: list[str], max_bytes: int, known: Mapping[str, str], stats: PageStats | None
) -> list[Task]:
    return [
        (root, p, max_bytes, known.get(p), stats.same_as(p, known.get(p)) if stats else None) for p in paths
    ]


def _results(tasks: list[Task], workers: int) -> Iterator[FileResult]:
    if workers <= 1 or len(tasks) < 2:
        yield from map(_read_task, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_read_task, tasks, chunksize=max(1, min(64, len(tasks) // (workers * 4))))


def mark_duplicates(results: Iterator[FileResult]) -> Iterator[FileResult]:
    """Turn the second and later copies of a page (same bytes or same title and text) into duplicates."""
    first_by_key: dict[str, str] = {}
    for result in results:
        keys = _duplicate_keys(result)
        original = next((first_by_key[key] for key in keys if key in first_by_key), None)
        if original is not None and result.status in ("ok", "unchanged"):
            yield replace(
                result, status="duplicate", reason=f"duplicate of {original}", duplicate_of=original
            )
            continue
        for key in keys:
            first_by_key.setdefault(key, result.path)
        yield result


def _duplicate_keys(result: FileResult) -> list[str]:
    if result.status not in ("ok", "unchanged") or result.content_hash is None:
        return []
    keys = [f"bytes:{result.content_hash}"]
    if result.article is not None:
        # Not the canonical URL: some sites point every page's canonical link at the home page.
        keys.append(f"text:{article_fingerprint(result.article)}")
    return keys


@dataclass(frozen=True)
class CorpusPages:
    """The pages under a corpus directory, as a reindex reads them (embeddings.reindex.PageSource).

    With stats_file, a memo of each page's file identity (corpus.page_stats) spares reading the pages
    that did not change since the last scan.
    """

    root: Path
    max_bytes: int = 5_000_000
    workers: int = 1
    stats_file: Path | None = None

    @property
    def location(self) -> str:
        """Return the corpus directory's absolute path."""
        return str(self.root.resolve())

    def count(self) -> int:
        """Return how many pages the directory holds; raises CorpusError when it holds none."""
        pages = list_pages(self.root)
        if not pages:
            raise CorpusError(f"no .html or .htm pages under {self.root}; nothing to index")
        return len(pages)

    def scan(self, known: Mapping[str, str]) -> Iterator[FileResult]:
        """Yield every page's FileResult; pages whose content hash known lists come back unchanged."""
        stats = PageStats.load(self.stats_file, self.location) if self.stats_file is not None else None
        results = scan_corpus(
            self.root, max_bytes=self.max_bytes, known=known, workers=self.workers, stats=stats
        )
        return results if stats is None else _kept(results, stats)

    def scan_paths(self, paths: Collection[str], known: Mapping[str, str]) -> Iterator[FileResult]:
        """Yield the FileResults of the named pages that exist, as scan would list and read them.

        A name that scan would not list (outside the directory, hidden, not .html/.htm) yields nothing.
        The page memo is neither read nor written: named pages were just saved, so it would spare no
        read, and loading and rewriting it costs the whole corpus (3.4 s at a million pages) where
        adding a page must cost the page. A memo entry of a page saved since fails its file key.
        """
        named = [p for p in sorted(set(paths)) if _listed(p) and os.path.lexists(self.root / p)]
        yield from mark_duplicates(
            _results(_tasks(self.root, named, self.max_bytes, known, None), self.workers)
        )


def _kept(results: Iterator[FileResult], stats: PageStats) -> Iterator[FileResult]:
    """Yield the results of a scan of every page; once all are read, keep what they saw in the memo."""
    seen = []
    for result in results:
        seen.append((result.path, result.file_key, result.content_hash))
        yield result
    stats.update(seen)
    stats.save()


def _listed(path: str) -> bool:
    """Tell whether list_pages could list this relative POSIX path."""
    parts = path.split("/")
    return (
        not path.startswith("/")
        and all(part not in ("", ".", "..") and not part.startswith(".") for part in parts)
        and parts[-1].lower().endswith(PAGE_SUFFIXES)
    )
