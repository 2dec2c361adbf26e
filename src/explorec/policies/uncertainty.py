"""Selection from model uncertainty: optimism (``mean + beta * std``) or sampling (``mean + std * N(0, 1)``).

The model supplies, per candidate, a predicted score and its standard deviation, e.g. from
``SASRec.score_uncertainty(users, history=..., n_samples=...) -> (mean, std)`` (Monte-Carlo dropout
or an ensemble) — any pair of float arrays of the same length works. Candidates whose score the
model is unsure about get a bonus ("optimism in the face of uncertainty", Auer 2002); with
``sample=True`` each candidate's score is drawn from ``N(mean, std^2)`` instead (Gaussian Thompson
sampling).

Propensities: exact (1) for the deterministic optimistic rule; Monte-Carlo over further draws when
sampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError
from explorec.policies.base import FloatArray, IntArray, Policy, one_hot_matrix, top_k, top_k_rows
from explorec.types import Slate


class UncertaintyPolicy(Policy):
    """Rank candidates by ``mean + beta * std`` (or by a draw from ``N(mean, std^2)``).

    Parameters
    ----------
    beta : float >= 0
        Weight of the standard deviation (``sample=False``).
    sample : bool
        Draw scores from ``N(mean, std^2)`` instead of adding ``beta * std``.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.

    ``select(candidates, k, context=std)``: the candidates' scores are the means and ``context`` the
    standard deviations, float[n] >= 0. :meth:`select_from` takes the two arrays directly.
    """

    name = "uncertainty"

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

    def _check_context(self, context: Any, n: int) -> FloatArray:
        if context is None:
            raise ConfigError("UncertaintyPolicy needs context=std, float[n_candidates]")
        std = np.asarray(context, dtype=np.float64).reshape(-1)
        if std.shape[0] != n:
            raise DataError(f"UncertaintyPolicy: {std.shape[0]} standard deviations for {n} candidates")
        bad = ~np.isfinite(std) | (std < 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"UncertaintyPolicy: std of candidate {j} is {std[j]}; must be finite and >= 0")
        return std

    def _rank_many(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator, n: int
    ) -> IntArray:
        if not self.sample:
            return np.tile(self._rank(items, scores, k, context, rng), (n, 1))
        draws = scores[None, :] + context[None, :] * rng.standard_normal((n, scores.shape[0]))  # [n, n_cand]
        return top_k_rows(draws, k)

    def _rank(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator
    ) -> IntArray:
        if self.sample:
            return self._rank_many(items, scores, k, context, rng, 1)[0]
        return top_k(scores + self.beta * context, k)

    def _exact_matrix(self, items: IntArray, scores: FloatArray, k: int, context: Any) -> FloatArray | None:
        if self.sample:
            return None
        return one_hot_matrix(top_k(scores + self.beta * context, k), scores.shape[0])
