"""A generation's passages in segments: files written once, shared by hard links, rows deleted by masks.

A commit writes a segment of the new passages (their text, vectors, ids and term frequencies) and,
for segments that lost rows, a new file of deleted rows; every other file of the base generation is
hard-linked, so a commit costs what changed. Segments merge like a binary counter (the newest joins
the one before while that one holds at most MERGE_RATIO times as many live rows), so n rows sit in
O(log n) segments and each row is rewritten O(log n) times over its life; when deleted rows pass
COMPACT_FRACTION of all rows, everything is merged once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from embeddings.backend import Ids, Matrix
from embeddings.errors import FULL_FIX, IndexCorrupt
from embeddings.local import generations as gen
from embeddings.local.lexical import LexicalSegment, merge_segments
from embeddings.manifest import Manifest
from embeddings.models import Passage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MERGE_RATIO = 2
COMPACT_FRACTION = 0.2
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Segment:
    """One segment as a generation sees it: its rows, which are deleted, and its files' sizes."""

    name: str
    rows: int
    dead: int = 0
    deleted: str | None = None  # the file of deleted rows (None: none)
    sizes: Mapping[str, int] = field(default_factory=dict)  # file -> bytes, checked before sharing

    @property
    def live(self) -> int:
        """Return how many rows are not deleted."""
        return self.rows - self.dead


@dataclass(frozen=True)
class SegmentTable:
    """A generation's segments in order, and its dense index: how many rows it lags behind them."""

    segments: tuple[Segment, ...] = ()
    dense_lag: int = 0
    dense_sizes: Mapping[str, int] = field(default_factory=dict)

    @property
    def live(self) -> int:
        """Return the live rows of all segments."""
        return sum(s.live for s in self.segments)


@dataclass(frozen=True)
class Located:
    """Where a base passage lives: segment index and row."""

    segment: int
    row: int


def is_legacy(generation: Path) -> bool:
    """Return whether a generation predates segments (one passages file, one vectors file)."""
    return not (generation / gen.SEGMENTS).exists() and (generation / gen.PASSAGES).exists()


