"""Propensities: exact closed forms match empirical frequencies; Monte-Carlo estimates converge to them."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.policies import BernoulliTS, BudgetedExploration, EpsilonGreedy, Softmax
from explorec.policies.epsilon_greedy import epsilon_greedy_rank_matrix
from explorec.policies.propensity import (
    beta_first_position_probabilities,
    monte_carlo_standard_error,
    position_marginals,
)

N_DRAWS = 20_000


def _empirical(policy, items, scores, k, n=N_DRAWS):
    draws = policy.sample_rankings(items, k, n, scores=scores, seed=123)
    return position_marginals(draws, items.size)


def _within(estimate: np.ndarray, exact: np.ndarray, n: int, sigmas: float = 4.5) -> None:
    se = monte_carlo_standard_error(exact, n) + 1e-3 / np.sqrt(n)
    assert np.all(np.abs(estimate - exact) <= sigmas * se), np.max(np.abs(estimate - exact) / se)


def test_epsilon_greedy_closed_form_by_hand() -> None:
    # n = 3, k = 2, eps = 0.5: M ~ Bin(2, .5) = 0, 1, 2 with 1/4, 1/2, 1/4
    p = epsilon_greedy_rank_matrix(3, 2, 0.5)
    # position 0 shows the best item unless both slots explore (M = 2): 3/4 + 1/4 * 1/3
    assert p[0, 0] == pytest.approx(0.75 + 0.25 / 3)
    # position 1: exploit (M = 0) shows rank 1; M = 1: pool {1, 2} -> 1/2 each; M = 2: pool of 3
    assert p[1, 1] == pytest.approx(0.25 + 0.5 / 2 + 0.25 / 3)
    assert p[2, 1] == pytest.approx(0.5 / 2 + 0.25 / 3)
    assert p[0, 1] == pytest.approx(0.25 / 3)
    np.testing.assert_allclose(p.sum(axis=0), 1.0)


@pytest.mark.parametrize(("n", "k", "eps"), [(8, 3, 0.3), (5, 5, 0.5), (20, 4, 0.05)])
def test_epsilon_greedy_exact_equals_empirical_frequencies(n: int, k: int, eps: float) -> None:
    pol = EpsilonGreedy(epsilon=eps, seed=0)
    items = np.arange(n) + 10
    scores = np.random.default_rng(n).random(n)
    exact, method = pol.propensity_matrix(items, k, scores=scores)
    assert method == "exact"
    np.testing.assert_allclose(exact.sum(axis=0), 1.0)
    assert np.all(exact.sum(axis=1) <= 1 + 1e-12)
    _within(_empirical(pol, items, scores, k), exact, N_DRAWS)


def test_epsilon_greedy_exploits_the_top_slots() -> None:
    pol = EpsilonGreedy(epsilon=0.2, seed=0)
    scores = np.arange(10, 0, -1, dtype=float)
    for _ in range(50):
        slate = pol.select(np.arange(10), 4, scores=scores)
        m = int(slate.explored.sum())
        # explored slots are always the bottom ones, the top ones keep the best items in order
        assert slate.explored.tolist() == [False] * (4 - m) + [True] * m
        assert slate.items[: 4 - m].tolist() == list(range(4 - m))


def test_selected_slate_propensities_match_the_exact_matrix() -> None:
    pol = EpsilonGreedy(epsilon=0.4, seed=5)
    items = np.array([3, 1, 4, 9, 2, 6])
    scores = np.array([0.5, 0.9, 0.1, 0.3, 0.8, 0.2])
    matrix, _ = pol.propensity_matrix(items, 3, scores=scores)
    for _ in range(20):
        slate = pol.select(items, 3, scores=scores)
        rows = [int(np.flatnonzero(items == i)[0]) for i in slate.items]
        np.testing.assert_allclose(slate.propensities, matrix[rows, np.arange(3)])


def test_softmax_first_position_exact_and_monte_carlo_converges() -> None:
    pol = Softmax(temperature=0.7, seed=1, n_mc=N_DRAWS)
    items = np.arange(6)
    scores = np.array([2.0, 1.5, 1.0, 0.2, -0.5, 0.0])
    exact0 = pol.first_position_probabilities(scores)
    z = pol.logits(scores)
    np.testing.assert_allclose(exact0, np.exp(z) / np.exp(z).sum())
    matrix, method = pol.propensity_matrix(items, 3, scores=scores)
    assert method == f"exact[0]+monte-carlo:{N_DRAWS}"  # the matrix: frequencies, not the slate's estimate
    np.testing.assert_allclose(matrix[:, 0], exact0)
    # second position in closed form: P(i at 1) = sum_j p_j p_i / (1 - p_j)
    p = exact0
    second = np.array([sum(p[j] * p[i] / (1 - p[j]) for j in range(6) if j != i) for i in range(6)])
    _within(matrix[:, 1], second, N_DRAWS)
    _within(_empirical(pol, items, scores, 3)[:, 0], exact0, N_DRAWS)


def test_beta_ts_monte_carlo_converges_to_quadrature() -> None:
    alpha = np.array([3.0, 2.0, 6.0, 1.0])
    beta = np.array([7.0, 5.0, 20.0, 2.0])
    exact = beta_first_position_probabilities(alpha, beta)
    assert exact.sum() == pytest.approx(1.0, abs=1e-6)
    pol = BernoulliTS(alpha=alpha, beta=beta, seed=0, n_mc=N_DRAWS)
    matrix, method = pol.propensity_matrix(np.arange(4), 2)
    assert method == f"monte-carlo:{N_DRAWS}"
    _within(matrix[:, 0], exact, N_DRAWS)
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0)


def test_two_arm_beta_probability_by_hand() -> None:
    # P(Beta(2,1) > Beta(1,1)) = integral 2x * x dx = 2/3
    assert beta_first_position_probabilities([2.0, 1.0], [1.0, 1.0])[0] == pytest.approx(2 / 3, abs=1e-8)


def test_geometric_inverse_propensity_of_the_shown_slate_is_unbiased() -> None:
    # E[1{item i shown} / p_hat] = 1 for every item with p_i > 0 when E[1 / p_hat | shown] = 1 / p_i
    alpha = np.array([3.0, 2.0, 6.0])
    beta = np.array([7.0, 5.0, 20.0])
    exact = beta_first_position_probabilities(alpha, beta)
    pol = BernoulliTS(alpha=alpha, beta=beta, seed=3, n_mc=5000)
    n = 3000
    weights = np.zeros((n, 3))
    for t in range(n):
        slate = pol.select(np.arange(3), 1)
        assert slate.propensity_method == "geometric:5000"
        assert 0 < slate.propensities[0] <= 1
        weights[t, slate.items[0]] = 1.0 / slate.propensities[0]
    # Var(1{shown} G) = (2 - p) / p - 1 for a geometric G: standard error of the mean of n such terms
    se = np.sqrt(((2 - exact) / exact - 1) / n)
    np.testing.assert_array_less(np.abs(weights.mean(axis=0) - 1.0), 4 * se)


def test_budget_exact_matches_empirical_and_respects_floor_and_cold_priority() -> None:
    items = np.arange(12)
    scores = np.linspace(1.0, 0.0, 12)
    cold = np.array([11, 4])
    pol = BudgetedExploration(
        explore_share=0.25, relevance_floor=0.25, cold_share=0.5, cold_items=cold, seed=0
    )
    exact, method = pol.propensity_matrix(items, 6, scores=scores)
    assert method == "exact"
    np.testing.assert_allclose(exact.sum(axis=0), 1.0)
    emp = _empirical(pol, items, scores, 6, n=3000)
    _within(emp, exact, 3000)
    # the 25% score quantile ('lower') is item 9's score 2/11: items 10 and 11 are never explored
    assert exact[10:, :].sum() == 0
    # the eligible cold item 4 gets the cold slot: more exposure than a warm item of similar rank
    assert exact[4].sum() > exact[7].sum()
    assert exact[11].sum() == 0  # cold but below the relevance floor


def test_budget_explore_share_is_the_expected_share() -> None:
    pol = BudgetedExploration(explore_share=0.3, relevance_floor=0.0, cold_share=0.0, seed=2)
    explored = [
        pol.select(np.arange(30), 10, scores=np.arange(30.0)[::-1]).explored.mean() for _ in range(400)
    ]
    assert np.mean(explored) == pytest.approx(0.3, abs=1e-12)  # 3 of 10 slots, deterministic here


def test_budget_with_a_deterministic_explorer_is_exact_and_targets_cold_items() -> None:
    from explorec.policies import LinUCB

    items = np.arange(10)
    scores = np.linspace(1.0, 0.1, 10)
    context = np.eye(10)[:, :3]  # items 0, 1, 2 have their own feature; the rest share none
    explorer = LinUCB(alpha=1.0, arms="shared")
    pol = BudgetedExploration(
        explore_share=0.15, relevance_floor=0.0, cold_share=1.0, cold_items=[7, 8], explorer=explorer
    )
    matrix, method = pol.propensity_matrix(items, 4, scores=scores, context=context)
    assert method == "exact"
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0)
    # M is 0 (p = 0.4) or 1 (p = 0.6); the one exploration slot goes to a cold item, chosen by the explorer
    assert matrix[[7, 8], 3].sum() == pytest.approx(0.6)
    assert matrix[3, 3] == pytest.approx(0.4)
    emp = _empirical_with_context(pol, items, scores, 4, context)
    _within(emp, matrix, 3000)


def _empirical_with_context(policy, items, scores, k, context, n=3000):
    draws = policy.sample_rankings(items, k, n, scores=scores, context=context, seed=5)
    return position_marginals(draws, items.size)


def _ips_of_rare_arms(seeds: int = 30, n: int = 100) -> tuple[np.ndarray, np.ndarray, float]:
    """IPS values of "uniform over the rare arms" from logs of a fixed Beta-Bernoulli TS (k = 1).

    Per seed, two estimates from the same log: with the propensities the policy logs, and with the
    old frequency ``(hits + 1) / (N + 1)`` of ``N = 100`` further draws. Returns (logged per seed,
    frequency per seed, the true value).
    """
    n_arms = 20
    alpha, beta = np.linspace(12.0, 4.0, n_arms), np.full(n_arms, 20.0)  # P(arm) from 0.17 to 0.001
    rare = np.arange(10, 18)  # P(shown) 0.026 ... 0.003
    reward = np.linspace(0.2, 0.8, n_arms)
    truth = float(reward[rare].mean())
    logged, frequency = np.zeros(seeds), np.zeros(seeds)
    for seed in range(seeds):
        pol = BernoulliTS(alpha=alpha, beta=beta, seed=seed, n_mc=5000)
        rng = np.random.default_rng(1000 + seed)
        for _ in range(n):
            slate = pol.select(np.arange(n_arms), 1)
            item = int(slate.items[0])
            r = float(rng.random() < reward[item])
            if item in rare:
                logged[seed] += r / rare.size / float(slate.propensities[0]) / n
                draws = pol.sample_rankings(np.arange(n_arms), 1, 100, seed=int(rng.integers(2**31)))
                frequency[seed] += r / rare.size / ((float((draws[:, 0] == item).sum()) + 1.0) / 101.0) / n
    return logged, frequency, truth


def test_ips_from_the_policys_own_log_matches_the_true_value_and_the_old_estimator_does_not() -> None:
    logged, frequency, truth = _ips_of_rare_arms()
    se = logged.std(ddof=1) / np.sqrt(logged.size)
    assert abs(logged.mean() - truth) <= 3 * se, (logged.mean(), se, truth)
    # regression: the frequency estimate (hits + 1) / (N + 1), once called unbiased, under-weights
    # rare slots (p * E[1 / p_hat] ~ 0.64 at p = 0.01, N = 100): same logs, far outside the band
    old_se = frequency.std(ddof=1) / np.sqrt(frequency.size)
    assert truth - frequency.mean() > 3 * max(se, old_se), (frequency.mean(), old_se, truth)


def test_ope_on_a_thompson_sampling_log_covers_the_true_value_in_90_percent_of_50_seeds() -> None:
    # a learning Beta-Bernoulli TS over 6 arms with close click rates (it keeps exploring), 300
    # rounds per seed, logged as impression records; IPS of the uniform policy with a 95 % bootstrap
    # interval must contain the true value (the mean click rate) in at least 45 of 50 seeds
    from explorec.evaluation.ope import BanditLog, estimate
    from explorec.impressions import ImpressionRecord
    from explorec.policies.base import feedback_for_slate

    n_arms, rounds = 6, 300
    rate = np.linspace(0.3, 0.45, n_arms)
    uniform = np.full((n_arms, 1), 1.0 / n_arms)
    covered = 0
    for seed in range(50):
        pol = BernoulliTS(seed=seed, n_mc=5000)
        rng = np.random.default_rng(500 + seed)
        records, rewards = [], []
        for step in range(rounds):
            slate = pol.select(np.arange(n_arms), 1)
            click = (rng.random(1) < rate[slate.items]).astype(np.float64)
            pol.update(feedback_for_slate(slate, click, user=0))
            records.append(ImpressionRecord.from_slate(slate, recommendation_id=f"{seed}-{step}", user=0))
            rewards.append(click)
        log = BanditLog.from_impressions(records, rewards, n_actions=n_arms)
        ips = estimate(log, uniform, estimators=("ips",), n_bootstrap=300, seed=seed)["ips"]
        covered += ips.ci_low <= rate.mean() <= ips.ci_high
    assert covered >= 45, covered
