"""Generations on disk: the layout, the reindex lock, atomic swaps of `current`, rollback and pruning.

Layout of an index directory::

    .lock                  flock held by the one running reindex (dies with the process)
    current -> gen-<ts>    the generation readers open (replaced atomically)
    previous -> gen-<ts>   the generation a rollback returns to
    gen-<ts>/              manifest.json, pages.npys (its pages: paths, content hashes, text
                           fingerprints, passage ids), segments.json, dense.faiss, dense.ids.npy
      seg-<ts>.passages.jsonl, seg-<ts>.vectors.npy, seg-<ts>.ids.npy, seg-<ts>.pages.json
      seg-<ts>.deleted-<ts>.npy   rows of a segment deleted since it was written
      lexical/seg-<ts>.npz        the segment's term frequencies (embeddings.local.lexical)
    .partial/              vectors of an unfinished reindex (embeddings.cache)

A generation is written into a hidden temporary directory, fsynced, renamed, and only then is
`current` replaced, so a reader never sees a half-built index and a killed reindex leaves the
previous generation serving. Segment files are written once and never changed: a later generation
holds hard links to the ones it keeps (embeddings.local.segments), so pruning a generation deletes
only what no kept generation links.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from corpus.durable import fsync_path
from embeddings.errors import FULL_FIX, IndexCorrupt, IndexMissing
from embeddings.lock import file_lock
from embeddings.manifest import Manifest, manifest_from_json, manifest_to_json
from embeddings.page_table import PageTable

log = logging.getLogger(__name__)

CURRENT = "current"
PREVIOUS = "previous"
LOCK_FILE = ".lock"
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.npy"
DENSE = "dense.faiss"
LEXICAL = "lexical"
PARTIAL = ".partial"
GENERATION_PREFIX = "gen-"
TEMP_PREFIX = ".tmp-"
SEGMENTS = "segments.json"
FINGERPRINTS = "fingerprints.json"
PAGES = "pages.npys"  # the manifest's pages (embeddings.page_table.PageTable.save)
DENSE_IDS = "dense.ids.npy"
DENSE_REMOVED = DENSE + ".removed.npy"  # the tombstones embeddings.local.dense writes beside it
SEGMENT_PREFIX = "seg-"
SEGMENT_IDS = "ids.npy"
SEGMENT_PAGES = "pages.json"


def segment_name(generation: str, n: int = 0) -> str:
    """Return the name of the n-th segment a generation writes (unique across generations)."""
    return f"{SEGMENT_PREFIX}{generation.removeprefix(GENERATION_PREFIX)}" + (f"-{n}" if n else "")


def segment_files(segment: str) -> dict[str, str]:
    """Return a segment's files by part, relative to the generation directory."""
    return {
        "passages": f"{segment}.{PASSAGES}",
        "vectors": f"{segment}.{VECTORS}",
        "ids": f"{segment}.{SEGMENT_IDS}",
        "pages": f"{segment}.{SEGMENT_PAGES}",
        "lexical": f"{LEXICAL}/{segment}.npz",
    }


def deleted_file(segment: str, generation: str) -> str:
    """Return the file of a segment's deleted rows as a generation records them."""
    return f"{segment}.deleted-{generation.removeprefix(GENERATION_PREFIX)}.npy"


def _fsync_tree(root: Path) -> None:
    """Flush every file written (not linked) and every directory under root, then root itself."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if os.stat(Path(dirpath) / name).st_nlink == 1:  # a linked file was flushed when written
                fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def link_target(index_dir: Path, link: str) -> str | None:
    """Return the generation a link names, or None when the link is absent."""
    try:
        return os.readlink(index_dir / link)
    except (FileNotFoundError, OSError):
        return None


def _point(index_dir: Path, link: str, generation: str) -> None:
    """Make a link name a generation atomically (a new symlink renamed over the old one)."""
    temp = index_dir / f".{link}-{os.getpid()}.link"
    temp.unlink(missing_ok=True)
    os.symlink(generation, temp)
    os.replace(temp, index_dir / link)
    fsync_path(index_dir)


def current_generation(index_dir: Path) -> Path:
    """Return the directory of the live generation; raises IndexMissing when there is none."""
    name = link_target(index_dir, CURRENT)
    if name is None or not (index_dir / name).is_dir():
        raise IndexMissing(f"no index in {index_dir}; run `quotebot index` to build one")
    return index_dir / name


def load_manifest(generation: Path) -> Manifest:
    """Read one generation's manifest; raises IndexCorrupt when it is unreadable."""
    try:
        pages = PageTable.load(generation / PAGES) if (generation / PAGES).exists() else None
        return manifest_from_json((generation / MANIFEST).read_text(encoding="utf-8"), pages)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / MANIFEST} ({exc}); {FULL_FIX}") from exc


