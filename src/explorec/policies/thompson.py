"""Thompson sampling: Bernoulli/Beta for small arm sets, and linear-Gaussian over feature rows.

``BernoulliTS`` (Thompson 1933; Chapelle & Li 2011) keeps a ``Beta(alpha_i + clicks_i,
beta_i + shows_i - clicks_i)`` posterior per item, draws one click rate per candidate and shows
the ``k`` largest draws. The prior is either flat, given per item (``alpha``/``beta`` arrays, e.g.
the production prior of the Open Bandit Dataset's Bernoulli TS) or centred on the model score
(``prior_weight > 0``: ``alpha_i = 1 + w s_i``, ``beta_i = 1 + w (1 - s_i)``).

``LinearTS`` (Agrawal & Goyal 2013) keeps the ridge posterior ``N(theta_hat, v^2 A^-1)`` with
``A = lambda I + sum x x^T`` (inverse kept by Sherman-Morrison updates) and ``theta_hat = A^-1 b``,
draws ``theta`` and shows the ``k`` candidates with the largest ``x_c . theta``.

Neither has a closed-form position marginal for ``k`` of ``n`` arms, so the slate's propensities come
from the geometric inverse-propensity estimator over further posterior draws, capped at ``n_mc``
(see :mod:`explorec.policies.propensity`); ``propensity_method`` records ``"geometric:N"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError
from explorec.policies.base import (
    FeedbackBatch,
    FloatArray,
    IntArray,
    Policy,
    check_feature_rows,
    position_weights,
    top_k,
)
from explorec.policies.linucb import RidgeState, _targets
from explorec.policies.ucb import ArmStats
from explorec.types import CandidateFrame


class BernoulliTS(Policy):
    """Beta-Bernoulli Thompson sampling over items.

    Parameters
    ----------
    alpha, beta : float or float[n_items]
        Prior pseudo-counts (a scalar for every item, or one value per item index).
    prior_weight : float >= 0
        When > 0, the candidate scores (read as click probabilities in [0, 1]) shift the prior:
        ``alpha + prior_weight * s`` and ``beta + prior_weight * (1 - s)``.
    examination : sequence of float, optional
        Examination probability per position: a non-click at a rarely seen position adds only that
        fraction of a failure.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.
    """

    name = "ts"

    def __init__(
        self,
        *,
        alpha: float | Sequence[float] | npt.NDArray[np.float64] = 1.0,
        beta: float | Sequence[float] | npt.NDArray[np.float64] = 1.0,
        prior_weight: float = 0.0,
        examination: Sequence[float] | None = None,
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        a = np.asarray(alpha, dtype=np.float64)
        b = np.asarray(beta, dtype=np.float64)
        if np.any(a <= 0) or np.any(b <= 0):
            raise ConfigError("alpha and beta must be > 0")
        if a.shape != b.shape and a.ndim and b.ndim:
            raise ConfigError(f"alpha has shape {a.shape} but beta {b.shape}")
        if prior_weight < 0:
            raise ConfigError(f"prior_weight must be >= 0, got {prior_weight!r}")
        self.alpha = alpha
        self.beta = beta
        self.prior_weight = prior_weight
        self.examination = examination
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.stats_ = ArmStats()

    def _prior(self, items: IntArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
        a = np.asarray(self.alpha, dtype=np.float64)
        b = np.asarray(self.beta, dtype=np.float64)
        if a.ndim:
            if items.max() >= a.shape[0]:
                raise DataError(f"item {int(items.max())} has no prior: alpha/beta cover {a.shape[0]} items")
            a = a[items]
            b = b[items]
        else:
            a = np.full(items.shape[0], float(a))
            b = np.full(items.shape[0], float(b))
        if self.prior_weight > 0:
            s = np.clip(scores, 0.0, 1.0)
            a = a + self.prior_weight * s
            b = b + self.prior_weight * (1.0 - s)
        return a, b

    def posterior(self, items: IntArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Beta posterior parameters (a, b) of the candidates, float64[n] each."""
        a, b = self._prior(items, scores)
        shows, clicks = self.stats_.get(items)
        return a + clicks, b + np.maximum(shows - clicks, 0.0)

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        a, b = self.posterior(frame.items, frame.scores.astype(np.float64))
        draws = rng.beta(a[None, :], b[None, :], size=(n, a.shape[0]))  # [n, n_cand]
        return top_k(draws, k)

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return self._rank_many(frame, k, rng, 1)[0]

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        a, b = self.posterior(frame.items, frame.scores.astype(np.float64))
        return a / (a + b)

    def _update(self, batch: FeedbackBatch) -> None:
        if np.any((batch.rewards < 0) | (batch.rewards > 1)):
            bad = int(np.flatnonzero((batch.rewards < 0) | (batch.rewards > 1))[0])
            raise DataError(
                f"BernoulliTS: feedback record {bad} has reward {batch.rewards[bad]}, outside [0, 1]"
            )
        self.stats_.add(batch.items, position_weights(self.examination, batch.positions), batch.rewards)


