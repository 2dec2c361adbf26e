"""Steck's calibrated re-ranking: a hand-computed KL choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorec.errors import ConfigError
from explorec.rerank import Calibration, RerankContext, category_matrix
from explorec.rerank.calibration import kl_calibration, user_distribution
from explorec.types import ScoredItems

# items 0, 1 in genre A, item 2 in genre B; the user's history (items 3: A, 4: B) is half A, half B
CATEGORIES = np.array([[1, 0], [1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float64)
CANDS = ScoredItems(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.5], dtype=np.float32))  # rel 1, 0.8, 0


def _ctx() -> RerankContext:
    return RerankContext(item_categories=CATEGORIES, history=np.array([3, 4]))


def test_kl_matches_hand_formula() -> None:
    p = np.array([0.5, 0.5])
    q = np.array([1.0, 0.0])
    expected = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)  # q~ = 0.99 q + 0.01 p
    assert kl_calibration(p, q) == pytest.approx(expected)
    assert kl_calibration(p, p) == pytest.approx(0.0)
    assert user_distribution(np.array([3, 4]), CATEGORIES).tolist() == [0.5, 0.5]


def test_hand_computed_choice() -> None:
    kl_one_genre = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005)  # about 1.958
    # lambda = 0.5: {0, 1}: 0.5 * 1.8 - 0.5 * 1.958 = -0.079;  {0, 2}: 0.5 * 1.0 - 0 = 0.5  -> [0, 2]
    assert 0.5 * 1.8 - 0.5 * kl_one_genre < 0.5 * 1.0
    assert Calibration(weight=0.5).rerank(CANDS, 2, context=_ctx()).items.tolist() == [0, 2]
    # lambda = 0.1: {0, 1}: 0.9 * 1.8 - 0.1 * 1.958 = 1.424 > {0, 2}: 0.9  -> [0, 1]
    assert 0.9 * 1.8 - 0.1 * kl_one_genre > 0.9 * 1.0
    assert Calibration(weight=0.1).rerank(CANDS, 2, context=_ctx()).items.tolist() == [0, 1]


def test_zero_weight_and_no_history_give_top_k() -> None:
    assert Calibration(weight=0.0).rerank(CANDS, 2, context=_ctx()).items.tolist() == [0, 1]
    no_history = RerankContext(item_categories=CATEGORIES)
    assert Calibration(weight=0.9).rerank(CANDS, 2, context=no_history).items.tolist() == [0, 1]


def test_calibrated_lists_are_closer_to_the_history() -> None:
    rng = np.random.default_rng(0)
    n_items, n_genres = 200, 6
    cats = rng.dirichlet(np.full(n_genres, 0.3), size=n_items)
    history = rng.choice(n_items, 30, replace=False)
    p = user_distribution(history, cats)
    assert p is not None
    cands = ScoredItems(np.arange(n_items), rng.normal(size=n_items).astype(np.float32))
    ctx = RerankContext(item_categories=cats, history=history)
    kls = []
    for weight in (0.0, 0.5, 0.99):
        top = Calibration(weight=weight).rerank(cands, 10, context=ctx).items
        q = cats[top].mean(axis=0)
        kls.append(float(kl_calibration(p, q / q.sum())))
    assert kls[0] > kls[1] > kls[2]


def test_category_matrix_splits_mass_equally() -> None:
    matrix, names = category_matrix(["A|B", "B", "", "(no genres listed)", "C|A|A"])
    assert names == ["A", "B", "C"]
    np.testing.assert_allclose(
        matrix.toarray(), [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0], [0.5, 0, 0.5]]
    )


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="calibration weight must lie in"):
        Calibration(weight=2.0)
    with pytest.raises(ConfigError, match=r"needs context\.item_categories"):
        Calibration(weight=0.5).rerank(CANDS, 2, context=RerankContext(history=np.array([3])))