def read_manifest(index_dir: Path) -> Manifest:
    """Return the live generation's manifest."""
    return load_manifest(current_generation(index_dir))


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Hold the reindex lock of index_dir; raises IndexBusy when another process holds it."""
    with file_lock(index_dir / LOCK_FILE, str(index_dir)):
        yield


def prune(index_dir: Path) -> list[str]:
    """Delete generations other than current and previous, and leftovers of killed runs (lock held)."""
    keep = {link_target(index_dir, CURRENT), link_target(index_dir, PREVIOUS)}
    gone = []
    for entry in index_dir.iterdir():
        name = entry.name
        if name.endswith(".link") and name.startswith("."):
            entry.unlink(missing_ok=True)
        elif (name.startswith(TEMP_PREFIX) or name.startswith(GENERATION_PREFIX)) and name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
            gone.append(name)
    return gone


def rollback(index_dir: Path, check: Callable[[Manifest], None] | None = None) -> Manifest:
    """Make the previous generation live again (the current one becomes previous) and return its manifest.

    check(manifest of the previous generation) may raise to refuse it; nothing changes then.
    """
    with index_lock(index_dir):
        before = link_target(index_dir, PREVIOUS)
        if before is None or not (index_dir / before).is_dir():
            raise IndexMissing(f"no previous index in {index_dir} to roll back to")
        manifest = load_manifest(index_dir / before)
        if check is not None:
            check(manifest)
        now = link_target(index_dir, CURRENT)
        _point(index_dir, CURRENT, before)
        if now is not None and (index_dir / now).is_dir():
            _point(index_dir, PREVIOUS, now)
        log.info("rolled back %s from %s to %s", index_dir, now, before)
        return manifest


def new_generation_name(index_dir: Path) -> str:
    """Return an unused, time-ordered generation name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name, n = f"{GENERATION_PREFIX}{stamp}", 0
    while (index_dir / name).exists():
        n += 1
        name = f"{GENERATION_PREFIX}{stamp}-{n}"
    return name


def write_generation(index_dir: Path, manifest: Manifest, write_files: Callable[[Path], None]) -> str:
    """Write a complete generation beside the live one, flush it, rename it in place; return its name.

    write_files(directory) writes (or links) every file of the generation but its manifest.
    """
    temp = index_dir / f"{TEMP_PREFIX}{manifest.generation}-{os.getpid()}"
    temp.mkdir()
    try:
        (temp / LEXICAL).mkdir()
        write_files(temp)
        with (temp / PAGES).open("wb") as out:
            PageTable.of(manifest.pages).save(out)
        (temp / MANIFEST).write_text(manifest_to_json(manifest, pages_file=PAGES), encoding="utf-8")
        _fsync_tree(temp)
        os.rename(temp, index_dir / manifest.generation)
        fsync_path(index_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return manifest.generation


def swap(index_dir: Path, name: str) -> None:
    """Make generation name current (the current one becomes previous) and prune the rest (lock held)."""
    before = link_target(index_dir, CURRENT)
    if before is not None and (index_dir / before).is_dir():
        _point(index_dir, PREVIOUS, before)
    _point(index_dir, CURRENT, name)
    shutil.rmtree(index_dir / PARTIAL, ignore_errors=True)  # its vectors are in the generation now
    prune(index_dir)
