"""pipeline.recommend: masking, exclusion, candidate order, slates."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError
from explorec.models.popularity import Popularity
from explorec.pipeline import recommend
from explorec.policies.spec import parse_policy_spec
from explorec.rerank import top_candidates


@pytest.fixture
def fitted() -> Popularity:
    # item popularity: i0=3, i1=2, i2=1, i3=0
    data = Interactions.from_ids(
        ["a", "b", "c", "a", "b", "c"],
        ["i0", "i0", "i0", "i1", "i1", "i2"],
        item_ids=["i0", "i1", "i2", "i3"],
    )
    return Popularity().fit(data)


def test_seen_items_are_masked(fitted: Popularity) -> None:
    (slate,) = recommend(fitted, [2], k=2)  # user c saw i0 and i2
    assert slate.items.tolist() == [1, 3]
    assert slate.propensities.tolist() == [1.0, 1.0]
    assert slate.policy == "greedy"


def test_exclude_and_short_slate_note(fitted: Popularity) -> None:
    (slate,) = recommend(fitted, [0], k=3, exclude=[3])  # a saw i0, i1; i3 excluded
    assert slate.items.tolist() == [2]
    assert "only 1 candidates" in slate.note


def test_include_seen(fitted: Popularity) -> None:
    (slate,) = recommend(fitted, [0], k=2, exclude_seen=False)
    assert slate.items.tolist() == [0, 1]


def test_candidate_ties_break_by_index() -> None:
    (cands,) = top_candidates(np.array([[1.0, 2.0, 2.0, 0.5]], dtype=np.float32), 3)
    assert cands.items.tolist() == [1, 2, 0]


def test_bad_k(fitted: Popularity) -> None:
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        recommend(fitted, [0], k=0)
    with pytest.raises(ConfigError, match="n_candidates"):
        recommend(fitted, [0], k=5, n_candidates=2)


def test_rerank_and_policy_stages(fitted: Popularity) -> None:
    # user c saw i0 and i2: pool = [i1 (2), i3 (0)]; pop-debias needs the popularity default context
    (slate,) = recommend(fitted, [2], k=2, rerank="pop-debias:0.0", policy=parse_policy_spec("greedy"))
    assert slate.items.tolist() == [1, 3]
    assert slate.propensities.tolist() == [1.0, 1.0]


def test_epsilon_greedy_slate_carries_propensities() -> None:
    data = Interactions.from_ids(["a"] * 5 + ["b"], ["i0", "i1", "i2", "i3", "i4", "i5"])
    model = Popularity().fit(data)
    (slate,) = recommend(model, [1], k=2, policy=parse_policy_spec("eps-greedy:0.5", seed=3))
    assert len(slate) == 2
    assert slate.policy == "eps-greedy"
    assert np.all((slate.propensities > 0) & (slate.propensities <= 1))
