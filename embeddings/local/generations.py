"""Generations on disk: the layout, the reindex lock, atomic swaps of `current`, rollback and pruning.

Layout of an index directory::

    .lock                  flock held by the one running reindex (dies with the process)
    current -> gen-<ts>    the generation readers open (replaced atomically)
    previous -> gen-<ts>   the generation a rollback returns to
    gen-<ts>/              manifest.json, passages.jsonl, vectors.npy, dense.faiss, lexical/
    .partial/              vectors of an unfinished reindex (embeddings.cache)

A generation is written into a hidden temporary directory, fsynced, renamed, and only then is
`current` replaced, so a reader never sees a half-built index and a killed reindex leaves the
previous generation serving.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from corpus.durable import fsync_path
from embeddings.backend import Matrix
from embeddings.errors import FULL_FIX, IndexCorrupt, IndexMissing
from embeddings.lock import file_lock
from embeddings.manifest import Manifest, manifest_from_json, manifest_to_json
from embeddings.models import Passage

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


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under root, then root itself."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
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
        return manifest_from_json((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / MANIFEST} ({exc}); {FULL_FIX}") from exc


def read_manifest(index_dir: Path) -> Manifest:
    """Return the live generation's manifest."""
    return load_manifest(current_generation(index_dir))


def load_passages(generation: Path) -> list[Passage]:
    """Read a generation's passages in index order; raises IndexCorrupt."""
    try:
        with (generation / PASSAGES).open(encoding="utf-8") as lines:
            return [Passage(**json.loads(line)) for line in lines if line.strip()]
    except (OSError, ValueError, TypeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / PASSAGES} ({exc}); {FULL_FIX}") from exc


def load_vectors(generation: Path, manifest: Manifest) -> Matrix:
    """Map a generation's vectors (rows in passage order); raises IndexCorrupt."""
    try:
        vectors: Matrix = np.load(generation / VECTORS, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {generation / VECTORS} ({exc}); {FULL_FIX}") from exc
    if vectors.shape != (manifest.passages, manifest.dimension) or vectors.dtype != np.float32:
        raise IndexCorrupt(
            f"{generation / VECTORS} holds {vectors.shape} {vectors.dtype}, the manifest says "
            f"({manifest.passages}, {manifest.dimension}) float32; {FULL_FIX}"
        )
    return vectors


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


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    passages: Sequence[Passage],
    vectors: Matrix,
    write_indexes: Callable[[Path, Path], None],
) -> str:
    """Write a complete generation beside the live one, flush it, rename it in place; return its name.

    write_indexes(dense_file, lexical_dir) writes the search indexes into the new generation.
    """
    temp = index_dir / f"{TEMP_PREFIX}{manifest.generation}-{os.getpid()}"
    temp.mkdir()
    try:
        with (temp / PASSAGES).open("w", encoding="utf-8") as out:
            for p in passages:
                out.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
        with (temp / VECTORS).open("wb") as out:
            np.save(out, np.ascontiguousarray(vectors, dtype=np.float32))
        (temp / LEXICAL).mkdir()
        write_indexes(temp / DENSE, temp / LEXICAL)
        (temp / MANIFEST).write_text(manifest_to_json(manifest), encoding="utf-8")
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
