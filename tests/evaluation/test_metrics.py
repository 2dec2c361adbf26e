"""Every metric against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorec.errors import ConfigError
from explorec.evaluation import metrics as M

L3 = 1.0 / math.log2(3)  # discount of rank 2 = 0.63093
# rank discounts: rank 1 -> 1, rank 2 -> 1/log2(3), rank 3 -> 1/log2(4) = 0.5, rank 4 -> 1/log2(5)

# four users, lists of length 4
HITS = np.array(
    [
        [1, 0, 1, 0],  # u0: hits at ranks 1 and 3, 3 relevant items
        [0, 0, 0, 0],  # u1: no hit, 2 relevant items
        [0, 1, 0, 0],  # u2: hit at rank 2, 1 relevant item (fewer relevant than k)
        [1, 1, 1, 1],  # u3: all hits, 5 relevant items (more relevant than k)
    ],
    dtype=bool,
)
N_REL = np.array([3, 2, 1, 5])


def test_recall() -> None:
    # @4: u0 2/3, u1 0, u2 1/1, u3 4/5 ; @2: u0 1/3, u1 0, u2 1, u3 2/5
    np.testing.assert_allclose(M.recall(HITS, N_REL, 4), [2 / 3, 0, 1, 0.8])
    np.testing.assert_allclose(M.recall(HITS, N_REL, 2), [1 / 3, 0, 1, 0.4])


def test_precision_and_hit_rate() -> None:
    # precision@4: 2/4, 0, 1/4, 4/4 ; precision@2: 1/2, 0, 1/2, 2/2
    np.testing.assert_allclose(M.precision(HITS, 4), [0.5, 0, 0.25, 1])
    np.testing.assert_allclose(M.precision(HITS, 2), [0.5, 0, 0.5, 1])
    # hit@1: only u0 and u3 have a hit at rank 1
    np.testing.assert_allclose(M.hit_rate(HITS, 1), [1, 0, 0, 1])
    np.testing.assert_allclose(M.hit_rate(HITS, 4), [1, 0, 1, 1])


def test_ndcg() -> None:
    # u0 @4: DCG = 1 + 0.5 = 1.5; IDCG over min(3, 4) = 3 ranks = 1 + L3 + 0.5
    # u0 @2: DCG = 1; IDCG over min(3, 2) = 2 ranks = 1 + L3
    # u2: DCG = L3; IDCG over min(1, k) = 1 rank = 1   -> L3 at both cut-offs
    # u3: all hits -> 1
    np.testing.assert_allclose(M.ndcg(HITS, N_REL, 4), [1.5 / (1.5 + L3), 0, L3, 1])
    np.testing.assert_allclose(M.ndcg(HITS, N_REL, 2), [1 / (1 + L3), 0, L3, 1])
    assert M.ndcg(HITS, N_REL, 4)[0] == pytest.approx(0.703918, abs=1e-6)


def test_mrr() -> None:
    # first hit at rank 1, none, rank 2, rank 1 ; @1 u2's hit at rank 2 is cut off
    np.testing.assert_allclose(M.mrr(HITS, 4), [1, 0, 0.5, 1])
    np.testing.assert_allclose(M.mrr(HITS, 1), [1, 0, 0, 1])


def test_average_precision() -> None:
    # u0 @4: precision at the hits: rank 1 -> 1/1, rank 3 -> 2/3; (1 + 2/3) / min(3, 4) = 5/9
    # u0 @2: only rank 1 -> 1 / min(3, 2) = 1/2
    # u2: rank 2 -> 1/2, / min(1, k) = 1 -> 1/2
    # u3 @4: (1 + 1 + 1 + 1) / min(5, 4) = 1
    np.testing.assert_allclose(M.average_precision(HITS, N_REL, 4), [5 / 9, 0, 0.5, 1])
    np.testing.assert_allclose(M.average_precision(HITS, N_REL, 2), [0.5, 0, 0.5, 1])


def test_no_relevant_items_give_zero() -> None:
    hits = np.zeros((1, 3), dtype=bool)
    for value in (M.recall(hits, [0], 3), M.ndcg(hits, [0], 3), M.average_precision(hits, [0], 3)):
        assert value.tolist() == [0.0]


def test_k_validation() -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer, got 0"):
        M.recall(HITS, N_REL, 0)
    with pytest.raises(ConfigError, match="k=5 exceeds"):
        M.precision(HITS, 5)


def test_hit_matrix() -> None:
    # relevant pairs: u0 -> {2, 5} (2 listed twice), u1 -> {0}, u2 -> {1}
    test_user = [0, 0, 0, 1, 2]
    test_item = [2, 5, 2, 0, 1]
    top = np.array([[2, 3, 5], [1, -1, 0]])
    hits, n_rel = M.hit_matrix(top, [0, 1], test_user, test_item, n_items=6)
    # the -1 slot of u1 must not match its relevant item 0 (its key would be 1*6 + 0 = 6)
    assert hits.tolist() == [[True, False, True], [False, False, True]]
    assert n_rel.tolist() == [2, 1]


def test_item_popularity_counts_distinct_users() -> None:
    # (0, 0) twice counts once: item 0 <- users 0, 2; item 1 <- users 1, 2; item 2 <- nobody
    pop, n_users = M.item_popularity([0, 0, 1, 2, 2], [0, 0, 1, 0, 1], 3)
    assert pop.tolist() == [2, 2, 0]
    assert n_users == 3


# beyond-accuracy: six items, three lists of length 3 (u1 has an empty slot)
TOP = np.array([[0, 1, 2], [0, 3, -1], [0, 1, 4]])
N_ITEMS = 6


def test_coverage() -> None:
    # @3: {0, 1, 2, 3, 4} -> 5/6 ; @1: {0} -> 1/6
    assert M.coverage(TOP, N_ITEMS, 3) == pytest.approx(5 / 6)
    assert M.coverage(TOP, N_ITEMS, 1) == pytest.approx(1 / 6)


def test_gini_exposure() -> None:
    # exposure @3: item0 3, item1 2, item2 1, item3 1, item4 1, item5 0 -> sorted [0, 1, 1, 1, 2, 3]
    # weights (2i - n - 1) for i = 1..6: -5 -3 -1 1 3 5
    # sum = 0 - 3 - 1 + 1 + 6 + 15 = 18 ; n * total = 6 * 8 = 48 -> 0.375
    assert M.exposure_counts(TOP, N_ITEMS, 3).tolist() == [3, 2, 1, 1, 1, 0]
    assert M.gini_exposure(TOP, N_ITEMS, 3) == pytest.approx(0.375)
    # @1: [0, 0, 0, 0, 0, 3] -> 5 * 3 / (6 * 3) = 5/6
    assert M.gini_exposure(TOP, N_ITEMS, 1) == pytest.approx(5 / 6)
    assert M.gini([2, 2, 2]) == 0.0
    assert M.gini([0, 0]) == 0.0


POP = np.array([4, 2, 1, 0, 4, 1])  # history users per item, out of 4 users


def test_novelty() -> None:
    # -log2(pop / 4): item0 0, item1 1, item2 2, item3 (pop 0 floored to 1) 2, item4 0
    # u0: (0 + 1 + 2) / 3 = 1 ; u1: (0 + 2) / 2 = 1 (empty slot skipped) ; u2: (0 + 1 + 0) / 3 = 1/3
    np.testing.assert_allclose(M.novelty(TOP, POP, 4, 3), [1, 1, 1 / 3])


def test_average_popularity() -> None:
    # u0: (4 + 2 + 1) / 3 ; u1: (4 + 0) / 2 ; u2: (4 + 2 + 4) / 3
    np.testing.assert_allclose(M.average_popularity(TOP, POP, 3), [7 / 3, 2, 10 / 3])


def test_intra_list_diversity_vectors() -> None:
    vectors = np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [2, 0], [0, 0]], dtype=np.float32)
    # u0 items 0,1,2: 1 - cos = 1 (0,1), 1 - 1/sqrt2 (0,2), 1 - 1/sqrt2 (1,2) -> mean over 3 pairs
    # u1 items 0,3 (one empty slot): 1 - (-1) = 2
    # u2 items 0,1,4: 1 (0,1), 0 (0,4 same direction), 1 (1,4) -> 2/3
    s = 1 - 1 / math.sqrt(2)
    expected = [(1 + 2 * s) / 3, 2, 2 / 3]
    np.testing.assert_allclose(M.intra_list_diversity(TOP, 3, item_vectors=vectors), expected)
    # chunking does not change the answer
    np.testing.assert_allclose(M.intra_list_diversity(TOP, 3, item_vectors=vectors, chunk_size=1), expected)
    # a single item has no pair -> 0
    assert M.intra_list_diversity(TOP, 1, item_vectors=vectors).tolist() == [0, 0, 0]


def test_intra_list_diversity_categories() -> None:
    cats = np.array(["a", "b", "a", "a", "b", "c"])
    # u0 a,b,a: pairs differ 2 of 3 ; u1 a,a: 0 of 1 ; u2 a,b,b: 2 of 3
    np.testing.assert_allclose(M.intra_list_diversity(TOP, 3, item_categories=cats), [2 / 3, 0, 2 / 3])
    with pytest.raises(ConfigError, match="exactly one"):
        M.intra_list_diversity(TOP, 3)
