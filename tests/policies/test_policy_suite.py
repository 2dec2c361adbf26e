"""The shared policy suite: for every registered policy, the logged propensities describe its own draws.

Each policy is put in a learned state (a few rounds of feedback), then:

* closed forms (``"exact"``): the propensity matrix equals the empirical position frequencies of the
  policy's own draws within Monte-Carlo error, and every selected slate logs the matrix entries;
* estimated inverses (``"geometric:N"``, ``"exact[0]+geometric:N"``): ``1 / p_hat`` must be unbiased
  for ``1 / p``, so over many selected slates ``mean_t 1{item i at j} / p_hat_t`` equals 1 for every
  ``(item, position)`` the policy shows, within its standard error (``Var = (2 - p) / p - 1`` for a
  geometric inverse), with ``p`` the frequency of the policy's own draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explorec.policies import POLICIES, LinearTS, Policy, make_policy
from explorec.policies.base import feedback_for_slate
from explorec.policies.propensity import monte_carlo_standard_error, position_marginals
from explorec.types import CandidateFrame

N_CAND, K = 7, 2
RNG = np.random.default_rng(4)
FEATURES = RNG.normal(size=(N_CAND, 3))
FRAME = CandidateFrame(
    np.arange(20, 20 + N_CAND),
    np.linspace(0.6, 0.2, N_CAND).astype(np.float32),
    columns={
        "features": FEATURES,
        "arm_features": np.ones((N_CAND, 1)),
        "uncertainty": np.linspace(0.05, 0.3, N_CAND),
    },
)

#: (registry name, parameters) -- every registered policy, stochastic ones in their main configurations
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("greedy", {}),
    ("eps-greedy", {"epsilon": 0.4}),
    ("ucb", {"c": 0.5, "prior_weight": 2.0}),
    ("linucb", {"alpha": 0.5, "arms": "shared"}),
    ("linucb", {"alpha": 0.5, "arms": "disjoint"}),
    ("linucb-hybrid", {"alpha": 0.5, "shared_dim": 3}),
    ("lints", {"v": 0.6}),
    ("ts", {"prior_weight": 4.0}),
    ("softmax", {"temperature": 0.2}),
    ("uncertainty", {"beta": 1.0}),
    ("uncertainty", {"sample": True}),
    ("budget", {"explore_share": 0.5, "relevance_floor": 0.0, "cold_items": [24]}),
    ("budget", {"explore_share": 0.5, "relevance_floor": 0.0, "explorer": "lints"}),
    # randomised position swaps: the logged propensities must include the swap's probability
    ("swap", {"share": 0.5, "policy": "greedy"}),
    ("swap", {"share": 0.5, "scheme": "pair", "policy": "eps-greedy"}),
    ("swap", {"share": 0.5, "policy": "lints"}),
]


def test_every_registered_policy_is_in_the_suite() -> None:
    assert {name for name, _ in CONFIGS} == set(POLICIES)


def _learned(name: str, params: dict[str, Any], seed: int = 0) -> Policy:
    params = dict(params)
    if params.get("explorer") == "lints":
        params["explorer"] = LinearTS(v=0.6, seed=seed + 1, n_mc=4000)
    if params.get("policy") == "lints":
        params["policy"] = LinearTS(v=0.6, seed=seed + 1, n_mc=4000)
    pol = make_policy(name, seed=seed, n_mc=4000, **params)
    rng = np.random.default_rng(100)
    for _ in range(6):  # a few rounds of feedback, so the state is not the prior
        slate = pol.select(FRAME, K)
        pol.update(feedback_for_slate(slate, rng.random(len(slate)) < 0.4, user=0, frame=FRAME, policy=pol))
    return pol


def _id(config: tuple[str, dict[str, Any]]) -> str:
    name, params = config
    return name + "".join(
        f"-{k}={v}" for k, v in params.items() if k in ("arms", "sample", "explorer", "scheme", "policy")
    )


@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_logged_propensities_match_the_frequencies_of_the_policys_own_draws(
    config: tuple[str, dict[str, Any]],
) -> None:
    pol = _learned(*config)
    n_draws = 20_000
    freq = position_marginals(pol.sample_rankings(FRAME, K, n_draws, seed=9), N_CAND)  # [n, k]
    matrix, method = pol.propensity_matrix(FRAME, K)
    slate = pol.select(FRAME, K)
    if slate.propensity_method == "exact":
        assert method == "exact"
        se = monte_carlo_standard_error(matrix, n_draws) + 1e-3 / np.sqrt(n_draws)
        assert np.all(np.abs(freq - matrix) <= 4.5 * se), np.max(np.abs(freq - matrix) / se)
        rows = np.searchsorted(FRAME.items, slate.items)
        np.testing.assert_allclose(slate.propensities, matrix[rows, np.arange(K)])
        return
    assert "geometric:4000" in slate.propensity_method
    n_slates = 400
    weights = np.zeros((N_CAND, K))
    for _ in range(n_slates):
        s = pol.select(FRAME, K)
        rows = np.searchsorted(FRAME.items, s.items)
        weights[rows, np.arange(K)] += 1.0 / s.propensities
    mean = weights / n_slates  # should be 1 wherever the policy shows an item
    shown = freq > 0.05
    exact_first = slate.propensity_method.startswith("exact[0]")
    var = np.where(shown, (2 - freq) / np.maximum(freq, 1e-9) - 1, 0.0)
    if exact_first:
        var[:, 0] = (1 - freq[:, 0]) / np.maximum(freq[:, 0], 1e-9)  # exact 1/p: Bernoulli noise only
    se = np.sqrt(var / n_slates) + 0.01
    assert shown.sum() >= 3
    assert np.all(np.abs(mean[shown] - 1.0) <= 4.5 * se[shown]), (mean[shown], se[shown])


@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_no_state_is_kept_between_select_calls(config: tuple[str, dict[str, Any]]) -> None:
    # regression: EpsilonGreedy._last_m and BudgetedExploration._m carried a draw into the next call
    pol = _learned(*config)
    before = {k: v for k, v in vars(pol).items() if not k.endswith("rng_")}
    pol.select(FRAME, K)
    pol.propensity_matrix(FRAME, K)
    after = {k: v for k, v in vars(pol).items() if not k.endswith("rng_")}
    assert before.keys() == after.keys()
