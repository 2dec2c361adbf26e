"""Greedy: show the ``k`` best-scored candidates; no exploration."""

from __future__ import annotations

from typing import Any

import numpy as np

from explorec.policies.base import FloatArray, IntArray, Policy, one_hot_matrix, top_k


class Greedy(Policy):
    """Top-``k`` by score (ties: earlier candidate first). Every propensity is exactly 1.

    Greedy learns nothing itself; the model behind it learns on refit.

    Examples
    --------
    >>> import numpy as np
    >>> slate = Greedy().select(np.array([7, 8, 9]), 2, scores=np.array([0.1, 0.9, 0.5]))
    >>> slate.items.tolist(), slate.propensities.tolist()
    ([8, 9], [1.0, 1.0])
    """

    name = "greedy"

    def __init__(self, *, seed: int = 0, n_mc: int = 1000) -> None:
        super().__init__(seed=seed, n_mc=n_mc)

    def _rank(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator
    ) -> IntArray:
        return top_k(scores, k)

    def _exact_matrix(self, items: IntArray, scores: FloatArray, k: int, context: Any) -> FloatArray:
        return one_hot_matrix(top_k(scores, k), scores.shape[0])
