"""Exact and FAISS retrieval: agreement with brute force, recall of HNSW, exclusions, k > n."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from explorec.errors import ConfigError, DataError
from explorec.index import ExactIndex, FaissIndex, make_index, top_k


def _random(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries.astype(np.float64) @ vectors.T.astype(np.float64)
    items = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return items, np.take_along_axis(scores, items, axis=1)


def test_exact_equals_brute_force() -> None:
    vectors, queries = _random(500, 16, 0), _random(40, 16, 1)
    items, scores = ExactIndex(vectors).search(queries, 10)
    want_items, want_scores = _brute_force(vectors, queries, 10)
    assert items.dtype == np.int64 and scores.dtype == np.float32
    assert items.shape == scores.shape == (40, 10)
    np.testing.assert_array_equal(items, want_items)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)


def test_exact_cosine_ignores_norms() -> None:
    vectors = np.array([[10.0, 0.0], [1.0, 1.0], [0.0, 0.1]], dtype=np.float32)
    items, scores = ExactIndex(vectors, metric="cosine").search(np.array([[0.0, 5.0]]), 3)
    assert items.tolist() == [[2, 1, 0]]
    np.testing.assert_allclose(scores, [[1.0, np.sqrt(0.5), 0.0]], atol=1e-6)
    ip_items, _ = ExactIndex(vectors, metric="ip").search(np.array([[0.0, 5.0]]), 3)
    assert ip_items.tolist() == [[1, 2, 0]]


def test_ties_break_by_lower_item() -> None:
    scores = np.array([[1.0, 2.0, 2.0, 2.0, 0.0]], dtype=np.float32)
    items, best = top_k(scores, 2)
    assert items.tolist() == [[1, 2]]
    assert best.tolist() == [[2.0, 2.0]]


def test_faiss_flat_equals_exact() -> None:
    vectors, queries = _random(800, 24, 2), _random(30, 24, 3)
    for metric in ("ip", "cosine"):
        exact_items, exact_scores = ExactIndex(vectors, metric=metric).search(queries, 15)
        items, scores = FaissIndex(vectors, metric=metric, kind="flat").search(queries, 15)
        np.testing.assert_array_equal(items, exact_items)
        np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-5)


def test_hnsw_recall_at_10() -> None:
    vectors, queries = _random(5000, 32, 4), _random(200, 32, 5)
    exact_items, _ = ExactIndex(vectors).search(queries, 10)
    items, _ = FaissIndex(vectors, kind="hnsw").search(queries, 10)
    recall = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(items, exact_items, strict=True)])
    assert recall >= 0.9, recall


def test_ivf_recall_with_all_lists_probed() -> None:
    vectors, queries = _random(2000, 16, 6), _random(50, 16, 7)
    exact_items, _ = ExactIndex(vectors).search(queries, 10)
    index = FaissIndex(vectors, kind="ivf", nlist=20, nprobe=20)
    items, _ = index.search(queries, 10)
    np.testing.assert_array_equal(items, exact_items)


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_exclusion_as_lists_and_csr(backend: str) -> None:
    vectors, queries = _random(100, 8, 8), _random(3, 8, 9)
    index = make_index(vectors, backend=backend)
    full, _ = index.search(queries, 10)
    drop = [full[0, :3], np.array([], dtype=np.int64), full[2, [0, 5]]]
    items, scores = index.search(queries, 5, exclude=drop)
    for row, excluded in enumerate(drop):
        assert not np.isin(items[row], excluded).any()
        want = [i for i in full[row] if i not in excluded][:5]
        assert items[row].tolist() == want
    assert np.all(np.diff(scores, axis=1) <= 0)
    indptr = np.cumsum([0] + [len(d) for d in drop])
    csr = sp.csr_matrix((np.ones(indptr[-1]), np.concatenate(drop), indptr), shape=(3, 100))
    csr_items, _ = index.search(queries, 5, exclude=csr)
    np.testing.assert_array_equal(csr_items, items)


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_exclusion_emptying_slots_gives_minus_one(backend: str) -> None:
    index = make_index(np.eye(4, dtype=np.float32), backend=backend)
    items, scores = index.search(np.ones((1, 4), dtype=np.float32), 3, exclude=[[0, 1]])
    assert items.tolist() == [[2, 3, -1]]
    assert scores[0, :2].tolist() == [1.0, 1.0] and np.isneginf(scores[0, 2])


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_k_larger_than_n_returns_n_with_warning(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    index = make_index(_random(7, 4, 10), backend=backend)
    with caplog.at_level(logging.WARNING, logger="explorec.index"):
        items, scores = index.search(_random(2, 4, 11), 50)
    assert items.shape == scores.shape == (2, 7)
    assert sorted(items[0].tolist()) == list(range(7))
    assert "k=50 exceeds the 7 indexed items" in caplog.text


@pytest.mark.parametrize(("backend", "options"), [("exact", {}), ("faiss", {"kind": "hnsw"}), ("faiss", {})])
def test_added_item_is_searchable_at_once(backend: str, options: dict[str, str]) -> None:
    vectors = _random(300, 8, 12)
    index = make_index(vectors, backend=backend, **options)
    new = vectors.mean(axis=0, keepdims=True) * 0 + 100.0
    assert index.add(new).tolist() == [300]
    assert index.n_items == 301
    items, _ = index.search(np.ones((1, 8), dtype=np.float32), 1)
    assert items.tolist() == [[300]]


@pytest.mark.parametrize(
    ("backend", "options"),
    [("exact", {}), ("faiss", {"kind": "hnsw"}), ("faiss", {}), ("faiss", {"kind": "ivf", "nlist": 4})],
)
def test_updated_vector_replaces_the_old_one(backend: str, options: dict[str, object]) -> None:
    # regression: HNSW kept an updated item's old vector, so the item was still found by its old text
    vectors = _random(300, 8, 13)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = make_index(vectors, backend=backend, **options)
    if backend == "faiss" and options.get("kind") == "ivf":
        index.index.nprobe = 4  # every list: exact, so the answer is known
    old, new = vectors[17].copy(), -vectors[17]
    index.update([17], new[None, :])
    items, scores = index.search(new[None, :], 3)
    assert items[0, 0] == 17 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    items, _ = index.search(old[None, :], 5)
    assert 17 not in items[0].tolist()  # its old vector (score 1 here) is gone, its new one scores -1
    assert index.n_items == 300
    assert index.add(_random(1, 8, 14)).tolist() == [300]  # new items still get the next index
    with pytest.raises(DataError, match="update: item indices must lie in"):
        index.update([301], new[None, :])


def test_bad_input_names_the_parameter() -> None:
    vectors = _random(10, 4, 13)
    with pytest.raises(ConfigError, match="metric must be one of"):
        ExactIndex(vectors, metric="l2")
    with pytest.raises(ConfigError, match="backend must be one of"):
        make_index(vectors, backend="annoy")
    with pytest.raises(ConfigError, match="kind must be one of"):
        FaissIndex(vectors, kind="pq")
    with pytest.raises(DataError, match="dimension 3"):
        ExactIndex(vectors).search(np.zeros((1, 3)), 2)
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        ExactIndex(vectors).search(np.zeros((1, 4)), 0)
    with pytest.raises(DataError, match=r"exclude\[0\]"):
        ExactIndex(vectors).search(np.zeros((1, 4)), 2, exclude=[[10]])
    with pytest.raises(DataError, match="row 1"):
        ExactIndex(np.array([[0.0], [np.nan]]))


def test_index_top_k_is_the_library_top_k_with_its_tie_rule() -> None:
    from explorec.ranking import rank_top_k

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(20, 50)).astype(np.float32)  # many ties, also at the k-th place
    scores[0, :] = -np.inf
    scores[1, 5:] = -np.inf
    items, best = top_k(scores, 7)
    np.testing.assert_array_equal(items, rank_top_k(scores, 7))
    for row in range(2, 20):  # by hand: score descending, then the lower item
        expected = sorted(range(50), key=lambda i: (-scores[row, i], i))[:7]
        assert items[row].tolist() == expected
    assert (items[0] == -1).all() and np.isneginf(best[0]).all()
    assert items[1, 5:].tolist() == [-1, -1] and items[1, :5].tolist() == sorted(
        range(5), key=lambda i: (-scores[1, i], i)
    )
