"""Randomised position swaps: the slates, their logged propensities and what IPS makes of them."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.errors import ConfigError
from explorec.policies import BernoulliTS, EpsilonGreedy, Greedy, PositionSwap
from explorec.policies.propensity import monte_carlo_standard_error
from explorec.policies.spec import parse_policy_spec
from explorec.policies.swap import position_transition, swap_pairs
from explorec.types import CandidateFrame

FRAME = CandidateFrame(np.arange(10, 16), np.array([0.9, 0.8, 0.6, 0.5, 0.3, 0.1], dtype=np.float32))
K = 4


def test_swap_pairs_and_transition_matrix_by_hand() -> None:
    assert swap_pairs(4, "top") == [(0, 1), (0, 2), (0, 3)]
    assert swap_pairs(4, "pair") == [(0, 1), (1, 2), (2, 3)]
    assert swap_pairs(1, "top") == []
    m = position_transition(3, 0.3, "top")  # swaps (0,1) and (0,2), each with probability 0.15
    np.testing.assert_allclose(m, [[0.7, 0.15, 0.15], [0.15, 0.85, 0.0], [0.15, 0.0, 0.85]])
    np.testing.assert_allclose(position_transition(3, 0.4, "pair").sum(axis=1), 1.0)


@pytest.mark.parametrize("scheme", ["top", "pair"])
def test_selected_slates_follow_the_logged_propensities(scheme: str) -> None:
    # the slates select() shows (not only the vectorised draws) have the frequencies the log states
    pol = PositionSwap(policy=EpsilonGreedy(epsilon=0.2), share=0.4, scheme=scheme, seed=3)
    matrix, method = pol.propensity_matrix(FRAME, K)
    assert method == "exact"
    n = 6000
    counts = np.zeros_like(matrix)
    swaps = 0
    for _ in range(n):
        slate = pol.select(FRAME, K)
        rows = np.searchsorted(FRAME.items, slate.items)
        counts[rows, np.arange(K)] += 1
        np.testing.assert_allclose(slate.propensities, matrix[rows, np.arange(K)])
        swaps += slate.swap is not None
    se = monte_carlo_standard_error(matrix, n) + 1e-3 / np.sqrt(n)
    assert np.all(np.abs(counts / n - matrix) <= 4.5 * se)
    assert abs(swaps / n - 0.4) < 4.5 * np.sqrt(0.4 * 0.6 / n)


def test_a_swap_exchanges_two_slots_of_the_policys_slate() -> None:
    pol = PositionSwap(policy=Greedy(), share=1.0, seed=0)
    seen = set()
    for _ in range(50):
        slate = pol.select(FRAME, K)
        assert slate.swap is not None
        a, b = slate.swap
        assert a == 0 and 1 <= b < K
        expected = FRAME.items[:K].copy()
        expected[[a, b]] = expected[[b, a]]
        np.testing.assert_array_equal(slate.items, expected)
        assert slate.explored.tolist() == [j in (a, b) for j in range(K)]
        # each pair has probability 1 / (K - 1): the moved items' propensities say so
        np.testing.assert_allclose(slate.propensities[[a, b]], 1 / (K - 1))
        seen.add(b)
    assert seen == {1, 2, 3}
    assert PositionSwap(policy=Greedy(), share=0.0).select(FRAME, K).swap is None


def test_ips_on_a_swapped_log_recovers_the_value_of_the_unswapped_policy() -> None:
    # a position-based world: the value of greedy is known; estimate it from a swap-greedy log by
    # per-slot IPS, which divides by the logged propensities (they must include the swap)
    exam = np.array([1.0, 0.6, 0.45, 0.35])
    rel = np.array([0.5, 0.4, 0.35, 0.3, 0.2, 0.1])
    truth = float(exam @ rel[:K])
    pol = PositionSwap(policy=Greedy(), share=0.5, seed=1)
    rng = np.random.default_rng(2)
    n = 6000
    values, naive = np.zeros(n), np.zeros(n)
    for t in range(n):
        slate = pol.select(FRAME, K)
        rows = np.searchsorted(FRAME.items, slate.items)
        clicks = rng.random(K) < exam * rel[rows]
        match = rows == np.arange(K)  # greedy shows row j at position j
        values[t] = float((match * clicks / slate.propensities).sum())
        naive[t] = float((match * clicks).sum())
    se = values.std(ddof=1) / np.sqrt(n)
    assert abs(values.mean() - truth) < 4 * se
    assert se < 0.02  # the check has power
    # a log whose propensities ignored the swap (greedy's 1.0 everywhere) is biased low: 0.67 vs 1.0
    assert naive.mean() < truth - 4 * naive.std(ddof=1) / np.sqrt(n) - 0.25


def test_stochastic_policy_gets_geometric_inverses() -> None:
    pol = PositionSwap(policy=BernoulliTS(prior_weight=4.0), share=0.3, seed=0, n_mc=500)
    slate = pol.select(FRAME, K)
    assert slate.propensity_method == "geometric:500"
    assert np.all((slate.propensities > 0) & (slate.propensities <= 1))


def test_spec_and_bad_settings() -> None:
    pol = parse_policy_spec("swap:0.1:policy=ts:scheme=pair", seed=4)
    assert isinstance(pol, PositionSwap) and pol.policy == "ts" and isinstance(pol.inner_, BernoulliTS)
    assert (pol.share, pol.scheme, pol.inner_.seed) == (0.1, "pair", 4)
    with pytest.raises(ConfigError, match="share"):
        PositionSwap(share=1.5)
    with pytest.raises(ConfigError, match="scheme"):
        parse_policy_spec("swap:0.1:scheme=random")
    with pytest.raises(ConfigError, match="another policy"):
        PositionSwap(policy="swap")
