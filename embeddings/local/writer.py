"""A new local generation: the base one's segments shared, the changed passages written as a new one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.backend import Ids, Matrix
from embeddings.cache import EmbeddingCache
from embeddings.errors import IndexCorrupt
from embeddings.local import generations as gen
from embeddings.local import segments as seg
from embeddings.local.dense import COMPACT_FRACTION, FLAT_MAX, DenseIndex
from embeddings.local.lexical import LexicalSegment
from embeddings.manifest import Encoding, Manifest, new_manifest
from embeddings.models import Passage
from embeddings.page_diff import page_fingerprints
from embeddings.page_table import PageRecord, PageTable

log = logging.getLogger(__name__)

# The dense index of a generation may lag behind its segments by this many rows (added or deleted),
# which a reader applies when it loads it; past that a commit writes it anew. Adding a few thousand
# vectors costs a flat index nothing and an HNSW graph a second or two on load.
DENSE_LAG_FRACTION = 0.05
DENSE_LAG_MAX = 5000


def catch_up(dense: DenseIndex, ids: Ids, vectors_of: Callable[[Ids], Matrix]) -> None:
    """Make dense hold exactly ids: remove the others, add the missing ones with vectors_of(them)."""
    stored = dense.ids()
    gone = stored[~np.isin(stored, ids)]
    if gone.size:
        dense.remove(gone)
    missing = ids[~np.isin(ids, stored)]
    if missing.size:
        dense.add(missing, vectors_of(missing))


class LocalWriter:
    """Builds one generation on top of the base generation directory (or on nothing)."""

    def __init__(self, index_dir: Path, base_dir: Path | None, base: Manifest | None) -> None:
        self.index_dir = index_dir
        self._base_dir = base_dir
        self._base = base
        self._table = seg.SegmentTable()
        self._pages: dict[str, list[Passage]] = {}  # base pages read so far
        self._located: dict[int, seg.Located] = {}  # where the passages of those pages are
        self._deleted: set[int] = set()
        self._upserted: dict[int, int] = {}  # passage id -> row in self._new_vectors
        self._new: list[Passage] = []
        self._new_vectors: Matrix = np.zeros((0, 0), dtype=np.float32)
        self._legacy: list[Passage] | None = None
        self._prints: dict[str, str] | None = None  # the base fingerprints, once read
        if base_dir is not None and base is not None and seg.is_legacy(base_dir):
            # A generation from before segments: its passages become the new one's first segment
            # (vectors and dense graph reused, nothing embedded again).
            log.info("converting %s to segments", base_dir)
            self._legacy, vectors = seg.legacy_contents(base_dir, base)
            self.upsert(self._legacy, np.asarray(vectors, dtype=np.float32))
        elif base_dir is not None:
            self._table = seg.read_table(base_dir)

    @property
    def base(self) -> Manifest | None:
        """Return the manifest of the generation this one starts from (None: it starts empty)."""
        return self._base

    def base_passages(self, docs: Collection[str] | None = None) -> Sequence[Passage]:
        """Return the base generation's passages of the pages docs (all for None), in page order."""
        if self._base_dir is None:
            return []
        if docs is None:
            return self._legacy if self._legacy is not None else seg.load_passages(self._base_dir)
        unread = {d for d in docs if d not in self._pages}
        for d in unread:
            self._pages[d] = []
        if self._legacy is not None:
            found = [p for p in self._legacy if p.doc in unread]
        elif unread := {d for d in unread if self._base is None or d in self._base.pages}:
            # A page the base does not list has no rows: no segment's page list needs reading for it.
            located = seg.page_passages(self._base_dir, self._table, unread)
            self._located.update((p.id, at) for p, at in located)
            found = [p for p, _ in located]
        else:
            found = []
        for p in found:
            self._pages[p.doc].append(p)
        return sorted((p for d in set(docs) for p in self._pages[d]), key=lambda p: (p.doc, p.ordinal))

    def base_fingerprints(self) -> dict[str, str]:
        """Return each base page's text fingerprint."""
        if self._prints is None:
            if self._legacy is not None:
                self._prints = page_fingerprints(self._legacy)
            elif self._base is None or self._base_dir is None:
                self._prints = {}
            else:  # the page table's, or fingerprints.json for a generation from before it held them
                stored = PageTable.of(self._base.pages).fingerprints()
                self._prints = stored if stored is not None else seg.read_fingerprints(self._base_dir)
        return dict(self._prints)

    def base_vectors(self, ids: Sequence[int]) -> Matrix:
        """Return the base generation's vectors of the given passage ids, in the order given."""
        if self._base_dir is None or self._base is None:
            raise KeyError("a fresh generation has no base vectors")
        if self._legacy is not None:
            return self._new_vectors[[self._upserted[i] for i in ids]]
        unique, where = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
        vectors = seg.live_vectors(self._base_dir, self._table, self._base.dimension, unique)
        return vectors[where.reshape(-1)]

    def scratch(self, encoding: Encoding) -> EmbeddingCache:
        """Return the interrupted-run vectors of this encoding (another encoding's are discarded)."""
        return EmbeddingCache(
            self.index_dir / gen.PARTIAL,
            encoding.model,
            encoding.dimension,
            encoding.prompts,
            encoding.family,
        )

    def delete(self, ids: Sequence[int]) -> None:
        """Remove passages from the new generation."""
        self._deleted.update(ids)

    def upsert(self, passages: Sequence[Passage], vectors: Matrix) -> None:
        """Add passages (or replace those with the same id) with their vectors, rows in passage order."""
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages for {len(vectors)} vectors")
        start = len(self._new)
        self._new.extend(passages)
        self._new_vectors = vectors if start == 0 else np.concatenate([self._new_vectors, vectors])
        self._upserted.update((p.id, start + row) for row, p in enumerate(passages))
        self._deleted.difference_update(self._upserted)

    def _fresh(self) -> tuple[list[Passage], Matrix]:
        """Return the upserted passages in page order and their vectors."""
        live = {row for pid, row in self._upserted.items() if pid not in self._deleted}
        rows = sorted(live, key=lambda r: (self._new[r].doc, self._new[r].ordinal))
        vectors = self._new_vectors[rows] if rows else np.zeros((0, self._dimension()), np.float32)
        return [self._new[r] for r in rows], np.asarray(vectors, dtype=np.float32)

    def _dimension(self) -> int:
        """Return the vector dimension of the new generation."""
        if self._new_vectors.ndim == 2 and self._new_vectors.shape[0]:
            return int(self._new_vectors.shape[1])
        return self._base.dimension if self._base is not None else 0

    def _deletions(self) -> tuple[list[Ids], Ids]:
        """Return per base segment the live rows this generation deletes (replaced passages too), and
        the base ids that stay live."""
        doomed_ids = self._deleted | self._upserted.keys()
        # A page the base does not list has no passage there (ids hash the page's path): only the
        # pages read may lose rows, and where they are is known, unless ids were deleted unread.
        unread = (
            doomed_ids - self._located.keys() - {p.id for p in self._new if p.doc not in self._base_pages()}
        )
        doomed = np.fromiter(doomed_ids, dtype=np.int64)
        at: dict[int, list[int]] = {}
        for i in doomed_ids & self._located.keys():
            at.setdefault(self._located[i].segment, []).append(self._located[i].row)
        rows, kept = [], []
        for index, segment in enumerate(self._table.segments):
            assert self._base_dir is not None
            stored = seg.segment_ids(self._base_dir, segment)
            live = seg.keep_mask(self._base_dir, segment)
            if unread:
                hit = _members(stored, doomed)
            else:
                hit = np.zeros(segment.rows, dtype=bool)
                hit[at.get(index, [])] = True
            rows.append(np.flatnonzero(hit & live))
            kept.append(stored[live & ~hit])
        return rows, np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)

    def _base_pages(self) -> Collection[str]:
        """Return the paths of the base's pages."""
        return self._base.pages if self._base is not None else ()

    def _vectors_of(self, fresh: Sequence[Passage], vectors: Matrix) -> Callable[[Ids], Matrix]:
        """Return a function giving the new generation's vectors of some of its ids."""
        row = {p.id: i for i, p in enumerate(fresh)}

        def vectors_of(ids: Ids) -> Matrix:
            out = np.empty((ids.shape[0], self._dimension()), dtype=np.float32)
            new = np.fromiter((int(i) in row for i in ids.tolist()), dtype=bool, count=ids.shape[0])
            out[new] = vectors[[row[int(i)] for i in ids[new].tolist()]]
            if not new.all():
                out[~new] = self.base_vectors(ids[~new].tolist())
            return out

        return vectors_of

    def _fingerprints(self, fresh: Sequence[Passage]) -> dict[str, str]:
        """Return the text fingerprints of every page: the base's, recomputed for the pages this one
        changes (pages gone may be left in: the page table takes those of its pages)."""
        touched = {p.doc for p in fresh} | {d for d, ps in self._pages.items() if ps}
        doomed = self._deleted | self._upserted.keys()
        base = self.base_passages(touched)
        known = {p.id for ps in self._pages.values() for p in ps}
        if not self._deleted <= known | self._upserted.keys():  # deletions of pages never read
            base, prints = self.base_passages(), {}
        else:
            prints = self.base_fingerprints()
        prints |= page_fingerprints([p for p in base if p.id not in doomed] + list(fresh))
        return prints

    def _dense(self, table: seg.SegmentTable, ids: Ids, vectors_of: Callable[[Ids], Matrix]) -> DenseIndex:
        """Return the dense index of ids: the base one caught up, else built from every vector."""
        dense = None
        if self._base_dir is not None and not seg.damaged(self._base_dir, table.dense_sizes):
            try:
                dense = DenseIndex.load(self._base_dir / gen.DENSE)
            except IndexCorrupt as exc:
                log.warning("cannot read the previous dense index (%s); rebuilding it", exc)
        if dense is not None and dense.dim == self._dimension():
            catch_up(dense, ids, vectors_of)  # a bug here fails the run: the live generation serves on
            if len(dense) == len(ids):
                return dense
            log.warning("previous dense index out of step with the passages; rebuilding it")
        dense = DenseIndex.create(self._dimension(), expected_size=len(ids))
        dense.add(ids, vectors_of(ids))
        return dense

    def commit(
        self,
        pages: Mapping[str, PageRecord],
        encoding: Encoding,
        source: str,
        calibration: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Write the new generation, make it current (the old one becomes previous); return its manifest."""
        name = gen.new_generation_name(self.index_dir)
        fresh, vectors = self._fresh()
        deletions, kept = self._deletions()
        live = kept.shape[0] + len(fresh)
        lag = self._table.dense_lag + sum(d.size for d in deletions) + len(fresh)
        kind = self._base.dense_kind if self._base is not None else "flat"
        base_dir = self._base_dir
        dense: DenseIndex | None = None
        if (
            base_dir is None
            or seg.damaged(base_dir, self._table.dense_sizes)
            or lag > min(DENSE_LAG_FRACTION * live, DENSE_LAG_MAX)
            or (kind == "flat" and live > FLAT_MAX)
            # HNSW removals are tombstones compacted past a fifth of the graph: never on a reader's load.
            or (kind == "hnsw" and _tombstones(self._table) + lag > COMPACT_FRACTION / 2 * live)
        ):
            ids = np.concatenate([kept, np.fromiter((p.id for p in fresh), dtype=np.int64)])
            dense = self._dense(self._table, ids, self._vectors_of(fresh, vectors))
            kind, lag = dense.kind, 0

        def write_files(temp: Path) -> None:
            table = self._write_segments(temp, name, fresh, vectors, deletions)
            if dense is not None:
                dense.save(temp / gen.DENSE)
                with (temp / gen.DENSE_IDS).open("wb") as out:
                    np.save(out, dense.ids())
                sizes = _sizes(temp, [gen.DENSE, gen.DENSE_REMOVED, gen.DENSE_IDS])
            else:
                assert base_dir is not None
                for file in self._table.dense_sizes:
                    seg.link(base_dir / file, temp / file)
                sizes = dict(self._table.dense_sizes)
            seg.write_table(temp, seg.SegmentTable(table.segments, lag, sizes))

        table = PageTable.of(pages).with_prints(self._fingerprints(fresh))
        manifest = new_manifest(table, live, encoding, source, kind, name, calibration)
        gen.write_generation(self.index_dir, manifest, write_files)
        gen.swap(self.index_dir, manifest.generation)
        return manifest

    def _write_segments(
        self, temp: Path, name: str, fresh: Sequence[Passage], vectors: Matrix, deletions: Sequence[Ids]
    ) -> seg.SegmentTable:
        """Share the base segments into temp, add the fresh passages as a segment, merge when due."""
        parts: list[tuple[Path, seg.Segment]] = []
        for segment, doomed in zip(self._table.segments, deletions, strict=True):
            assert self._base_dir is not None
            if segment.live - doomed.size > 0:
                parts.append((temp, seg.share_segment(self._base_dir, temp, segment, doomed, name)))
        if fresh:
            lexical = LexicalSegment.of([p.id for p in fresh], [p.text for p in fresh])
            parts.append((temp, seg.write_segment(temp, gen.segment_name(name), fresh, vectors, lexical)))
        start = seg.merge_from([s for _, s in parts])
        if start is not None:
            merged, _ = seg.merge(parts[start:], temp, gen.segment_name(name, 1), self._dimension())
            for directory, segment in parts[start:]:
                for file in [*segment.sizes, *([segment.deleted] if segment.deleted else [])]:
                    (directory / file).unlink()
            parts = [*parts[:start], (temp, merged)]
        return seg.SegmentTable(tuple(s for _, s in parts))


def _members(ids: Ids, doomed: Ids) -> seg.Mask:
    """Return which of ids are in doomed: a binary search per id, as a page's few ids are the usual doomed
    (np.isin sorts both arrays: 70 ms for 20 ids among 200k)."""
    if not doomed.size:
        return np.zeros(ids.shape[0], dtype=bool)
    doomed = np.sort(doomed)
    at = np.searchsorted(doomed, ids).clip(max=doomed.size - 1)
    return np.asarray(doomed[at] == ids)


def _tombstones(table: seg.SegmentTable) -> int:
    """Return about how many HNSW tombstones the base dense index holds (from its file's size)."""
    return max(0, (table.dense_sizes.get(gen.DENSE_REMOVED, 0) - 128) // 8)  # int64 rows after the header


def _sizes(directory: Path, files: Sequence[str]) -> dict[str, int]:
    """Return the sizes of the files of directory that exist."""
    return {f: (directory / f).stat().st_size for f in files if (directory / f).exists()}
