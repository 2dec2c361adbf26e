"""Propensities: the probability that a policy shows an item at a position, exact or estimated.

Off-policy evaluation weighs each logged impression by ``pi_e(item, position | x) /
pi_b(item, position | x)``, so every slate records ``P(item shown at position j | context)`` for the
policy that built it, and how that number was obtained (``Slate.propensity_method``):

``"exact"``
    A closed form exists: deterministic policies (greedy, UCB, LinUCB, optimistic uncertainty:
    probability 1 for what is shown), per-slot epsilon-greedy (a Binomial mixture, see
    :func:`explorec.policies.epsilon_greedy.epsilon_greedy_rank_matrix`), the exploration budget
    (uniform draws from pools of known size), softmax with ``k = 1``.
``"exact[0]+monte-carlo:N"``
    Softmax (Plackett-Luce): the first position is the softmax itself, later positions are
    estimated.
``"monte-carlo:N"``
    No closed form (Thompson sampling over ``n`` arms, Plackett-Luce beyond the first position,
    Gaussian sampling from model uncertainty). The policy draws ``N`` further slates from the same
    state with a separate generator and counts how often the shown item lands at its position. The
    shown slate is counted as one more draw: ``p_hat = (hits + 1) / (N + 1)``. All ``N + 1`` draws come
    from the same distribution, so ``p_hat`` is unbiased, and it is never 0 for what was shown, which
    inverse propensity weighting requires. Its standard error is ``sqrt(p (1 - p) / (N + 1))``
    (:func:`monte_carlo_standard_error`); the tests check the estimate against the exact value
    wherever one exists (epsilon-greedy, softmax first position, two- and many-arm Beta draws by
    quadrature, :func:`beta_first_position_probabilities`).

For estimating a whole action distribution (e.g. the Open Bandit Dataset's Bernoulli TS over 80
items, which has no context, so one distribution serves every round) use
``policy.propensity_matrix(candidates, k)`` with a large ``n_mc``; draws are made in chunks of
bounded memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import integrate, stats

from explorec.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


def monte_carlo_standard_error(p: npt.ArrayLike, n: int) -> FloatArray:
    """Standard error of a Monte-Carlo frequency ``p`` estimated from ``n`` draws."""
    if n <= 0:
        raise ConfigError(f"n must be > 0, got {n!r}")
    q = np.asarray(p, dtype=np.float64)
    return np.asarray(np.sqrt(q * (1.0 - q) / n), dtype=np.float64)


def beta_first_position_probabilities(alpha: npt.ArrayLike, beta: npt.ArrayLike) -> FloatArray:
    """Exact ``P(arm i has the largest draw)`` for independent ``Beta(alpha_i, beta_i)`` draws.

    ``P_i = integral_0^1 f_i(x) prod_{j != i} F_j(x) dx`` by adaptive quadrature (scipy ``quad``),
    i.e. the position-0 propensity of Bernoulli Thompson sampling. Cost grows with the number of
    arms; meant for checks and small arm sets.

    Returns
    -------
    float64[n_arms], summing to 1 up to quadrature error.
    """
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    b = np.asarray(beta, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or np.any(a <= 0) or np.any(b <= 0):
        raise ConfigError("alpha and beta must be positive arrays of the same length")
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        others = [j for j in range(a.shape[0]) if j != i]

        def integrand(x: float, i: int = i, others: list[int] = others) -> float:
            value = float(stats.beta.pdf(x, a[i], b[i]))
            for j in others:
                value *= float(stats.beta.cdf(x, a[j], b[j]))
            return value

        # concentrate the quadrature where the arm's density lives
        lo, hi = stats.beta.ppf([1e-12, 1 - 1e-12], a[i], b[i])
        out[i] = integrate.quad(integrand, float(lo), float(hi), limit=200, epsabs=1e-12)[0]
    return out


def position_marginals(rankings: npt.ArrayLike, n: int) -> FloatArray:
    """Empirical ``P[c, j]`` from observed rankings int[m, k] over ``n`` candidates."""
    r = np.asarray(rankings, dtype=np.int64)
    if r.ndim != 2:
        raise ConfigError(f"rankings must be int[m, k], got shape {r.shape}")
    m, k = r.shape
    flat = r * k + np.arange(k)[None, :]
    return np.bincount(flat.ravel(), minlength=n * k).reshape(n, k) / max(m, 1)
