"""The policy interface: input checks, k > candidates, reproducibility, feedback plumbing."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.errors import ConfigError, DataError
from explorec.policies import POLICIES, Feedback, FeedbackBatch, feedback_for_slate, make_policy
from explorec.types import ScoredItems

ITEMS = np.arange(100, 112)
SCORES = np.linspace(1.0, 0.0, ITEMS.size)


def _make(name: str, **kw: object):
    if name == "linucb-hybrid":
        kw.setdefault("shared_dim", 2)
    return make_policy(name, n_mc=50, **kw)


def _context(name: str, n: int) -> np.ndarray | None:
    rng = np.random.default_rng(0)
    if name in ("linucb", "linucb-hybrid", "lints"):
        return rng.normal(size=(n, 3))
    if name == "uncertainty":
        return rng.random(n)
    return None


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_returns_a_valid_slate(name: str) -> None:
    pol = _make(name)
    slate = pol.select(ScoredItems(ITEMS, SCORES.astype(np.float32)), 5, context=_context(name, ITEMS.size))
    assert len(slate) == 5
    assert len(set(slate.items.tolist())) == 5
    assert set(slate.items.tolist()) <= set(ITEMS.tolist())
    assert np.all((slate.propensities > 0) & (slate.propensities <= 1))
    assert slate.policy == pol.name
    assert slate.propensity_method == "exact" or "geometric:50" in slate.propensity_method
    assert slate.policy_params == pol.get_params()
    assert slate.note == ""


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_fewer_candidates_than_k_returns_what_exists_and_says_so(name: str) -> None:
    pol = _make(name)
    slate = pol.select(ITEMS[:3], 10, scores=SCORES[:3], context=_context(name, 3))
    assert sorted(slate.items.tolist()) == ITEMS[:3].tolist()
    assert "k=10" in slate.note and "3 candidates" in slate.note


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_same_seed_same_slates_and_update_runs(name: str) -> None:
    runs = []
    for _ in range(2):
        pol = _make(name, seed=7)
        ctx = _context(name, ITEMS.size)
        shown = []
        for step in range(5):
            slate = pol.select(ITEMS, 4, scores=SCORES, context=ctx)
            shown.append(slate.items.tolist())
            rewards = (np.arange(4) == step % 4).astype(float)
            if name == "uncertainty":
                pol.update(feedback_for_slate(slate, rewards, user=0))
            else:
                pol.update(feedback_for_slate(slate, rewards, user=0, context=ctx, candidate_items=ITEMS))
        runs.append(shown)
    assert runs[0] == runs[1]


def test_empty_candidates_give_an_empty_slate_with_a_note() -> None:
    slate = make_policy("greedy").select(np.zeros(0, dtype=np.int64), 3)
    assert len(slate) == 0 and "0 candidates" in slate.note


def test_bad_candidates_are_rejected_with_the_culprit_named() -> None:
    pol = make_policy("greedy")
    with pytest.raises(DataError, match="item 5 appears 2 times"):
        pol.select(np.array([5, 6, 5]), 2)
    with pytest.raises(DataError, match="item 6"):
        pol.select(np.array([5, 6]), 1, scores=np.array([0.1, np.nan]))
    with pytest.raises(DataError, match="2 items but 3 scores"):
        pol.select(np.array([5, 6]), 1, scores=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        pol.select(np.array([5, 6]), 0)


def test_unknown_policy_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known policies: .*greedy"):
        make_policy("nope")


def test_linear_policies_need_context_rows() -> None:
    with pytest.raises(ConfigError, match="context"):
        make_policy("linucb").select(ITEMS, 3, scores=SCORES)
    with pytest.raises(DataError, match="shape"):
        make_policy("linucb").select(ITEMS, 3, scores=SCORES, context=np.ones((2, 3)))


def test_feedback_records_and_batches_agree() -> None:
    pol = make_policy("ucb")
    pol.update([Feedback(0, 3, 0, 1.0), Feedback(0, 4, 1, 0.0)])
    batch = FeedbackBatch.from_records([Feedback(1, 3, 0, 1.0, score=0.5)])
    assert batch.scores is not None and batch.scores[0] == 0.5
    assert pol.n_updates_ == 2
    with pytest.raises(DataError, match="non-finite reward"):
        pol.update(Feedback(0, 3, 0, float("nan")))


def test_feedback_for_slate_attaches_the_shown_rows() -> None:
    ctx = np.arange(ITEMS.size * 2, dtype=float).reshape(-1, 2)
    slate = make_policy("greedy").select(ITEMS, 3, scores=SCORES[::-1])
    batch = feedback_for_slate(slate, [1, 0, 0], user=4, context=ctx, candidate_items=ITEMS)
    rows = [int(np.flatnonzero(ITEMS == i)[0]) for i in slate.items]
    assert batch.contexts is not None
    np.testing.assert_array_equal(batch.contexts, ctx[rows])
    np.testing.assert_array_equal(batch.positions, [0, 1, 2])
    assert batch.users.tolist() == [4, 4, 4]


def test_get_params_round_trip() -> None:
    pol = make_policy("eps-greedy", epsilon=0.3, seed=3)
    assert pol.get_params() == {"epsilon": 0.3, "seed": 3, "n_mc": 1000}
    assert type(pol)(**pol.get_params()).get_params() == pol.get_params()
