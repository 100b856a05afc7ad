"""The FAISS index, checked against a NumPy brute-force oracle, flat and IVF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.dense import DenseIndex, ivf_shape
from embeddings.errors import IndexCorrupt


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


def test_past_flat_max_the_index_becomes_ivf_with_high_recall(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = clustered(rng, 3000)
    ids = np.arange(10, 3010, dtype=np.int64)
    queries = clustered(rng, 50)
    index = DenseIndex.create(32, expected_size=3000, flat_max=1000)
    index.add(ids[:800], vectors[:800])
    assert index.kind == "flat"
    index.add(ids[800:], vectors[800:])
    assert index.kind == "ivf" and len(index) == 3000
    _, found = index.search(queries, 10)
    _, want = oracle(vectors, ids, queries, 10)
    recall = np.mean([len(set(f) & set(w)) / 10 for f, w in zip(found, want, strict=True)])
    assert recall >= 0.9
    assert index.remove(ids[:500]) == 500
    assert not set(index.search(queries, 10)[1].ravel()) & set(ids[:500].tolist())
    assert sorted(index.ids().tolist()) == ids[500:].tolist()
    index.save(tmp_path / "ivf.faiss")
    assert DenseIndex.load(tmp_path / "ivf.faiss").kind == "ivf"


def test_ivf_shape_grows_with_the_corpus() -> None:
    assert ivf_shape(1_000_000) == (1000, 62)
    nlist, nprobe = ivf_shape(250_000)
    assert nlist == 500 and 16 <= nprobe <= nlist
