"""Greedy: show the first ``k`` candidates in the frame's order; no exploration."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorec.policies.base import FloatArray, IntArray, Policy, one_hot_matrix
from explorec.types import CandidateFrame


class Greedy(Policy):
    """The first ``k`` candidates in the frame's order: the score order (ties: lower item index), or
    the re-rankers' order when they ran. Every propensity is exactly 1.

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

    def ranks_read(self, k: int, n: int) -> int:
        """``k``: the first ``k`` rows are shown, the order of the others is never read."""
        return min(k, n)

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return np.arange(k, dtype=np.int64)  # rows come in position order

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        return np.tile(self._rank(frame, k, rng), (n, 1))

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray:
        return one_hot_matrix(np.arange(k, dtype=np.int64), len(frame))

    def _explored(self, frame: CandidateFrame, k: int, rank: IntArray) -> npt.NDArray[np.bool_]:
        return np.zeros(k, dtype=bool)
