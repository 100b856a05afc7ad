"""Admin uploads: which files an uploaded page or zip adds (pure), and writing them into the corpus."""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from corpus.load import PAGE_SUFFIXES

ZIP_EXPANSION = 10  # a zip may unpack to at most this many times max_upload_bytes
ZIP_SUFFIX = ".zip"


@dataclass(frozen=True)
class UploadPlan:
    """What an upload would write: (relative POSIX path, bytes), and (name, reason code) refused."""

    files: tuple[tuple[str, bytes], ...] = ()
    refused: tuple[tuple[str, str], ...] = ()


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


def plan_upload(name: str, data: bytes, *, max_page_bytes: int, max_total_bytes: int) -> UploadPlan:
    """Decide which files an uploaded page or zip adds, refusing unsafe or oversized entries."""
    if is_page(name):
        rel = safe_relpath(PurePosixPath(name).name)
        if rel is None:
            return UploadPlan(refused=((name, "path"),))
        if len(data) > max_page_bytes:
            return UploadPlan(refused=((name, "size"),))
        return UploadPlan(files=((rel, data),))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return UploadPlan(refused=((name, "zip"),))
    files: list[tuple[str, bytes]] = []
    refused: list[tuple[str, str]] = []
    total = 0
    for entry in entries:
        if entry.is_dir():
            continue
        rel = safe_relpath(entry.filename)
        if rel is None:
            refused.append((entry.filename, "path"))
        elif stat.S_ISLNK(entry.external_attr >> 16):
            refused.append((entry.filename, "link"))
        elif not is_page(rel):
            refused.append((entry.filename, "kind"))
        elif entry.file_size > max_page_bytes or total + entry.file_size > max_total_bytes:
            refused.append((entry.filename, "size"))
        else:
            try:
                content = archive.read(entry)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                refused.append((entry.filename, "zip"))
                continue
            total += len(content)
            files.append((rel, content))
    return UploadPlan(files=tuple(files), refused=tuple(refused))


def save_upload(corpus_dir: Path, plan: UploadPlan) -> list[tuple[str, str]]:
    """Write planned files atomically under corpus_dir; return (path, status) for each."""
    root = corpus_dir.resolve()
    outcome: list[tuple[str, str]] = []
    for rel, content in plan.files:
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or target == root:
            outcome.append((rel, "path"))  # a symlinked directory inside the corpus points outside
            continue
        status = "saved"
        if target.exists():
            if not target.is_file():
                outcome.append((rel, "path"))
                continue
            status = "unchanged" if target.read_bytes() == content else "replaced"
        if status != "unchanged":
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(tmp, target)
        outcome.append((rel, status))
    return outcome


def accepts(name: str) -> bool:
    """Tell whether an admin may upload a file of this name: a page or a zip of pages."""
    return is_page(name) or name.lower().endswith(ZIP_SUFFIX)
