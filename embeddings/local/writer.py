"""A new local generation: the base one's passages and vectors, changed, then written and swapped in."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.backend import Ids, Matrix
from embeddings.cache import EmbeddingCache
from embeddings.errors import FULL_FIX, IndexCorrupt
from embeddings.local import generations as gen
from embeddings.local.dense import DenseIndex
from embeddings.local.lexical import LexicalIndex
from embeddings.manifest import Encoding, Manifest, PageRecord, new_manifest
from embeddings.models import Passage
from embeddings.page_diff import page_fingerprints

log = logging.getLogger(__name__)


class LocalWriter:
    """Builds one generation in memory on top of the base generation directory (or on nothing)."""

    def __init__(self, index_dir: Path, base_dir: Path | None, base: Manifest | None) -> None:
        self.index_dir = index_dir
        self._base_dir = base_dir
        self._base = base
        self._base_passages: list[Passage] | None = None
        self._base_rows: dict[int, int] = {}
        self._deleted: set[int] = set()
        self._upserted: dict[int, int] = {}  # passage id -> row in self._new_vectors
        self._new: list[Passage] = []
        self._new_vectors: Matrix = np.zeros((0, 0), dtype=np.float32)

    @property
    def base(self) -> Manifest | None:
        """Return the manifest of the generation this one starts from (None: it starts empty)."""
        return self._base

    def base_passages(self, docs: Collection[str] | None = None) -> Sequence[Passage]:
        """Return the base generation's passages of the pages docs (all for None), in page order."""
        if self._base_passages is None:
            self._base_passages = [] if self._base_dir is None else gen.load_passages(self._base_dir)
            self._base_rows = {p.id: row for row, p in enumerate(self._base_passages)}
        if docs is None:
            return self._base_passages
        wanted = set(docs)
        return [p for p in self._base_passages if p.doc in wanted]

    def base_fingerprints(self) -> dict[str, str]:
        """Return each base page's text fingerprint, from its passages."""
        return page_fingerprints(self.base_passages())

    def base_vectors(self, ids: Sequence[int]) -> Matrix:
        """Return the base generation's vectors of the given passage ids, in the order given."""
        if self._base_dir is None or self._base is None:
            raise KeyError("a fresh generation has no base vectors")
        passages = self.base_passages()
        if len(passages) != self._base.passages:
            raise IndexCorrupt(
                f"{self._base_dir / gen.PASSAGES} has {len(passages)} passages, the manifest says "
                f"{self._base.passages}; {FULL_FIX}"
            )
        vectors = gen.load_vectors(self._base_dir, self._base)
        return np.asarray(vectors[[self._base_rows[i] for i in ids]], dtype=np.float32)

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

    def _contents(self) -> tuple[list[Passage], Matrix, Ids]:
        """Return the new generation's passages in page order, their vectors, and the ids new to it."""
        kept = [p for p in self.base_passages() if p.id not in self._deleted and p.id not in self._upserted]
        fresh = [self._new[row] for row in sorted(set(self._upserted.values()))]
        passages = sorted([*kept, *fresh], key=lambda p: (p.doc, p.ordinal))
        added = np.fromiter((p.id for p in fresh if p.id not in self._base_rows), dtype=np.int64)
        if not kept and [p.id for p in passages] == [p.id for p in self._new]:
            return passages, self._new_vectors, added  # a fresh build: no copy of the vectors
        vectors = np.empty((len(passages), self._dimension()), dtype=np.float32)
        old = [(i, self._base_rows[p.id]) for i, p in enumerate(passages) if p.id not in self._upserted]
        if old and self._base_dir is not None and self._base is not None:
            base = gen.load_vectors(self._base_dir, self._base)
            vectors[[i for i, _ in old]] = base[[row for _, row in old]]
        new = [(i, self._upserted[p.id]) for i, p in enumerate(passages) if p.id in self._upserted]
        if new:
            vectors[[i for i, _ in new]] = self._new_vectors[[row for _, row in new]]
        return passages, vectors, added

    def _dimension(self) -> int:
        """Return the vector dimension of the new generation."""
        if self._new_vectors.ndim == 2 and self._new_vectors.shape[0]:
            return int(self._new_vectors.shape[1])
        return self._base.dimension if self._base is not None else 0

    def _dense(self, passages: Sequence[Passage], vectors: Matrix, added: Ids) -> DenseIndex:
        """Return the dense index: the base one with ids removed and added, else built from the vectors."""
        ids = np.fromiter((p.id for p in passages), dtype=np.int64, count=len(passages))
        updated = self._updated_dense(ids, vectors, added) if self._base_dir is not None else None
        if updated is not None:
            return updated
        dense = DenseIndex.create(int(vectors.shape[1]), expected_size=len(passages))
        dense.add(ids, vectors)
        return dense

    def _updated_dense(self, ids: Ids, vectors: Matrix, added: Ids) -> DenseIndex | None:
        """Return the base dense index with ids removed and added, or None when it must be rebuilt.

        Reusing it skips rebuilding an HNSW graph (minutes on large corpora). Only an unreadable or
        out-of-step file is expected; anything else is a bug and fails the run, the live generation
        serving on, instead of hiding behind a rebuild.
        """
        assert self._base_dir is not None
        try:
            dense = DenseIndex.load(self._base_dir / gen.DENSE)
        except IndexCorrupt as exc:
            log.warning("cannot read the previous dense index (%s); rebuilding it", exc)
            return None
        if dense.dim == vectors.shape[1]:
            old = dense.ids()
            dense.remove(old[~np.isin(old, ids)])
            rows = np.flatnonzero(np.isin(ids, added))
            dense.add(ids[rows], vectors[rows])
            if len(dense) == len(ids):
                return dense
        log.warning("previous dense index out of step with the passages; rebuilding it")
        return None

    def commit(
        self,
        pages: Mapping[str, PageRecord],
        encoding: Encoding,
        source: str,
        calibration: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Write the new generation, make it current (the old one becomes previous); return its manifest."""
        passages, vectors, added = self._contents()
        dense = self._dense(passages, vectors, added)
        lexical = LexicalIndex.build([p.id for p in passages], [p.text for p in passages])
        name = gen.new_generation_name(self.index_dir)
        manifest = new_manifest(pages, len(passages), encoding, source, dense.kind, name, calibration)

        def write_indexes(dense_file: Path, lexical_dir: Path) -> None:
            dense.save(dense_file)
            lexical.save(lexical_dir)

        gen.write_generation(self.index_dir, manifest, passages, vectors, write_indexes)
        gen.swap(self.index_dir, manifest.generation)
        return manifest
