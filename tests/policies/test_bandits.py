"""UCB and Thompson sampling find the best arm of a planted Bernoulli bandit; uncertainty selection."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.policies import UCB, BernoulliTS, EpsilonGreedy, Feedback, Greedy, UncertaintyPolicy
from explorec.policies.base import FeedbackBatch

RATES = np.array([0.1, 0.25, 0.6, 0.3, 0.05])


def _play(policy, steps: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arms = np.arange(RATES.size)
    chosen = np.empty(steps, dtype=np.int64)
    for t in range(steps):
        slate = policy.select(arms, 1, scores=np.zeros(arms.size))
        a = int(slate.items[0])
        policy.update(Feedback(0, a, 0, float(rng.random() < RATES[a])))
        chosen[t] = a
    return chosen


@pytest.mark.parametrize(
    "policy",
    [UCB(c=0.5, seed=0), BernoulliTS(seed=0, n_mc=1)],
    ids=["ucb1", "bernoulli-ts"],
)
def test_converges_to_the_best_arm(policy) -> None:
    chosen = _play(policy)
    assert np.mean(chosen[-300:] == 2) > 0.9
    assert set(np.unique(chosen[:200])) == set(range(RATES.size))  # every arm was tried


def test_greedy_without_exploration_can_lock_in() -> None:
    # greedy on fixed scores never tries the best arm; epsilon-greedy does
    scores = np.array([0.5, 0.4, 0.0, 0.3, 0.2])
    greedy = [Greedy().select(np.arange(5), 1, scores=scores).items[0] for _ in range(50)]
    assert set(greedy) == {0}
    eps = EpsilonGreedy(epsilon=0.5, seed=0)
    tried = {int(eps.select(np.arange(5), 1, scores=scores).items[0]) for _ in range(100)}
    assert 2 in tried


def test_ucb_prior_from_scores_and_position_weighted_updates() -> None:
    pol = UCB(c=0.0, prior_weight=10.0, examination=[1.0, 0.5])
    items = np.array([0, 1])
    # item 1 scored lower but clicked at a rarely examined position: it overtakes item 0
    pol.update(
        FeedbackBatch(
            np.zeros(4, np.int64),
            np.array([1, 1, 0, 0]),
            np.array([1, 1, 0, 0]),
            np.array([1.0, 1.0, 0.0, 0.0]),
        )
    )
    mean, _ = pol.indices(items, np.array([0.3, 0.2]))
    np.testing.assert_allclose(mean, [(10 * 0.3 + 0) / 12, (10 * 0.2 + 2) / 11])
    assert pol.select(items, 1, scores=np.array([0.3, 0.2])).items[0] == 1


def test_beta_ts_rejects_rewards_outside_unit_interval() -> None:
    from explorec.errors import DataError

    with pytest.raises(DataError, match=r"reward 2\.0"):
        BernoulliTS().update(Feedback(0, 1, 0, 2.0))


def test_uncertainty_optimism_and_sampling() -> None:
    mean = np.array([0.5, 0.4, 0.45])
    std = np.array([0.0, 0.3, 0.01])
    assert UncertaintyPolicy(beta=1.0).select_from(mean, std, 1).items.tolist() == [1]
    assert UncertaintyPolicy(beta=0.0).select_from(mean, std, 1).items.tolist() == [0]
    pol = UncertaintyPolicy(sample=True, seed=0, n_mc=2000)
    matrix, method = pol.propensity_matrix(np.arange(3), 1, scores=mean, context=std)
    assert method == "monte-carlo:2000"
    # item 1 wins when its draw exceeds 0.5 (and 0.45 +- 0.01): about P(N(0.4, 0.3) > 0.5) = 0.37
    assert matrix[1, 0] == pytest.approx(0.37, abs=0.04)
    from explorec.errors import DataError

    with pytest.raises(DataError, match="std of item 1"):
        UncertaintyPolicy().select_from(mean, np.array([0.1, -1.0, 0.1]), 1)
