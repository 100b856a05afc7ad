"""FAISS inner-product index over normalised vectors, keyed by stable int64 passage ids."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from embeddings.backend import Ids, Matrix
from embeddings.errors import IndexCorrupt

log = logging.getLogger(__name__)

# Exact search stays exact up to FLAT_MAX passages: a one-thread flat scan of 200k x 384 floats
# costs about 14 ms, less than encoding the question (about 20 ms), so approximation buys nothing
# below it. Past it the index becomes HNSW. IVF was measured first and rejected: E5 questions and
# passages sit in different regions (query:/passage: prompts), and on the real eval embeddings IVF
# reached only 0.83 recall@10 scanning 19% of its lists, while HNSW (M 32, efSearch 128) reached
# 0.99 (bench/query_speed.py). HNSW cannot remove vectors, so removals are tombstones filtered with
# an IDSelector at search time, compacted by a rebuild when they pass a fifth of the index.
FLAT_MAX = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
COMPACT_FRACTION = 0.2


def _faiss() -> Any:
    """Import faiss lazily (it is heavy and only the query path needs it)."""
    import faiss

    return faiss


def _as_vectors(vectors: npt.ArrayLike, dim: int) -> Matrix:
    """Return vectors as a contiguous float32 (n, dim) array or raise ValueError."""
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {array.shape}")
    return array


def _as_ids(ids: npt.ArrayLike) -> Ids:
    """Return ids as a contiguous int64 array."""
    return np.ascontiguousarray(np.asarray(ids).reshape(-1), dtype=np.int64)


def _tombstones_path(path: Path) -> Path:
    """Return the file beside an index that lists its removed ids."""
    return path.with_name(path.name + ".removed.npy")


class DenseIndex:
    """Vectors in, (score, id) out: exact (flat) while small, HNSW past FLAT_MAX passages."""

    def __init__(
        self,
        index: Any,
        dim: int,
        *,
        flat_max: int = FLAT_MAX,
        removed: Ids | None = None,
    ) -> None:
        self._index = index
        self.dim = dim
        self.flat_max = flat_max
        self._removed: set[int] = set() if removed is None else set(removed.tolist())

    @classmethod
    def create(cls, dim: int, expected_size: int = 0, *, flat_max: int = FLAT_MAX) -> DenseIndex:
        """Return an empty index for dim-dimensional vectors (HNSW from the start past flat_max)."""
        index = cls(_faiss().IndexIDMap2(_faiss().IndexFlatIP(dim)), dim, flat_max=flat_max)
        if expected_size > flat_max:
            index._index = index._empty_hnsw()
        return index

    def _empty_hnsw(self) -> Any:
        """Return an empty id-mapped HNSW index."""
        faiss = _faiss()
        hnsw = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(hnsw)

    @property
    def kind(self) -> str:
        """Return "flat" or "hnsw"."""
        inner = _faiss().downcast_index(self._index.index)
        return "hnsw" if hasattr(inner, "hnsw") else "flat"

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._removed)

    def _all_ids(self) -> Ids:
        """Return every stored id, tombstoned ones included, in storage order."""
        return np.asarray(_faiss().vector_to_array(self._index.id_map), dtype=np.int64)

    def ids(self) -> Ids:
        """Return every live id."""
        stored = self._all_ids()
        if not self._removed:
            return stored
        return stored[~np.isin(stored, np.fromiter(self._removed, dtype=np.int64))]

    def vectors(self, ids: npt.ArrayLike) -> tuple[Ids, Matrix]:
        """Return (live ids among ids, in the order given, and their stored vectors)."""
        ids = _as_ids(ids)
        live = ids[np.isin(ids, self.ids())]
        rows = [self._index.reconstruct(int(i)) for i in live.tolist()]
        return live, np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add vectors under ids (ids must not be live already)."""
        ids = _as_ids(ids)
        vectors = _as_vectors(vectors, self.dim)
        if ids.shape[0] != vectors.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {vectors.shape[0]} vectors")
        if ids.size == 0:
            return
        if self._removed and not self._removed.isdisjoint(ids.tolist()):
            # A tombstoned id coming back would also revive its old vector: drop the old ones first.
            self._rebuild(self.kind)
        self._index.add_with_ids(vectors, ids)
        if self.kind == "flat" and len(self) > self.flat_max:
            self._rebuild("hnsw")

    def _rebuild(self, kind: str) -> None:
        """Rebuild the index as kind from its live vectors, dropping tombstones."""
        stored = self._all_ids()
        keep = np.flatnonzero(~np.isin(stored, np.fromiter(self._removed, dtype=np.int64)))
        vectors = self._index.index.reconstruct_n(0, int(self._index.ntotal))[keep] if keep.size else None
        faiss = _faiss()
        self._index = self._empty_hnsw() if kind == "hnsw" else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self._removed = set()
        if vectors is not None:
            self._index.add_with_ids(vectors, stored[keep])
        log.info("dense index rebuilt as %s with %d vectors", kind, keep.size)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove ids (absent ones are ignored) and return how many were removed."""
        ids = _as_ids(ids)
        if ids.size == 0 or len(self) == 0:
            return 0
        if self.kind == "flat":
            return int(self._index.remove_ids(_faiss().IDSelectorBatch(ids)))
        stored = self._all_ids()
        doomed = set(ids[np.isin(ids, stored)].tolist()) - self._removed
        self._removed |= doomed
        if len(self._removed) > COMPACT_FRACTION * self._index.ntotal:
            self._rebuild("hnsw")
        return len(doomed)

    def search(self, queries: npt.ArrayLike, k: int) -> tuple[npt.NDArray[np.float32], Ids]:
        """Return (scores, ids), each (n, k), best first; id -1 (score -inf) where there is none."""
        queries = _as_vectors(np.atleast_2d(queries), self.dim)
        n = queries.shape[0]
        if k <= 0 or len(self) == 0:
            return np.full((n, max(k, 0)), -np.inf, dtype=np.float32), np.full((n, max(k, 0)), -1, np.int64)
        faiss = _faiss()
        # One query: one thread (faiss splits the database per thread, which is slower for one query).
        faiss.omp_set_num_threads(1 if n == 1 else max(1, os.cpu_count() or 1))
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(HNSW_EF_SEARCH, k)
            if self._removed:
                removed = np.fromiter(self._removed, dtype=np.int64)
                params.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(removed))
        scores, ids = self._index.search(queries, k, params=params)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> None:
        """Write the index to the file path (and its tombstones beside it, when there are any)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        _faiss().write_index(self._index, str(path))
        tombstones = _tombstones_path(path)
        if self._removed:
            np.save(tombstones, np.fromiter(self._removed, dtype=np.int64))
        elif tombstones.exists():
            tombstones.unlink()

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read an index written by save; raises IndexCorrupt when it is unreadable."""
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
            tombstones = _tombstones_path(path)
            removed = np.load(tombstones, allow_pickle=False) if tombstones.exists() else None
        except Exception as error:
            raise IndexCorrupt(f"cannot read the dense index {path}: {error}") from error
        if not hasattr(index, "id_map"):
            raise IndexCorrupt(f"the dense index {path} has no id map; rebuild it with --full")
        return cls(index, int(index.d), removed=removed)

    def memory_bytes(self) -> int:
        """Return the serialised size of the index in bytes (a close proxy for its RAM)."""
        return int(_faiss().serialize_index(self._index).size)