class LinearTS(Policy):
    """Linear Thompson sampling with one weight vector shared by all candidates.

    Parameters
    ----------
    v : float >= 0
        Posterior scale (``theta ~ N(theta_hat, v^2 A^-1)``); 0 is greedy on ``theta_hat``.
    ridge : float > 0
        ``lambda`` of ``A = lambda I + sum x x^T``.
    examination : sequence of float, optional
        Examination probability per position; shown rows enter the regression scaled by it (the
        position-based model, as in :class:`~explorec.policies.linucb.LinUCB`).
    offset : bool
        Take the candidate score as prior mean and learn the residual (see ``LinUCB``).
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.

    ``select`` needs the frame's ``features`` column: float[n_candidates, d], one feature row per
    candidate (``context=`` is the shorthand).
    """

    name = "lints"
    requires = ("features",)

    def __init__(
        self,
        *,
        v: float = 0.5,
        ridge: float = 1.0,
        examination: Sequence[float] | None = None,
        offset: bool = False,
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        if v < 0:
            raise ConfigError(f"v must be >= 0, got {v!r}")
        if not ridge > 0:
            raise ConfigError(f"ridge must be > 0, got {ridge!r}")
        self.v = v
        self.ridge = ridge
        self.examination = examination
        self.offset = offset
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.state_: RidgeState | None = None

    def design_matrix(self, frame: CandidateFrame) -> FloatArray:
        return check_feature_rows(frame.column("features"), len(frame), "LinearTS")

    def _check_frame(self, frame: CandidateFrame) -> None:
        x = self.design_matrix(frame)
        if self.state_ is None:
            self.state_ = RidgeState(x.shape[1], self.ridge)
        elif x.shape[1] != self.state_.dim:
            raise DataError(
                f"LinearTS: the features have {x.shape[1]} columns, the policy learned {self.state_.dim}"
            )

    def _thetas(self, rng: np.random.Generator, n: int) -> FloatArray:
        assert self.state_ is not None
        theta = self.state_.theta()  # [d]
        chol = self.state_.cholesky_of_inverse()  # [d, d]
        z = rng.standard_normal((n, theta.shape[0]))  # [n, d]
        return theta[None, :] + self.v * z @ chol.T  # [n, d]

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        values = self._thetas(rng, n) @ self.design_matrix(frame).T  # [n, n_cand]
        if self.offset:
            values = values + frame.scores.astype(np.float64)[None, :]
        return top_k(values, k)

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return self._rank_many(frame, k, rng, 1)[0]

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        assert self.state_ is not None
        mean = self.design_matrix(frame) @ self.state_.theta()
        return np.asarray(mean + (frame.scores if self.offset else 0.0), dtype=np.float64)

    def _update(self, batch: FeedbackBatch) -> None:
        if batch.contexts is None:
            raise DataError("LinearTS.update: feedback needs the context vector of each shown item")
        if self.state_ is None:
            self.state_ = RidgeState(batch.contexts.shape[1], self.ridge)
        e = position_weights(self.examination, batch.positions)
        self.state_.add(batch.contexts * e[:, None], _targets(batch, e, self.offset, "LinearTS"))
