"""Exposure fairness: the cap holds whenever it can, and infeasible positions are counted."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.errors import ConfigError
from explorec.rerank import FairExposure, RerankContext, popularity_buckets
from explorec.rerank.fairness import position_exposure
from explorec.types import ScoredItems


def test_hand_example() -> None:
    ctx = RerankContext(item_groups=np.array([0, 0, 0, 1, 1, 2]))
    cands = ScoredItems(np.arange(6), np.array([6, 5, 4, 3, 2, 1], dtype=np.float32))
    # uniform exposure, k = 4, max_share 0.5: at most 2 slots per group
    assert FairExposure(max_share=0.5).rerank(cands, 4, context=ctx).items.tolist() == [0, 1, 3, 4]
    # max_share 0.25: one slot per group; the fourth slot is infeasible -> least-exposed group
    fair = FairExposure(max_share=0.25)
    out = fair.rerank(cands, 4, context=ctx)
    assert out.items.tolist()[:3] == [0, 3, 5] and fair.violations_ == 1


@pytest.mark.parametrize("exposure", ["uniform", "log"])
@pytest.mark.parametrize("seed", range(5))
def test_bound_respected_on_random_lists(exposure: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k, max_share = 80, 10, 0.35
    groups = rng.integers(0, 5, size=n)
    ctx = RerankContext(item_groups=groups)
    cands = ScoredItems(np.arange(n), rng.normal(size=n).astype(np.float32))
    fair = FairExposure(max_share=max_share, exposure=exposure)
    out = fair.rerank(cands, k, context=ctx)
    weights = position_exposure(k, exposure)
    share = np.bincount(groups[out.items], weights=weights, minlength=5) / weights.sum()
    assert share.max() <= max_share + 1e-9 and fair.violations_ == 0
    # the constrained list is the best possible greedy one: every skipped better item was capped
    assert np.unique(out.items).size == k


def test_unconstrained_is_top_k_and_popularity_fallback() -> None:
    popularity = np.array([100, 90, 80, 1, 1, 1, 0, 0], dtype=np.float64)
    cands = ScoredItems(np.arange(8), np.array([8, 7, 6, 5, 4, 3, 2, 1], dtype=np.float32))
    ctx = RerankContext(item_popularity=popularity)
    assert FairExposure(max_share=1.0).rerank(cands, 4, context=ctx).items.tolist() == [0, 1, 2, 3]
    # 2 buckets: head = {0} (first half of the mass: 100 of 273 ... items before the half-way mark)
    buckets = popularity_buckets(popularity, n_buckets=2)
    assert buckets.tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    out = FairExposure(max_share=0.5, n_buckets=2).rerank(cands, 4, context=ctx)
    assert out.items.tolist() == [0, 1, 2, 3]  # head {0, 1} holds 2 of 4 slots: allowed
    out = FairExposure(max_share=0.25, n_buckets=2).rerank(cands, 4, context=ctx)
    assert out.items.tolist()[:2] == [0, 2]


def test_popularity_buckets_equal_mass() -> None:
    assert popularity_buckets([10, 1, 5, 4], n_buckets=2).tolist() == [0, 1, 1, 1]
    assert popularity_buckets([5, 5, 5, 5], n_buckets=4).tolist() == [0, 1, 2, 3]
    assert popularity_buckets([3, 0, 0], n_buckets=3).tolist() == [0, 2, 2]


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"fair max_share must lie in \(0.0, 1.0\], got 0"):
        FairExposure(max_share=0)
    with pytest.raises(ConfigError, match="exposure must be one of"):
        FairExposure(exposure="linear")
    cands = ScoredItems(np.array([0, 1]), np.array([1.0, 0.5], dtype=np.float32))
    with pytest.raises(ConfigError, match=r"needs context\.item_groups"):
        FairExposure(max_share=0.5).rerank(cands, 2)
