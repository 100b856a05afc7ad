"""FAISS inner-product index over normalised vectors, keyed by stable int64 passage ids."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.errors import IndexCorrupt

log = logging.getLogger(__name__)

# Exact search stays exact up to FLAT_MAX passages: a one-thread flat scan of 200k x 384 floats
# costs about 14 ms, less than encoding the question (about 20 ms), so approximation buys nothing
# below it. Past it the index becomes IVF-Flat, which (unlike HNSW) supports remove_ids, so an
# incremental reindex can still delete passages, and which trains in seconds rather than minutes.
FLAT_MAX = 200_000
# Fraction of inverted lists scanned per query; bench/query_speed.py measures recall@10 against
# exact search on real embeddings for this setting (>= 0.95 is the target).
NPROBE_FRACTION = 1 / 16
MIN_NPROBE = 16


def _faiss() -> Any:
    """Import faiss lazily (it is heavy and only the query path needs it)."""
    import faiss

    return faiss


def ivf_shape(n: int) -> tuple[int, int]:
    """Return (nlist, nprobe) for an IVF index over about n vectors."""
    nlist = max(16, int(math.sqrt(n)))
    return nlist, min(nlist, max(MIN_NPROBE, int(nlist * NPROBE_FRACTION)))


def _as_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Return vectors as a contiguous float32 (n, dim) array or raise ValueError."""
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {array.shape}")
    return array


def _as_ids(ids: np.ndarray) -> np.ndarray:
    """Return ids as a contiguous int64 array."""
    return np.ascontiguousarray(np.asarray(ids).reshape(-1), dtype=np.int64)


class DenseIndex:
    """Vectors in, (score, id) out: exact (flat) while small, IVF-Flat past FLAT_MAX passages."""

    def __init__(self, index: Any, dim: int, *, flat_max: int = FLAT_MAX, expected_size: int = 0) -> None:
        self._index = index
        self.dim = dim
        self.flat_max = flat_max
        self._expected = expected_size

    @classmethod
    def create(cls, dim: int, expected_size: int = 0, *, flat_max: int = FLAT_MAX) -> DenseIndex:
        """Return an empty index for dim-dimensional vectors (expected_size picks the IVF shape)."""
        faiss = _faiss()
        return cls(
            faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dim, flat_max=flat_max, expected_size=expected_size
        )

    @property
    def kind(self) -> str:
        """Return "flat" or "ivf"."""
        return "ivf" if hasattr(_faiss().try_extract_index_ivf(self._index), "nprobe") else "flat"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """Return every stored id."""
        faiss = _faiss()
        if self.kind == "flat":
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        ivf = faiss.extract_index_ivf(self._index)
        invlists = ivf.invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(ivf.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids (ids must not be present already)."""
        ids = _as_ids(ids)
        vectors = _as_vectors(vectors, self.dim)
        if ids.shape[0] != vectors.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {vectors.shape[0]} vectors")
        if ids.size == 0:
            return
        self._index.add_with_ids(vectors, ids)
        if self.kind == "flat" and len(self) > self.flat_max:
            self._to_ivf()

    def _to_ivf(self) -> None:
        """Replace the flat index by an IVF-Flat index trained on its own vectors."""
        faiss = _faiss()
        n = len(self)
        vectors = self._index.index.reconstruct_n(0, n)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        nlist, nprobe = ivf_shape(max(n, self._expected))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        # 64 points per centroid keeps k-means to seconds on two cores with no measurable recall loss.
        ivf.cp.max_points_per_centroid = 64
        ivf.train(vectors)
        ivf.nprobe = nprobe
        ivf.add_with_ids(vectors, ids)
        self._index = ivf
        log.info("dense index switched to IVF-Flat (nlist %d, nprobe %d) at %d passages", nlist, nprobe, n)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (absent ones are ignored) and return how many were removed."""
        ids = _as_ids(ids)
        if ids.size == 0 or len(self) == 0:
            return 0
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(ids)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each (n, k), best first; id -1 (score -inf) where there is none."""
        queries = _as_vectors(np.atleast_2d(queries), self.dim)
        n = queries.shape[0]
        if k <= 0 or len(self) == 0:
            return np.full((n, max(k, 0)), -np.inf, dtype=np.float32), np.full((n, max(k, 0)), -1, np.int64)
        faiss = _faiss()
        # One query: one thread (faiss splits the database per thread, which is slower for one query).
        faiss.omp_set_num_threads(1 if n == 1 else max(1, os.cpu_count() or 1))
        scores, ids = self._index.search(queries, k)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> None:
        """Write the index to the file path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        _faiss().write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read an index written by save; raises IndexCorrupt when it is unreadable."""
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except Exception as error:
            raise IndexCorrupt(f"cannot read the dense index {path}: {error}") from error
        return cls(index, int(index.d))

    def memory_bytes(self) -> int:
        """Return the serialised size of the index in bytes (a close proxy for its RAM)."""
        return int(_faiss().serialize_index(self._index).size)
