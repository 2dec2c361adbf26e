"""Propensities: the probability that a policy shows an item at a position, exact or estimated.

Off-policy evaluation weighs each logged impression by ``pi_e(item, position | x) /
pi_b(item, position | x)``, so every slate records ``P(item shown at position j | context)`` for the
policy that built it, and how that number was obtained (``Slate.propensity_method``):

``"exact"``
    A closed form exists: deterministic policies (greedy, UCB, LinUCB, optimistic uncertainty:
    probability 1 for what is shown), per-slot epsilon-greedy (a Binomial mixture, see
    :func:`explorec.policies.epsilon_greedy.epsilon_greedy_rank_matrix`), the exploration budget
    (uniform draws from pools of known size), softmax with ``k = 1``.
``"exact[0]+geometric:N"``
    Softmax (Plackett-Luce): the first position is the softmax itself, later positions use the
    geometric estimator below.
``"geometric:N"``
    No closed form (Thompson sampling over ``n`` arms, Plackett-Luce beyond the first position,
    Gaussian sampling from model uncertainty, a budget with a stochastic explorer). What IPS needs
    is ``1 / p``, not ``p``: it divides by the propensity. So the policy estimates the *inverse*
    without bias: from the same state, with a separate generator, it draws fresh slates until slot
    ``j`` shows the item that was shown there; the number of draws ``G_j`` is geometric with success
    probability ``p_j``, so ``E[G_j] = 1 / p_j`` exactly. The slate records ``1 / G_j`` as the
    propensity (in ``(0, 1]``), and IPS weights ``pi_e / (1 / G_j)`` are unbiased. Draws stop at the
    cap ``N`` (``n_mc``); a slot not hit by then records ``1 / N``. The cap biases the inverse by
    ``-(1 - p) ** N / p``, i.e. the relative bias of the weight is ``-(1 - p) ** N``, at most
    ``exp(-p N)`` in size (:func:`geometric_relative_bias`): ``4.5e-5`` at ``p = 0.01``,
    ``N = 1000``. The variance of the weight grows from 0 (exact ``1 / p``) to ``(1 - p) / p**2``.

    Why not the frequency ``(hits + 1) / (N + 1)`` of ``N`` further draws (what explorec used before,
    and wrongly called unbiased)? It estimates ``p`` nearly without bias, but ``1 / p_hat`` is biased
    low by Jensen's inequality: ``p * E[1 / p_hat]`` is about ``0.64`` at ``p = 0.01, N = 100`` and
    ``0.86`` at ``p = 0.002, N = 1000``, so IPS under-weighted rare slots by up to a third. A test
    (``tests/policies/test_propensity.py``) shows the old estimator failing and the new one passing
    on the IPS value of a known policy over many seeds.

:meth:`~explorec.policies.base.Policy.propensity_matrix` still returns frequencies
(``"monte-carlo:N"``): an unbiased estimate of each probability, which is what an *evaluation*
policy's action distribution needs (it multiplies, it does not divide). The tests check the exact
forms against empirical frequencies wherever they exist (epsilon-greedy, softmax first position,
two- and many-arm Beta draws by quadrature, :func:`beta_first_position_probabilities`), and the
shared policy suite checks every registered policy's logged propensities against the frequencies
of its own draws.

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


def geometric_relative_bias(p: npt.ArrayLike, cap: int) -> FloatArray:
    """Relative bias ``E[min(G, cap)] p - 1 = -(1 - p) ** cap`` of the capped geometric inverse
    propensity (``G`` geometric with success probability ``p``)."""
    if cap <= 0:
        raise ConfigError(f"cap must be > 0, got {cap!r}")
    q = np.asarray(p, dtype=np.float64)
    return np.asarray(-((1.0 - q) ** cap), dtype=np.float64)


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
