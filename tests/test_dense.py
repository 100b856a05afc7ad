"""The FAISS index, checked against a NumPy brute-force oracle: exact (flat), and HNSW by its recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.errors import IndexCorrupt
from embeddings.local.dense import DenseIndex


def unit(rng: np.random.Generator, n: int, d: int = 32) -> np.ndarray:
    """Return n random unit vectors."""
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, n: int, d: int = 32, clusters: int = 20) -> np.ndarray:
    """Return n unit vectors drawn around a few centres, like real embeddings."""
    centres = unit(rng, clusters, d)
    v = centres[rng.integers(0, clusters, n)] + 0.35 * unit(rng, n, d)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def oracle(
    vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the exact top-k (scores, ids) by brute force."""
    sims = queries @ vectors.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), ids[order]


def recall(found: np.ndarray, want: np.ndarray) -> float:
    """Return mean recall@k of found ids against the oracle's."""
    return float(np.mean([len(set(f) & set(w)) / len(w) for f, w in zip(found, want, strict=True)]))


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = unit(rng, 500)
    ids = rng.choice(2**62, size=500, replace=False).astype(np.int64)
    return vectors, ids, unit(rng, 20)


def test_flat_search_matches_the_oracle(data) -> None:
    vectors, ids, queries = data
    index = DenseIndex.create(32)
    index.add(ids, vectors)
    scores, found = index.search(queries, 10)
    want_scores, want_ids = oracle(vectors, ids, queries, 10)
    assert index.kind == "flat" and len(index) == 500
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_one_query_as_a_vector_works(data) -> None:
    vectors, ids, _ = data
    index = DenseIndex.create(32)
    index.add(ids, vectors)
    _, found = index.search(vectors[3], 1)
    assert found.shape == (1, 1) and found[0, 0] == ids[3]


def test_removed_ids_are_never_returned_and_others_keep_their_ids(data) -> None:
    vectors, ids, queries = data
    index = DenseIndex.create(32)
    index.add(ids, vectors)
    assert index.remove(np.concatenate([ids[:100], [12345]])) == 100
    _, found = index.search(queries, 10)
    _, want = oracle(vectors[100:], ids[100:], queries, 10)
    np.testing.assert_array_equal(found, want)
    assert sorted(index.ids().tolist()) == sorted(ids[100:].tolist())


def test_asking_for_more_than_stored_pads_with_minus_one() -> None:
    rng = np.random.default_rng(1)
    index = DenseIndex.create(32)
    index.add(np.array([5, 9]), unit(rng, 2))
    scores, found = index.search(unit(rng, 1), 4)
    assert found[0, 2:].tolist() == [-1, -1] and np.isneginf(scores[0, 2:]).all()
    _empty_scores, empty_ids = DenseIndex.create(32).search(unit(rng, 2), 3)
    assert (empty_ids == -1).all() and empty_ids.shape == (2, 3)


def test_wrong_shapes_are_refused() -> None:
    index = DenseIndex.create(32)
    with pytest.raises(ValueError, match="shape"):
        index.add(np.array([1]), np.zeros((1, 16), dtype=np.float32))
    with pytest.raises(ValueError, match="ids"):
        index.add(np.array([1, 2]), np.zeros((1, 32), dtype=np.float32))


def test_save_and_load_round_trip(tmp_path: Path, data) -> None:
    vectors, ids, queries = data
    index = DenseIndex.create(32)
    index.add(ids, vectors)
    index.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss")
    assert loaded.kind == "flat" and len(loaded) == 500
    np.testing.assert_array_equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])


def test_a_garbage_file_is_index_corrupt(tmp_path: Path) -> None:
    (tmp_path / "dense.faiss").write_bytes(b"not faiss")
    with pytest.raises(IndexCorrupt, match="dense"):
        DenseIndex.load(tmp_path / "dense.faiss")


def test_past_flat_max_the_index_becomes_hnsw_with_high_recall(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = clustered(rng, 3000)
    ids = np.arange(10, 3010, dtype=np.int64)
    queries = clustered(rng, 50)
    index = DenseIndex.create(32, flat_max=1000)
    index.add(ids[:800], vectors[:800])
    assert index.kind == "flat"
    index.add(ids[800:], vectors[800:])
    assert index.kind == "hnsw" and len(index) == 3000
    _, found = index.search(queries, 10)
    _, want = oracle(vectors, ids, queries, 10)
    assert recall(found, want) >= 0.85  # synthetic data; real embeddings: bench/query_speed.py


def test_hnsw_removals_are_tombstones_that_survive_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = clustered(rng, 2000)
    ids = np.arange(1, 2001, dtype=np.int64)
    queries = clustered(rng, 30)
    index = DenseIndex.create(32, expected_size=2000, flat_max=1000)
    assert index.kind == "hnsw"
    index.add(ids, vectors)
    assert index.remove(np.concatenate([ids[:100], [99_999]])) == 100
    assert index.remove(ids[:100]) == 0 and len(index) == 1900
    _, found = index.search(queries, 10)
    _, want = oracle(vectors[100:], ids[100:], queries, 10)
    assert not set(found.ravel().tolist()) & set(ids[:100].tolist())
    assert recall(found, want) >= 0.85  # synthetic data; real embeddings: bench/query_speed.py
    index.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss")
    assert loaded.kind == "hnsw" and len(loaded) == 1900
    assert sorted(loaded.ids().tolist()) == ids[100:].tolist()
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], found)


def test_a_tombstoned_id_can_come_back_without_its_old_vector() -> None:
    rng = np.random.default_rng(5)
    vectors = clustered(rng, 1200)
    ids = np.arange(1, 1201, dtype=np.int64)
    index = DenseIndex.create(32, expected_size=1200, flat_max=1000)
    index.add(ids, vectors)
    index.remove(ids[:1])
    fresh = unit(rng, 1)
    index.add(ids[:1], fresh)
    assert len(index) == 1200 and index.search(fresh, 1)[1][0, 0] == 1
    assert index.search(vectors[0], 2)[1][0].tolist().count(1) <= 1


def test_many_removals_compact_the_hnsw_index() -> None:
    rng = np.random.default_rng(6)
    vectors = clustered(rng, 1500)
    ids = np.arange(1, 1501, dtype=np.int64)
    index = DenseIndex.create(32, expected_size=1500, flat_max=1000)
    index.add(ids, vectors)
    assert index.remove(ids[:600]) == 600
    assert len(index) == 900 and index._index.ntotal == 900
    _, found = index.search(vectors[600:610], 1)
    assert found[:, 0].tolist() == ids[600:610].tolist()