def legacy_contents(generation: Path, manifest: Manifest) -> tuple[list[Passage], Matrix]:
    """Return the passages and vectors (rows alike) of a generation written before segments."""
    path = generation / gen.PASSAGES
    try:
        passages = _parse(path.read_bytes(), path)
        vectors: Matrix = np.load(generation / gen.VECTORS, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read the index in {generation} ({exc}); {FULL_FIX}") from exc
    if vectors.shape != (len(passages), manifest.dimension) or vectors.dtype != np.float32:
        raise IndexCorrupt(f"{generation / gen.VECTORS} holds {vectors.shape} {vectors.dtype}; {FULL_FIX}")
    return passages, vectors


def read_table(generation: Path) -> SegmentTable:
    """Read a generation's segment table; raises IndexCorrupt."""
    try:
        data = json.loads((generation / gen.SEGMENTS).read_text(encoding="utf-8"))
        if data["format"] != FORMAT_VERSION:
            raise ValueError(f"format {data['format']}")
        segments = tuple(Segment(**s) for s in data["segments"])
        return SegmentTable(segments, int(data["dense_lag"]), dict(data["dense_sizes"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / gen.SEGMENTS} ({exc}); {FULL_FIX}") from exc


def write_table(generation: Path, table: SegmentTable) -> None:
    """Write a generation's segment table."""
    data = {"format": FORMAT_VERSION, **asdict(table)}
    (generation / gen.SEGMENTS).write_text(json.dumps(data), encoding="utf-8")


def keep_mask(generation: Path, segment: Segment) -> Mask:
    """Return which rows of a segment are live."""
    keep = np.ones(segment.rows, dtype=bool)
    if segment.deleted:
        try:
            keep[np.load(generation / segment.deleted, allow_pickle=False)] = False
        except (OSError, ValueError, IndexError) as exc:
            raise IndexCorrupt(f"cannot read {generation / segment.deleted} ({exc}); {FULL_FIX}") from exc
    return keep


def segment_ids(generation: Path, segment: Segment) -> Ids:
    """Return a segment's passage ids in row order."""
    path = generation / gen.segment_files(segment.name)["ids"]
    try:
        ids: Ids = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {path} ({exc}); {FULL_FIX}") from exc
    if ids.shape != (segment.rows,):
        raise IndexCorrupt(f"{path} holds {ids.shape[0]} ids, the table says {segment.rows}; {FULL_FIX}")
    return ids


def segment_vectors(generation: Path, segment: Segment, dimension: int) -> Matrix:
    """Map a segment's vectors (rows in row order); raises IndexCorrupt."""
    path = generation / gen.segment_files(segment.name)["vectors"]
    try:
        vectors: Matrix = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {path} ({exc}); {FULL_FIX}") from exc
    if vectors.shape != (segment.rows, dimension) or vectors.dtype != np.float32:
        raise IndexCorrupt(
            f"{path} holds {vectors.shape} {vectors.dtype}, expected ({segment.rows}, {dimension}) float32;"
            f" {FULL_FIX}"
        )
    return vectors


def _parse(lines: bytes, path: Path) -> list[Passage]:
    """Return the passages of JSON lines; raises IndexCorrupt."""
    try:
        return [Passage(**json.loads(line)) for line in lines.splitlines() if line.strip()]
    except (ValueError, TypeError) as exc:
        raise IndexCorrupt(f"cannot read {path} ({exc}); {FULL_FIX}") from exc


def segment_passages(generation: Path, segment: Segment) -> list[Passage]:
    """Return every row of a segment (deleted ones too), in row order."""
    path = generation / gen.segment_files(segment.name)["passages"]
    try:
        passages = _parse(path.read_bytes(), path)
    except OSError as exc:
        raise IndexCorrupt(f"cannot read {path} ({exc}); {FULL_FIX}") from exc
    if len(passages) != segment.rows:
        raise IndexCorrupt(
            f"{path} holds {len(passages)} passages, the table says {segment.rows}; {FULL_FIX}"
        )
    return passages


def page_passages(
    generation: Path, table: SegmentTable, docs: Collection[str]
) -> list[tuple[Passage, Located]]:
    """Return the live passages of the pages docs, reading only their lines."""
    found: list[tuple[Passage, Located]] = []
    for index, segment in enumerate(table.segments if docs else ()):
        files = gen.segment_files(segment.name)
        try:
            pages = json.loads((generation / files["pages"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"cannot read {generation / files['pages']} ({exc}); {FULL_FIX}") from exc
        wanted = [pages[d] for d in docs if d in pages]
        if not wanted:
            continue
        keep = keep_mask(generation, segment)
        with (generation / files["passages"]).open("rb") as lines:
            for first, last, start, end in wanted:
                lines.seek(start)
                passages = _parse(lines.read(end - start), generation / files["passages"])
                if len(passages) != last - first:
                    raise IndexCorrupt(f"{generation / files['passages']} is out of step with its pages")
                found += [(p, Located(index, first + i)) for i, p in enumerate(passages) if keep[first + i]]
    return found


def load_passages(generation: Path) -> list[Passage]:
    """Read a generation's live passages in page order (by page, then ordinal); raises IndexCorrupt."""
    table = read_table(generation)
    passages: list[Passage] = []
    for segment in table.segments:
        keep = keep_mask(generation, segment)
        passages += [p for p, live in zip(segment_passages(generation, segment), keep, strict=True) if live]
    return sorted(passages, key=lambda p: (p.doc, p.ordinal))


def live_vectors(generation: Path, table: SegmentTable, dimension: int, ids: Ids) -> Matrix:
    """Return the vectors of the live passages ids, in the order given; raises IndexCorrupt."""
    out = np.empty((ids.shape[0], dimension), dtype=np.float32)
    found = np.zeros(ids.shape[0], dtype=bool)
    by_id = np.argsort(ids, kind="stable")
    for segment in table.segments:
        stored = segment_ids(generation, segment)
        rows = np.flatnonzero(keep_mask(generation, segment) & np.isin(stored, ids))
        if rows.size == 0:
            continue
        at = by_id[np.searchsorted(ids[by_id], stored[rows])]
        out[at] = segment_vectors(generation, segment, dimension)[rows]
        found[at] = True
    if not found.all():
        raise IndexCorrupt(f"{generation} has no vectors for {int((~found).sum())} passages; {FULL_FIX}")
    return out


def load_vectors(generation: Path, manifest: Manifest) -> Matrix:
    """Return a generation's vectors, rows in load_passages order; raises IndexCorrupt."""
    ids = np.fromiter((p.id for p in load_passages(generation)), dtype=np.int64)
    return live_vectors(generation, read_table(generation), manifest.dimension, ids)


def write_segment(
    directory: Path, name: str, passages: Sequence[Passage], vectors: Matrix, lexical: LexicalSegment
) -> Segment:
    """Write passages (in page order), their vectors and term frequencies as segment name."""
    files = gen.segment_files(name)
    pages: dict[str, list[int]] = {}
    offset = 0
    with (directory / files["passages"]).open("wb") as out:
        for row, p in enumerate(passages):
            line = (json.dumps(asdict(p), ensure_ascii=False) + "\n").encode("utf-8")
            entry = pages.setdefault(p.doc, [row, row, offset, offset])
            out.write(line)
            offset += len(line)
            entry[1], entry[3] = row + 1, offset
    with (directory / files["vectors"]).open("wb") as out:
        np.save(out, np.ascontiguousarray(vectors, dtype=np.float32))
    with (directory / files["ids"]).open("wb") as out:
        np.save(out, np.fromiter((p.id for p in passages), dtype=np.int64, count=len(passages)))
    (directory / files["pages"]).write_text(json.dumps(pages, ensure_ascii=False), encoding="utf-8")
    lexical.save(directory / files["lexical"])
    return Segment(name, len(passages), sizes={f: (directory / f).stat().st_size for f in files.values()})


def link(source: Path, target: Path) -> None:
    """Share a file written once with another generation (a copy where hard links are refused)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def damaged(generation: Path, sizes: Mapping[str, int]) -> list[str]:
    """Return the files whose size is not the recorded one (truncated, replaced, gone)."""
    bad = []
    for name, size in sizes.items():
        try:
            if (generation / name).stat().st_size != size:
                bad.append(name)
        except OSError:
            bad.append(name)
    return bad


def share_segment(base: Path, target: Path, segment: Segment, deleted_rows: Ids, generation: str) -> Segment:
    """Link a base segment into target with more rows deleted; rebuild its term frequencies if damaged."""
    files = gen.segment_files(segment.name)
    bad = damaged(base, segment.sizes)
    if [f for f in bad if f != files["lexical"]]:
        raise IndexCorrupt(f"{base} has damaged files {sorted(bad)}; {FULL_FIX}")
    sizes = dict(segment.sizes)
    for name in segment.sizes:
        if name in bad:
            log.warning("the lexical segment %s is damaged; rebuilding it from its passages", base / name)
            passages = segment_passages(base, segment)
            LexicalSegment.of([p.id for p in passages], [p.text for p in passages]).save(target / name)
            sizes[name] = (target / name).stat().st_size
        else:
            link(base / name, target / name)
    shared = replace(segment, sizes=sizes)
    if deleted_rows.size == 0:
        if segment.deleted:
            link(base / segment.deleted, target / segment.deleted)
        return shared
    keep = keep_mask(base, segment)
    keep[deleted_rows] = False
    name = gen.deleted_file(segment.name, generation)
    with (target / name).open("wb") as out:
        np.save(out, np.flatnonzero(~keep).astype(np.int64))
    return replace(shared, dead=int((~keep).sum()), deleted=name)


def merge_from(segments: Sequence[Segment]) -> int | None:
    """Return where the tail of segments to merge into one starts (None: no merge is due)."""
    if not segments:
        return None
    if sum(s.dead for s in segments) > COMPACT_FRACTION * sum(s.rows for s in segments):
        return 0
    start, tail = len(segments) - 1, segments[-1].live
    while start > 0 and segments[start - 1].live <= MERGE_RATIO * tail:
        start -= 1
        tail += segments[start].live
    return start if len(segments) - start >= 2 else None


def merge(
    parts: Sequence[tuple[Path, Segment]], target: Path, name: str, dimension: int
) -> tuple[Segment, list[Passage]]:
    """Write the live rows of parts (each in its generation directory) as one segment in target."""
    passages: list[Passage] = []
    vectors: list[Matrix] = []
    lexical: list[LexicalSegment] = []
    keeps: list[Mask] = []
    for directory, segment in parts:
        keep = keep_mask(directory, segment)
        rows = segment_passages(directory, segment)
        passages += [p for p, live in zip(rows, keep, strict=True) if live]
        vectors.append(np.asarray(segment_vectors(directory, segment, dimension)[keep]))
        try:
            lexical.append(LexicalSegment.load(directory / gen.segment_files(segment.name)["lexical"]))
        except IndexCorrupt:
            lexical.append(LexicalSegment.of([p.id for p in rows], [p.text for p in rows]))
        keeps.append(keep)
    order = sorted(range(len(passages)), key=lambda i: (passages[i].doc, passages[i].ordinal))
    ordered = [passages[i] for i in order]
    ids = np.fromiter((p.id for p in ordered), dtype=np.int64, count=len(ordered))
    merged = merge_segments(lexical, keeps).reordered(ids)
    matrix = np.concatenate(vectors)[order] if vectors else np.zeros((0, dimension), np.float32)
    return write_segment(target, name, ordered, matrix, merged), ordered


def read_fingerprints(generation: Path) -> dict[str, str]:
    """Return each page's text fingerprint as a generation from before page tables recorded it (in
    fingerprints.json; now the manifest's pages.npys holds them); raises IndexCorrupt."""
    try:
        data: Any = json.loads((generation / gen.FINGERPRINTS).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / gen.FINGERPRINTS} ({exc}); {FULL_FIX}") from exc
