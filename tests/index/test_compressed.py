"""Compressed FAISS indexes (int8 scalar and product quantisation): recall against exact search, memory."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from explorec.errors import ConfigError, DataError
from explorec.index import COMPRESSED_KINDS, ExactIndex, FaissIndex, make_index
from explorec.index.synthetic import clustered_vectors, recall_at_k

DIM = 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    items = clustered_vectors(4000, DIM, n_clusters=50, rank=8, spread=0.1, noise=0.03, seed=0)
    queries = clustered_vectors(100, DIM, n_clusters=50, rank=8, spread=0.1, noise=0.03, seed=0, stream=1)
    exact, _ = ExactIndex(items).search(queries, 10)
    return items, queries, exact


@pytest.mark.parametrize(
    ("kind", "options", "min_recall", "min_ratio"),
    [
        ("sq8", {}, 0.95, 3.99),
        ("ivf-sq8", {"nlist": 50, "nprobe": 8}, 0.9, 3.3),
        # HNSW graph links cost 2 * m * 4 bytes per item; IVF-PQ adds ids and codebooks
        ("hnsw-sq8", {"m": 8, "ef_search": 64}, 0.9, 1.5),
        ("ivf-pq", {"nlist": 50, "nprobe": 50, "pq_m": 32}, 0.6, 4.0),
    ],
)
def test_compressed_recall_and_memory(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    kind: str,
    options: dict[str, int],
    min_recall: float,
    min_ratio: float,
) -> None:
    items, queries, exact = data
    index = make_index(items, "faiss", kind=kind, **options)
    found, scores = index.search(queries, 10)
    assert found.shape == (100, 10) and scores.dtype == np.float32
    assert recall_at_k(found, exact) >= min_recall
    assert isinstance(index, FaissIndex)
    ratio = FaissIndex(items, kind="flat").memory_bytes() / index.memory_bytes()
    assert ratio >= min_ratio, ratio


def test_sq8_codes_are_a_quarter_of_the_floats(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    items, _, _ = data
    flat, sq8 = FaissIndex(items, kind="flat"), FaissIndex(items, kind="sq8")
    # the float index is n * dim * 4 bytes (plus a small header); the int8 codes n * dim
    assert abs(flat.memory_bytes() - items.nbytes) < 1024
    assert abs(sq8.memory_bytes() - items.nbytes / 4) < 4096


def test_pq_beats_chance_by_far_and_excludes() -> None:
    # a uniform-random control: recall of a random top-10 over 4000 items is 10/4000
    items = clustered_vectors(2000, DIM, n_clusters=20, rank=8, spread=0.1, noise=0.03, seed=3)
    queries = items[:20] + 0.01
    index = FaissIndex(items, kind="ivf-pq", nlist=20, nprobe=20, pq_m=16)
    found, _ = index.search(queries, 10, exclude=[[q] for q in range(20)])
    assert not any(q in row for q, row in enumerate(found.tolist()))
    exact, _ = ExactIndex(items).search(queries, 10, exclude=[[q] for q in range(20)])
    assert recall_at_k(found, exact) > 0.3


def test_added_items_are_searchable_in_compressed_kinds(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    items, _, _ = data
    for kind in COMPRESSED_KINDS:
        index = FaissIndex(items[:3000], kind=kind, nlist=20, nprobe=20, pq_m=16)
        new = index.add(items[3000:3010])
        assert new.tolist() == list(range(3000, 3010))
        found, _ = index.search(items[3000:3010], 1)
        # an item is its own nearest neighbour; product codes may rank a close neighbour first
        assert (found[:, 0] == new).mean() >= (0.5 if kind == "ivf-pq" else 0.9), kind


def test_bad_settings_are_refused(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    items, _, _ = data
    with pytest.raises(ConfigError, match="pq_m must divide the vector dimension 64, got 12"):
        FaissIndex(items, kind="ivf-pq", pq_m=12)
    with pytest.raises(ConfigError, match=r"kind must be one of .*'ivf-pq'.*got 'pq'"):
        FaissIndex(items, kind="pq")
    with pytest.raises(ConfigError, match="max_train"):
        FaissIndex(items, kind="ivf-sq8", max_train=0)
    # a training subset still gives a working index over every item
    small = FaissIndex(items, kind="ivf-sq8", nlist=20, nprobe=20, max_train=500)
    assert small.n_items == len(items) and small.search(items[:1], 1)[0][0, 0] == 0


def test_clustered_vectors_are_seeded_and_recall_counts_overlap() -> None:
    a = clustered_vectors(10, 16, n_clusters=3, rank=2, seed=1)
    np.testing.assert_array_equal(a, clustered_vectors(10, 16, n_clusters=3, rank=2, seed=1))
    assert not np.array_equal(a, clustered_vectors(10, 16, n_clusters=3, rank=2, seed=1, stream=1))
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert recall_at_k([[0, 1], [2, -1]], [[1, 0], [3, 2]]) == 0.75
    with pytest.raises(DataError, match="must be"):
        recall_at_k([[0, 1]], [[0, 1], [2, 3]])


def test_refine_reranks_with_a_counted_second_copy(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    items, queries, exact = data
    plain = FaissIndex(items, kind="ivf-pq", nlist=50, nprobe=50, pq_m=8)
    refined = FaissIndex(items, kind="ivf-pq", nlist=50, nprobe=50, pq_m=8, refine="sq8", refine_k=8)
    low = recall_at_k(plain.search(queries, 10)[0], exact)
    high = recall_at_k(refined.search(queries, 10)[0], exact)
    assert low < 0.8 and high >= 0.95 and high > low + 0.15, (low, high)
    # the int8 copy is counted: dim bytes per item more than the PQ index alone
    extra = refined.memory_bytes() - refined.memory_bytes(refine=False)
    assert abs(extra - items.shape[0] * DIM) < 4096
    assert plain.memory_bytes() == refined.memory_bytes(refine=False)
    # refine_k=1 re-ranks only the index's own top 10: the same items as without refine
    refined.tune(refine_k=1)
    assert recall_at_k(refined.search(queries, 10)[0], exact) == low
    flat = FaissIndex(items, kind="ivf-pq", nlist=50, nprobe=50, pq_m=8, refine="flat", refine_k=8)
    assert recall_at_k(flat.search(queries, 10)[0], exact) >= high
    assert flat.memory_bytes() - flat.memory_bytes(refine=False) >= items.nbytes


def test_tune_changes_the_search_without_a_rebuild(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    items, queries, exact = data
    index = FaissIndex(items, kind="ivf-sq8", nlist=50, nprobe=1)
    one = recall_at_k(index.search(queries, 10)[0], exact)
    index.tune(nprobe=50)  # every list: what is left to lose is the int8 codes' own
    assert faiss.extract_index_ivf(index.index).nprobe == 50 and index.nprobe == 50
    assert recall_at_k(index.search(queries, 10)[0], exact) > one + 0.03
    with pytest.raises(ConfigError, match="nprobe applies to the IVF kinds, this index is kind='sq8'"):
        FaissIndex(items, kind="sq8").tune(nprobe=4)
    with pytest.raises(ConfigError, match="refine_k applies to an index built with refine"):
        index.tune(refine_k=4)
    with pytest.raises(ConfigError, match=r"refine must be one of \('flat', 'sq8'\) or None, got 'pq'"):
        FaissIndex(items, kind="ivf-pq", refine="pq")
