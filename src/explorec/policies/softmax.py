"""Softmax (Boltzmann) exploration: sample the slate from a Plackett-Luce model over the scores.

Position 0 shows candidate ``i`` with probability ``softmax(s / temperature)_i``; every next
position samples from the candidates not yet shown, renormalised (sampling without replacement,
Plackett 1975, Luce 1959). Draws use the Gumbel-top-k trick: the ``k`` largest of
``s_i / temperature + G_i`` with i.i.d. standard Gumbel ``G_i`` form an exact Plackett-Luce sample
(Kool, van Hoof & Welling 2019).

Propensities. ``P(i at position 0)`` is the softmax itself (exact). For later positions the marginal
``P(i at position j)`` sums over every ordered prefix of length ``j`` (``O(n^j)`` terms), so it is
estimated by Monte Carlo (:mod:`explorec.policies.propensity`); the slate records
``propensity_method = "exact[0]+monte-carlo:N"`` (or ``"exact"`` when ``k = 1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explorec.errors import ConfigError
from explorec.policies.base import FloatArray, IntArray, Policy, _as_candidates, top_k_rows


class Softmax(Policy):
    """Boltzmann exploration over the candidate scores.

    Parameters
    ----------
    temperature : float > 0
        Lower is greedier; the logits are ``scores / temperature``.
    standardize : bool
        Z-score the candidate scores of each request first, so that ``temperature`` does not
        depend on the model's score scale.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.
    """

    name = "softmax"

    def __init__(
        self, *, temperature: float = 1.0, standardize: bool = True, seed: int = 0, n_mc: int = 1000
    ) -> None:
        if not temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = temperature
        self.standardize = standardize
        super().__init__(seed=seed, n_mc=n_mc)

    def logits(self, scores: FloatArray) -> FloatArray:
        """float64[n]: the Plackett-Luce log-weights of the candidates."""
        s = np.asarray(scores, dtype=np.float64)
        if self.standardize and s.size > 1:
            sd = s.std()
            s = (s - s.mean()) / (sd if sd > 0 else 1.0)
        return s / self.temperature

    def first_position_probabilities(self, scores: FloatArray) -> FloatArray:
        """Exact ``P(i at position 0)``: the softmax of the logits, float64[n]."""
        z = self.logits(scores)
        e = np.exp(z - z.max())
        return e / e.sum()

    def _rank_many(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator, n: int
    ) -> IntArray:
        z = self.logits(scores)
        keys = z[None, :] + rng.gumbel(size=(n, z.shape[0]))  # [n, n_cand]
        return top_k_rows(keys, k)

    def _rank(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator
    ) -> IntArray:
        return self._rank_many(items, scores, k, context, rng, 1)[0]

    def _exact_matrix(self, items: IntArray, scores: FloatArray, k: int, context: Any) -> FloatArray | None:
        if k == 1:
            return self.first_position_probabilities(scores)[:, None]
        return None

    def propensity_matrix(
        self,
        candidates: Any,
        k: int,
        *,
        scores: Any = None,
        context: Any = None,
    ) -> tuple[FloatArray, str]:
        """As :meth:`Policy.propensity_matrix`, with the exact softmax in column 0."""
        matrix, method = super().propensity_matrix(candidates, k, scores=scores, context=context)
        if method == "exact":
            return matrix, method
        _, sc = _as_candidates(candidates, scores)
        matrix[:, 0] = self.first_position_probabilities(sc)
        return matrix, f"exact[0]+{method}"

    def _propensities(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rank: IntArray
    ) -> tuple[FloatArray, str]:
        if k == 1:
            return self.first_position_probabilities(scores)[rank], "exact"
        props = self._monte_carlo(items, scores, k, context, rank)
        props[0] = self.first_position_probabilities(scores)[rank[0]]
        return props, f"exact[0]+monte-carlo:{self.n_mc}"
