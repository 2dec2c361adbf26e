"""Inference-time popularity deconfounding: hand-computed adjusted scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorec.errors import ConfigError
from explorec.rerank import PopularityDebias, RerankContext
from explorec.types import ScoredItems

POP = np.array([99.0, 9.0, 0.0])
CANDS = ScoredItems(np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0], dtype=np.float32))


def test_logit_transform_hand_computed() -> None:
    ctx = RerankContext(item_popularity=POP)
    out = PopularityDebias(strength=0.5, method="logit").rerank(CANDS, 3, context=ctx)
    adjusted = {0: 3 - 0.5 * math.log(100), 1: 2 - 0.5 * math.log(10), 2: 1.0}  # 0.697, 0.849, 1.0
    assert out.items.tolist() == [2, 1, 0]
    np.testing.assert_allclose(
        out.column("rerank_score"), [adjusted[i] for i in out.items.tolist()], rtol=1e-6
    )
    # the model's own scores stay with their items (regression: they were overwritten before)
    own = dict(zip(CANDS.items.tolist(), CANDS.scores.tolist(), strict=True))
    assert out.scores.tolist() == [own[i] for i in out.items.tolist()]


def test_zscore_transform_hand_computed() -> None:
    ctx = RerankContext(item_popularity=POP)
    debias = PopularityDebias(strength=1.0)
    scores = np.array([3.0, 2.0, 1.0])
    log_pop = np.log1p(POP)
    z = (scores - scores.mean()) / scores.std() - (log_pop - log_pop.mean()) / log_pop.std()
    np.testing.assert_allclose(debias.adjust(np.arange(3), scores, POP), z)
    out = debias.rerank(CANDS, 3, context=ctx)
    assert out.items.tolist() == np.argsort(-z, kind="stable").tolist()


def test_zero_strength_keeps_the_order_and_strength_grows_the_tail() -> None:
    rng = np.random.default_rng(0)
    pop = rng.pareto(1.2, size=300) * 10
    scores = (np.log1p(pop) + rng.normal(size=300)).astype(np.float32)  # popularity-biased scores
    cands = ScoredItems(np.arange(300), scores)
    ctx = RerankContext(item_popularity=pop)
    top = PopularityDebias(strength=0.0).rerank(cands, 20, context=ctx)
    np.testing.assert_array_equal(top.items, np.argsort(-scores, kind="stable")[:20])
    mean_pop = [
        pop[PopularityDebias(strength=s).rerank(cands, 20, context=ctx).items].mean() for s in (0, 0.5, 1)
    ]
    assert mean_pop[0] > mean_pop[1] > mean_pop[2]


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="pop-debias strength must lie in"):
        PopularityDebias(strength=-1)
    with pytest.raises(ConfigError, match="method must be one of"):
        PopularityDebias(method="pda")
    with pytest.raises(ConfigError, match=r"needs context\.item_popularity"):
        PopularityDebias().rerank(CANDS, 2)
