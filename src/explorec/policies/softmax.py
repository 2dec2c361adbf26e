"""Softmax (Boltzmann) exploration: sample the slate from a Plackett-Luce model over the scores.

Position 0 shows candidate ``i`` with probability ``softmax(s / temperature)_i``; every next
position samples from the candidates not yet shown, renormalised (sampling without replacement,
Plackett 1975, Luce 1959). Draws use the Gumbel-top-k trick: the ``k`` largest of
``s_i / temperature + G_i`` with i.i.d. standard Gumbel ``G_i`` form an exact Plackett-Luce sample
(Kool, van Hoof & Welling 2019).

The logits are the frame's own model scores (a re-ranker's order is not used: the draw is over
scores, as Plackett-Luce defines it).

Propensities. ``P(i at position 0)`` is the softmax itself (exact). For later positions the marginal
``P(i at position j)`` sums over every ordered prefix of length ``j`` (``O(n^j)`` terms), so its
inverse is estimated by the geometric estimator (:mod:`explorec.policies.propensity`); the slate
records ``propensity_method = "exact[0]+geometric:N"`` (or ``"exact"`` when ``k = 1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError
from explorec.policies.base import FloatArray, IntArray, Policy, top_k
from explorec.types import CandidateFrame


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

    def logits(self, scores: npt.ArrayLike) -> FloatArray:
        """float64[n]: the Plackett-Luce log-weights of the candidates."""
        s = np.asarray(scores, dtype=np.float64)
        if self.standardize and s.size > 1:
            sd = s.std()
            s = (s - s.mean()) / (sd if sd > 0 else 1.0)
        return s / self.temperature

    def first_position_probabilities(self, scores: npt.ArrayLike) -> FloatArray:
        """Exact ``P(i at position 0)``: the softmax of the logits, float64[n]."""
        z = self.logits(scores)
        e = np.exp(z - z.max())
        return e / e.sum()

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        z = self.logits(frame.scores)
        keys = z[None, :] + rng.gumbel(size=(n, z.shape[0]))  # [n, n_cand]
        return top_k(keys, k)

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return self._rank_many(frame, k, rng, 1)[0]

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray | None:
        if k == 1:
            return self.first_position_probabilities(frame.scores)[:, None]
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
        frame, rows, _ = self._frame(candidates, scores, context)
        matrix[:, 0] = 0.0
        matrix[rows, 0] = self.first_position_probabilities(frame.scores)
        return matrix, f"exact[0]+{method}"

    def _propensities(self, frame: CandidateFrame, k: int, rank: IntArray) -> tuple[FloatArray, str]:
        first = self.first_position_probabilities(frame.scores)
        if k == 1:
            return first[rank], "exact"
        props = self._geometric(frame, k, rank)
        props[0] = first[rank[0]]
        return props, f"exact[0]+geometric:{self.n_mc}"
