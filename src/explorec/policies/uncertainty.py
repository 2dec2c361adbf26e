"""Selection from model uncertainty: optimism (``mean + beta * std``) or sampling (``mean + std * N(0, 1)``).

The model supplies, per candidate, a predicted score and its standard deviation, e.g. from
``SASRec.score_uncertainty(users, history=..., n_samples=...) -> (mean, std)`` (Monte-Carlo dropout
or an ensemble) — any pair of float arrays of the same length works. Candidates whose score the
model is unsure about get a bonus ("optimism in the face of uncertainty", Auer 2002); with
``sample=True`` each candidate's score is drawn from ``N(mean, std^2)`` instead (Gaussian Thompson
sampling).

The standard deviations come in the frame's ``uncertainty`` column (``requires``), built by
:func:`explorec.pipeline.build_columns` from a model's ``score_uncertainty``.

Propensities: exact (1) for the deterministic optimistic rule; the geometric inverse-propensity
estimate (:mod:`explorec.policies.propensity`) when sampling.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError
from explorec.policies.base import FloatArray, IntArray, Policy, one_hot_matrix, top_k
from explorec.types import CandidateFrame, Slate


class UncertaintyPolicy(Policy):
    """Rank candidates by ``mean + beta * std`` (or by a draw from ``N(mean, std^2)``).

    Parameters
    ----------
    beta : float >= 0
        Weight of the standard deviation (``sample=False``).
    sample : bool
        Draw scores from ``N(mean, std^2)`` instead of adding ``beta * std``.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.

    ``select(frame, k)``: the frame's scores are the means and its ``uncertainty`` column the
    standard deviations, float[n] >= 0 (``context=std`` is the shorthand). :meth:`select_from` takes
    the two arrays directly.
    """

    name = "uncertainty"
    requires = ("uncertainty",)

    def __init__(self, *, beta: float = 1.0, sample: bool = False, seed: int = 0, n_mc: int = 1000) -> None:
        if beta < 0:
            raise ConfigError(f"beta must be >= 0, got {beta!r}")
        self.beta = beta
        self.sample = sample
        super().__init__(seed=seed, n_mc=n_mc)

    def select_from(
        self, mean: npt.ArrayLike, std: npt.ArrayLike, k: int, *, items: npt.ArrayLike | None = None
    ) -> Slate:
        """Select from a model's ``(mean, std)`` arrays (candidates ``items``, default ``0..n-1``)."""
        m = np.asarray(mean, dtype=np.float64).reshape(-1)
        it = np.arange(m.shape[0]) if items is None else np.asarray(items, dtype=np.int64).reshape(-1)
        return self.select(it, k, scores=m, context=std)

    def _check_frame(self, frame: CandidateFrame) -> None:
        std = np.asarray(frame.column("uncertainty"), dtype=np.float64)
        if std.shape != (len(frame),):
            raise DataError(f"UncertaintyPolicy: {std.shape} standard deviations for {len(frame)} candidates")
        bad = ~np.isfinite(std) | (std < 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"UncertaintyPolicy: std of item {int(frame.items[j])} is {std[j]}; must be finite and >= 0"
            )

    @staticmethod
    def _mean_std(frame: CandidateFrame) -> tuple[FloatArray, FloatArray]:
        return frame.scores.astype(np.float64), np.asarray(frame.column("uncertainty"), dtype=np.float64)

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        if not self.sample:
            return np.tile(self._rank(frame, k, rng), (n, 1))
        mean, std = self._mean_std(frame)
        draws = mean[None, :] + std[None, :] * rng.standard_normal((n, mean.shape[0]))  # [n, n_cand]
        return top_k(draws, k)

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        if self.sample:
            return self._rank_many(frame, k, rng, 1)[0]
        mean, std = self._mean_std(frame)
        return top_k(mean + self.beta * std, k)

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray | None:
        if self.sample:
            return None
        return one_hot_matrix(self._rank(frame, k, self.rng_), len(frame))
