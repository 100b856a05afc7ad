"""Admin uploads: which files an uploaded page or zip adds, and streaming them into the corpus."""

from __future__ import annotations

import filecmp
import io
import os
import secrets
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from corpus.durable import fsync_path
from corpus.load import PAGE_SUFFIXES

ZIP_EXPANSION = 10  # a zip may unpack to at most this many times max_upload_bytes
ZIP_MAX_ENTRIES = 2000  # more entries than this and the zip is refused whole
ZIP_SUFFIX = ".zip"
_UTF8_NAME_FLAG = 0x800  # general purpose bit 11: the entry name is UTF-8
_CHUNK = 1 << 16


@dataclass(frozen=True)
class PlannedFile:
    """One page an upload writes: its corpus-relative POSIX path and where its bytes come from."""

    path: str
    member: int | None = None  # index of the zip entry; None when the upload is the page itself


@dataclass(frozen=True)
class UploadPlan:
    """What an upload would write, what it refuses (name, reason code), and the upload's bytes."""

    files: tuple[PlannedFile, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    source: bytes = b""  # the uploaded file (at most max_upload_bytes); zip entries are read on saving
    max_page_bytes: int = 0
    max_total_bytes: int = 0


class _TooLarge(Exception):
    """An entry inflated past its page limit or the upload's total while it was written."""


def safe_relpath(name: str) -> str | None:
    """Return a safe relative POSIX path for an uploaded name, or None for traversal tricks."""
    if not name or "\\" in name or ":" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    return "/".join(parts)


def is_page(name: str) -> bool:
    """Tell whether a file name is an HTML page by its suffix."""
    return name.lower().endswith(PAGE_SUFFIXES)


def entry_name(entry: zipfile.ZipInfo) -> str:
    """Return an entry's name, re-read as GBK when the zip has no UTF-8 flag and the name is GBK."""
    if entry.flag_bits & _UTF8_NAME_FLAG or entry.filename.isascii():
        return entry.filename
    # Windows in a Chinese locale writes names in GBK without the flag; zipfile reads them as cp437.
    try:
        return entry.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return entry.filename


def plan_upload(name: str, data: bytes, *, max_page_bytes: int, max_total_bytes: int) -> UploadPlan:
    """Decide which files an uploaded page or zip adds, refusing unsafe or oversized entries."""
    if is_page(name):
        rel = safe_relpath(PurePosixPath(name).name)
        if rel is None:
            return UploadPlan(refused=((name, "path"),))
        if len(data) > max_page_bytes:
            return UploadPlan(refused=((name, "size"),))
        return UploadPlan((PlannedFile(rel),), (), data, max_page_bytes, max_total_bytes)
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return UploadPlan(refused=((name, "zip"),))
    if len(entries) > ZIP_MAX_ENTRIES:
        return UploadPlan(refused=((name, "entries"),))
    files, refused = _plan_entries(entries, max_page_bytes, max_total_bytes)
    return UploadPlan(tuple(files), tuple(refused), data, max_page_bytes, max_total_bytes)


def _plan_entries(
    entries: list[zipfile.ZipInfo], max_page_bytes: int, max_total_bytes: int
) -> tuple[list[PlannedFile], list[tuple[str, str]]]:
    files: list[PlannedFile] = []
    refused: list[tuple[str, str]] = []
    total = 0  # by the sizes the zip declares; saving checks the real ones as it writes
    for index, entry in enumerate(entries):
        if entry.is_dir():
            continue
        shown = entry_name(entry)
        rel = safe_relpath(shown)
        if rel is None:
            refused.append((shown, "path"))
        elif stat.S_ISLNK(entry.external_attr >> 16):
            refused.append((shown, "link"))
        elif not is_page(rel):  # a nested .zip is not unpacked: it is refused by its name
            refused.append((shown, "kind"))
        elif entry.file_size > max_page_bytes or total + entry.file_size > max_total_bytes:
            refused.append((shown, "size"))
        else:
            total += entry.file_size
            files.append(PlannedFile(rel, index))
    return files, refused


def save_upload(corpus_dir: Path, plan: UploadPlan) -> list[tuple[str, str]]:
    """Stream planned files into corpus_dir, each atomically; return (path, status) for each."""
    root = corpus_dir.resolve()
    outcome: list[tuple[str, str]] = []
    budget = [plan.max_total_bytes]
    archive = None if all(f.member is None for f in plan.files) else zipfile.ZipFile(io.BytesIO(plan.source))
    for planned in plan.files:
        target = (root / planned.path).resolve()
        if not target.is_relative_to(root) or target == root or (target.exists() and not target.is_file()):
            outcome.append((planned.path, "path"))  # a symlinked directory inside the corpus points outside
            continue
        with _opened(plan, planned, archive) as stream:
            outcome.append((planned.path, _write(target, stream, plan.max_page_bytes, budget)))
    return outcome


@contextmanager
def _opened(plan: UploadPlan, planned: PlannedFile, archive: zipfile.ZipFile | None) -> Iterator[IO[bytes]]:
    if planned.member is None or archive is None:
        yield io.BytesIO(plan.source)
        return
    with archive.open(archive.infolist()[planned.member]) as stream:
        yield stream


def _write(target: Path, stream: IO[bytes], max_bytes: int, budget: list[int]) -> str:
    """Copy stream to target via a temporary file; return saved, replaced, unchanged, size, zip or write."""
    tmp = target.parent / f".upload-{secrets.token_hex(8)}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        written = _copy(stream, tmp, max_bytes, budget[0])
        if target.exists() and filecmp.cmp(tmp, target, shallow=False):
            tmp.unlink()
            return "unchanged"
        status = "replaced" if target.exists() else "saved"
        os.replace(tmp, target)  # readers see the old page or the new one, never half of either
        fsync_path(target.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, _TooLarge):
            return "size"
        if isinstance(exc, (zipfile.BadZipFile, EOFError, NotImplementedError)):
            return "zip"  # a damaged entry, a CRC mismatch (a size that lied) or an unknown method
        if isinstance(exc, OSError):
            return "write"
        raise
    budget[0] -= written
    return status


def _copy(stream: IO[bytes], tmp: Path, max_bytes: int, budget: int) -> int:
    # 0o666 through the umask: the same permissions as any file the service writes (0644 usually).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes or written > budget:
                raise _TooLarge
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return written


def accepts(name: str) -> bool:
    """Tell whether an admin may upload a file of this name: a page or a zip of pages."""
    return is_page(name) or name.lower().endswith(ZIP_SUFFIX)
