"""Epsilon-greedy with per-slot exploration: exploit the top slots, explore the others.

Each of the ``k`` slots is an exploration slot with probability ``epsilon``; the number of
exploration slots is therefore ``M ~ Binomial(k, epsilon)``. The first ``k - M`` positions show the
first ``k - M`` candidates of the frame's order (the score order, or the re-rankers'; exploitation),
and the last ``M`` positions show a uniformly random ordered sample, without replacement, of the
remaining candidates. The best items thus keep the most visible positions, and exploration only
ever replaces the lower slots — unlike epsilon-greedy over whole lists, which shuffles everything
``epsilon`` of the time.

Exact propensities (closed form). Let ``r`` be a candidate's rank in the frame's order (0 = first), ``n`` the
number of candidates and ``B(m) = C(k, m) epsilon^m (1 - epsilon)^(k - m)``. Position ``j`` is an
exploration slot when ``m >= k - j``; rank ``r`` is in the exploration pool when ``m >= k - r``, and
each pool member is equally likely to be drawn into a given exploration slot, with probability
``1 / (n - k + m)``. Hence

    P(rank r at position j) = 1[r = j] * P(M <= k - 1 - j)
                              + sum_{m >= max(k - j, k - r)} B(m) / (n - k + m).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
from scipy.stats import binom

from explorec.errors import check_range
from explorec.policies.base import FloatArray, IntArray, Policy
from explorec.types import CandidateFrame


def epsilon_greedy_rank_matrix(n: int, k: int, epsilon: float) -> FloatArray:
    """``P[r, j]``: probability that the candidate of score rank ``r`` is shown at position ``j``.

    Parameters
    ----------
    n : int
        Number of candidates (``n >= k``).
    k : int
        Slate length.
    epsilon : float
        Per-slot exploration probability.

    Returns
    -------
    float64[n, k]
        Columns sum to 1 (each position shows exactly one item); rows sum to the probability that
        the candidate is shown at all.
    """
    # computed once per (n, k, epsilon): scipy's binom costs ~0.3 ms per call and a service builds
    # the same matrix for every slate; callers get their own copy
    return _rank_matrix(int(n), int(k), float(epsilon)).copy()


@functools.lru_cache(maxsize=256)
def _rank_matrix(n: int, k: int, epsilon: float) -> FloatArray:
    m = np.arange(k + 1)
    pm = binom.pmf(m, k, epsilon)  # [k + 1]
    per_draw = pm / np.maximum(n - k + m, 1)  # [k + 1] one pool member in one slot given m (m = 0: unused)
    # tail[t] = sum_{m >= t} per_draw[m]
    tail = np.concatenate([np.cumsum(per_draw[::-1])[::-1], [0.0]])  # [k + 2]
    r = np.arange(n)[:, None]  # [n, 1]
    j = np.arange(k)[None, :]  # [1, k]
    start = np.maximum(k - j, np.maximum(k - r, 0))  # [n, k]
    explore = tail[np.minimum(start, k + 1)]
    exploit_prob = binom.cdf(k - 1 - np.arange(k), k, epsilon)  # P(M <= k - 1 - j), [k]
    exploit = np.zeros((n, k))
    exploit[np.arange(k), np.arange(k)] = exploit_prob
    return exploit + explore


class EpsilonGreedy(Policy):
    """Per-slot epsilon-greedy (exploit the top slots, explore the lower ones).

    Parameters
    ----------
    epsilon : float in [0, 1]
        Probability that a slot is an exploration slot.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.

    Examples
    --------
    >>> import numpy as np
    >>> pol = EpsilonGreedy(epsilon=0.5, seed=1)
    >>> slate = pol.select(np.arange(6), 3, scores=np.array([6.0, 5, 4, 3, 2, 1]))
    >>> slate.items[0] in {0, 1, 2, 3, 4, 5}, slate.propensity_method
    (True, 'exact')
    """

    name = "eps-greedy"

    def __init__(self, *, epsilon: float = 0.1, seed: int = 0, n_mc: int = 1000) -> None:
        self.epsilon = epsilon
        check_range("epsilon", epsilon, 0.0, 1.0)
        super().__init__(seed=seed, n_mc=n_mc)

    def ranks_read(self, k: int, n: int) -> int:
        """``k``: ranks from ``k`` on are only ever drawn uniformly into exploration slots (their
        propensities do not depend on the rank), so their order does not change the slate's law."""
        return min(k, n)

    def _draws(self, n_cand: int, k: int, rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray]:
        """``n`` draws: (rows int64[n, k] in display order, exploration slots per draw int64[n])."""
        m = rng.binomial(k, self.epsilon, size=n)  # [n] exploration slots per draw
        keys = rng.random((n, n_cand))  # [n, n_cand] random order of the exploration pool
        ranks = np.arange(n_cand)[None, :]
        exploited = ranks < (k - m)[:, None]  # [n, n_cand]
        keys = np.where(exploited, ranks - n_cand - 1.0, keys)  # exploited ranks first, in rank order
        return np.argsort(keys, axis=1, kind="stable")[:, :k].astype(np.int64), m

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        return self._draws(len(frame), k, rng, n)[0]

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return self._draws(len(frame), k, rng, 1)[0][0]

    def _draw(
        self, frame: CandidateFrame, k: int, rng: np.random.Generator
    ) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        ranks, m = self._draws(len(frame), k, rng, 1)
        return ranks[0], np.arange(k) >= k - int(m[0])

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray:
        return epsilon_greedy_rank_matrix(len(frame), k, self.epsilon)  # rows are in rank order
