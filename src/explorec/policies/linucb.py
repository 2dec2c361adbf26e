"""LinUCB (Li, Chu, Langford & Schapire, WWW 2010): disjoint and hybrid linear models with
upper-confidence ranking, updated incrementally with the Sherman-Morrison formula.

Every candidate comes with a feature row (the frame's ``features`` column, float[n, d]): for
instance the item's vector from the language model (``explorec.encoders.item_vectors``) multiplied
element-wise by the user's profile, plus the model score. The policy shows the ``k`` candidates
with the largest

* disjoint (Algorithm 1): ``x . theta_a + alpha * sqrt(x^T A_a^-1 x)`` with one ridge model per item
  ``a`` (``A_a = lambda I + sum x x^T``, ``theta_a = A_a^-1 b_a``), or one model shared by every item
  (``arms="shared"``), which generalises to items never shown through their features;
* hybrid (Algorithm 2): ``z . beta + x . theta_a + alpha * sqrt(s)``, where the first
  ``shared_dim`` columns ``z`` of a row have a coefficient ``beta`` shared by all items and the rest
  ``x`` a coefficient ``theta_a`` per item, and ``s`` is the variance of the joint ridge estimate (eq. in
  Algorithm 2, line 12).

``A^-1`` is never recomputed from scratch: a rank-one update ``A + x x^T`` changes it by
``- (A^-1 x)(A^-1 x)^T / (1 + x^T A^-1 x)`` (Sherman & Morrison 1950). The hybrid's shared
``k x k`` matrix ``A_0`` changes by a rank > 1 amount per update (Algorithm 2, lines 17-22); it is kept
as is and inverted once per ``select`` (``shared_dim`` is small).

Position bias (``examination``): under the position-based click model ``E[click] = e_l * x . theta``
with examination probability ``e_l`` of position ``l``, so a shown row is entered into the regression
as ``e_l * x`` (cf. the position-discounted updates of Li et al., "Contextual combinatorial cascading
bandits", ICML 2016) and the index is computed for an examined slot (``e = 1``).

Model scores as prior (``offset=True``): the candidate score (e.g. a calibrated click probability
from the recommender) is taken as the prior mean and the linear model learns the residual, so the
policy starts as greedy on the score and departs from it only where feedback (or optimism) says so.

The index is deterministic given the state: propensities are exactly 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError
from explorec.policies.base import (
    FeedbackBatch,
    FloatArray,
    IntArray,
    Policy,
    check_feature_rows,
    one_hot_matrix,
    position_weights,
    top_k,
)
from explorec.types import CandidateFrame


def sherman_morrison(a_inv: FloatArray, x: FloatArray) -> FloatArray:
    """``(A + x x^T)^-1`` from ``A^-1`` (float64[d, d]) and ``x`` (float64[d]), for symmetric ``A``."""
    u = a_inv @ x  # [d]
    return a_inv - np.outer(u, u) / (1.0 + x @ u)


class RidgeState:
    """One ridge regression ``A = lambda I + sum x x^T``, ``b = sum r x`` with ``A^-1`` kept incrementally."""

    def __init__(self, dim: int, ridge: float) -> None:
        self.dim = dim
        self.ridge = ridge
        self.a_inv = np.eye(dim) / ridge
        self.b = np.zeros(dim)
        self.n = 0

    def add(self, x: FloatArray, rewards: FloatArray) -> None:
        """Add rows ``x`` (float64[m, d]) with ``rewards`` (float64[m]) one by one."""
        for row, r in zip(x, rewards, strict=True):
            self.a_inv = sherman_morrison(self.a_inv, row)
            self.b += r * row
        self.a_inv = 0.5 * (self.a_inv + self.a_inv.T)  # keep it symmetric against rounding drift
        self.n += x.shape[0]

    def theta(self) -> FloatArray:
        return np.asarray(self.a_inv @ self.b, dtype=np.float64)

    def width(self, x: FloatArray) -> FloatArray:
        """``sqrt(x^T A^-1 x)`` per row of float64[n, d]."""
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", x, self.a_inv, x), 0.0))

    def cholesky_of_inverse(self) -> FloatArray:
        """Lower-triangular ``L`` with ``L L^T = A^-1``."""
        return np.asarray(np.linalg.cholesky(self.a_inv), dtype=np.float64)


class _OptimisticIndex(Policy):
    """Shared hooks of the LinUCB family: rank by ``offset*score + mean + alpha * width`` (deterministic).

    Subclasses provide ``alpha``, ``offset``, ``_init_dim(d)`` and ``estimates(items, context) ->
    (mean, width)``.
    """

    alpha: float
    offset: bool

    def _init_dim(self, d: int) -> None:
        raise NotImplementedError

    def estimates(self, items: IntArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    def design_matrix(self, frame: CandidateFrame) -> FloatArray:
        return check_feature_rows(frame.column("features"), len(frame), type(self).__name__)

    def _check_frame(self, frame: CandidateFrame) -> None:
        self._init_dim(self.design_matrix(frame).shape[1])

    def _index(self, frame: CandidateFrame) -> FloatArray:
        mean, width = self.estimates(frame.items, self.design_matrix(frame))
        return (frame.scores.astype(np.float64) if self.offset else 0.0) + mean + self.alpha * width

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return top_k(self._index(frame), k)

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        return np.tile(self._rank(frame, k, rng), (n, 1))  # deterministic given the state

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray:
        return one_hot_matrix(self._rank(frame, k, self.rng_), len(frame))

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        mean = self.estimates(frame.items, self.design_matrix(frame))[0]
        return np.asarray((frame.scores if self.offset else 0.0) + mean, dtype=np.float64)


class LinUCB(_OptimisticIndex):
    """Disjoint LinUCB (one ridge model per item) or its shared variant (one for all items).

    Parameters
    ----------
    alpha : float >= 0
        Width of the confidence bonus.
    ridge : float > 0
        ``lambda`` in ``A = lambda I + sum x x^T``.
    arms : {"disjoint", "shared"}
        One model per item, or one model for every item.
    examination : sequence of float, optional
        Examination probability per position (position-based model, see the module docstring).
    offset : bool
        Take the candidate score as prior mean and learn the residual.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.

    ``select`` needs the frame's ``features`` column: float[n_candidates, d], one feature row per
    candidate (``context=`` is the shorthand).
    """

    name = "linucb"
    requires = ("features",)

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        ridge: float = 1.0,
        arms: Literal["disjoint", "shared"] = "disjoint",
        examination: Sequence[float] | None = None,
        offset: bool = False,
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        if alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {alpha!r}")
        if not ridge > 0:
            raise ConfigError(f"ridge must be > 0, got {ridge!r}")
        if arms not in ("disjoint", "shared"):
            raise ConfigError(f"arms must be 'disjoint' or 'shared', got {arms!r}")
        self.alpha = alpha
        self.ridge = ridge
        self.arms = arms
        self.examination = examination
        self.offset = offset
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.dim_: int | None = None
        self.shared_: RidgeState | None = None
        self.a_inv_ = np.zeros((0, 0, 0))  # [n_arms, d, d] (disjoint)
        self.b_ = np.zeros((0, 0))  # [n_arms, d]

    # ------------------------------------------------------------------ state
    def _init_dim(self, d: int) -> None:
        if self.dim_ is None:
            self.dim_ = d
            self.shared_ = RidgeState(d, self.ridge)
            self.a_inv_ = np.zeros((0, d, d))
            self.b_ = np.zeros((0, d))
        elif d != self.dim_:
            raise DataError(f"LinUCB: context has {d} columns, the policy learned {self.dim_}")

    def _ensure_arms(self, size: int) -> None:
        old = self.a_inv_.shape[0]
        if size <= old:
            return
        d = self.a_inv_.shape[1]
        new = max(size, 2 * old, 16)
        a_inv = np.empty((new, d, d))
        a_inv[:old] = self.a_inv_
        a_inv[old:] = np.eye(d) / self.ridge
        b = np.zeros((new, d))
        b[:old] = self.b_
        self.a_inv_, self.b_ = a_inv, b

    def arm_parameters(self, items: IntArray) -> tuple[FloatArray, FloatArray]:
        """(A^-1 float64[n, d, d], b float64[n, d]) of ``items`` (disjoint arms; new arms are fresh)."""
        if self.dim_ is None:
            raise ConfigError("LinUCB has seen no context yet")
        self._ensure_arms(int(items.max()) + 1)
        return self.a_inv_[items], self.b_[items]

    def estimates(self, items: IntArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(mean x.theta, width sqrt(x^T A^-1 x)) per candidate, float64[n] each."""
        x = context
        if self.arms == "shared":
            assert self.shared_ is not None
            return x @ self.shared_.theta(), self.shared_.width(x)
        a_inv, b = self.arm_parameters(items)
        theta = np.einsum("nde,ne->nd", a_inv, b)  # [n, d]
        ax = np.einsum("nde,ne->nd", a_inv, x)  # [n, d]
        return np.einsum("nd,nd->n", x, theta), np.sqrt(np.maximum(np.einsum("nd,nd->n", x, ax), 0.0))

    # ------------------------------------------------------------------ policy hooks
    def _update(self, batch: FeedbackBatch) -> None:
        if batch.contexts is None:
            raise DataError("LinUCB.update: feedback needs the context vector of each shown item")
        e = position_weights(self.examination, batch.positions)
        x = batch.contexts * e[:, None]
        targets = _targets(batch, e, self.offset, "LinUCB")
        self._init_dim(x.shape[1])
        if self.arms == "shared":
            assert self.shared_ is not None
            self.shared_.add(x, targets)
            return
        self._ensure_arms(int(batch.items.max()) + 1)
        for item, row, r in zip(batch.items, x, targets, strict=True):
            self.a_inv_[item] = sherman_morrison(self.a_inv_[item], row)
            self.b_[item] += r * row


class HybridLinUCB(_OptimisticIndex):
    """Hybrid LinUCB: a coefficient shared by all items plus one per item (Li et al. 2010, Alg. 2).

    Parameters
    ----------
    shared_dim : int >= 1
        Number of leading context columns ``z`` with a shared coefficient; the remaining columns
        ``x`` get a per-item coefficient (at least one; a constant 1 column gives each item its own
        bias).
    alpha : float >= 0
        Width of the confidence bonus.
    ridge : float > 0
        ``lambda`` of ``A_0 = lambda I + ...`` and ``A_a = lambda I + ...``.
    examination : sequence of float, optional
        Examination probability per position (position-based model, see the module docstring).
    offset : bool
        Take the candidate score as prior mean and learn the residual.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.
    """

    name = "linucb-hybrid"
    #: ``features`` are the shared part ``z`` (``shared_dim`` columns), ``arm_features`` the per-item part
    requires = ("features", "arm_features")

    def __init__(
        self,
        *,
        shared_dim: int,
        alpha: float = 1.0,
        ridge: float = 1.0,
        examination: Sequence[float] | None = None,
        offset: bool = False,
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        if isinstance(shared_dim, bool) or not isinstance(shared_dim, int | np.integer) or shared_dim < 1:
            raise ConfigError(f"shared_dim must be a positive integer, got {shared_dim!r}")
        if alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {alpha!r}")
        if not ridge > 0:
            raise ConfigError(f"ridge must be > 0, got {ridge!r}")
        self.shared_dim = shared_dim
        self.alpha = alpha
        self.ridge = ridge
        self.examination = examination
        self.offset = offset
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.arm_dim_: int | None = None
        k = self.shared_dim
        self.a0_ = np.eye(k) * self.ridge  # [k, k]
        self.b0_ = np.zeros(k)  # [k]
        self.a_inv_ = np.zeros((0, 0, 0))  # [n_arms, d, d]
        self.bmat_ = np.zeros((0, 0, k))  # [n_arms, d, k]
        self.b_ = np.zeros((0, 0))  # [n_arms, d]

    def design_matrix(self, frame: CandidateFrame) -> FloatArray:
        z = check_feature_rows(frame.column("features"), len(frame), "HybridLinUCB")
        x = check_feature_rows(frame.column("arm_features"), len(frame), "HybridLinUCB", "arm_features")
        if z.shape[1] != self.shared_dim:
            raise ConfigError(
                f"HybridLinUCB: the features column has {z.shape[1]} columns but "
                f"shared_dim={self.shared_dim}; set shared_dim={z.shape[1]}"
            )
        return np.hstack([z, x])

    def _context_columns(self, context: Any, n: int) -> dict[str, npt.NDArray[Any]]:
        x = check_feature_rows(context, n, "HybridLinUCB", "context")
        return {"features": x[:, : self.shared_dim], "arm_features": x[:, self.shared_dim :]}

    def _init_dim(self, total: int) -> None:
        d = total - self.shared_dim
        if d < 1:
            raise DataError(
                f"HybridLinUCB: context has {total} columns; shared_dim={self.shared_dim} "
                "leaves none for the per-item part"
            )
        if self.arm_dim_ is None:
            self.arm_dim_ = d
            self.a_inv_ = np.zeros((0, d, d))
            self.bmat_ = np.zeros((0, d, self.shared_dim))
            self.b_ = np.zeros((0, d))
        elif d != self.arm_dim_:
            raise DataError(
                f"HybridLinUCB: context has {total} columns, expected {self.shared_dim + self.arm_dim_}"
            )

    def _ensure_arms(self, size: int) -> None:
        old = self.a_inv_.shape[0]
        if size <= old:
            return
        d, k = self.a_inv_.shape[1], self.shared_dim
        new = max(size, 2 * old, 16)
        a_inv = np.empty((new, d, d))
        a_inv[:old] = self.a_inv_
        a_inv[old:] = np.eye(d) / self.ridge
        bmat = np.zeros((new, d, k))
        bmat[:old] = self.bmat_
        b = np.zeros((new, d))
        b[:old] = self.b_
        self.a_inv_, self.bmat_, self.b_ = a_inv, bmat, b

    def coefficients(self, items: IntArray) -> tuple[FloatArray, FloatArray]:
        """(beta float64[k] shared, theta float64[n, d] per item) of the current joint ridge estimate."""
        self._ensure_arms(int(items.max()) + 1)
        beta = np.asarray(np.linalg.solve(self.a0_, self.b0_), dtype=np.float64)
        a_inv, bmat, b = self.a_inv_[items], self.bmat_[items], self.b_[items]
        theta = np.einsum("nde,ne->nd", a_inv, b - np.einsum("ndk,k->nd", bmat, beta))
        return beta, theta

    def estimates(self, items: IntArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(mean, sqrt(s)) per candidate (Algorithm 2, lines 8-13), float64[n] each."""
        z, x = context[:, : self.shared_dim], context[:, self.shared_dim :]  # [n, k], [n, d]
        self._ensure_arms(int(items.max()) + 1)
        a0_inv = np.linalg.inv(self.a0_)  # [k, k]
        beta = a0_inv @ self.b0_
        a_inv, bmat, b = self.a_inv_[items], self.bmat_[items], self.b_[items]
        theta = np.einsum("nde,ne->nd", a_inv, b - np.einsum("ndk,k->nd", bmat, beta))  # [n, d]
        ax = np.einsum("nde,ne->nd", a_inv, x)  # A_a^-1 x, [n, d]
        w = np.einsum("ndk,nd->nk", bmat, ax)  # B_a^T A_a^-1 x, [n, k]
        z_a0 = z @ a0_inv  # [n, k]
        s = (
            np.einsum("nk,nk->n", z_a0, z)
            - 2.0 * np.einsum("nk,nk->n", z_a0, w)
            + np.einsum("nd,nd->n", x, ax)
            + np.einsum("nk,kl,nl->n", w, a0_inv, w)
        )
        mean = z @ beta + np.einsum("nd,nd->n", x, theta)
        return mean, np.sqrt(np.maximum(s, 0.0))

    def _update(self, batch: FeedbackBatch) -> None:
        if batch.contexts is None:
            raise DataError("HybridLinUCB.update: feedback needs the context vector of each shown item")
        self._init_dim(batch.contexts.shape[1])
        self._ensure_arms(int(batch.items.max()) + 1)
        e = position_weights(self.examination, batch.positions)
        rows = batch.contexts * e[:, None]
        targets = _targets(batch, e, self.offset, "HybridLinUCB")
        for item, row, r in zip(batch.items, rows, targets, strict=True):
            self._update_one(int(item), row[: self.shared_dim], row[self.shared_dim :], float(r))

    def _update_one(self, a: int, z: FloatArray, x: FloatArray, r: float) -> None:
        # Algorithm 2, lines 17-22
        a_inv, bmat = self.a_inv_[a], self.bmat_[a]
        self.a0_ += bmat.T @ a_inv @ bmat
        self.b0_ += bmat.T @ a_inv @ self.b_[a]
        a_inv = sherman_morrison(a_inv, x)
        bmat = bmat + np.outer(x, z)
        self.b_[a] += r * x
        self.a_inv_[a], self.bmat_[a] = a_inv, bmat
        self.a0_ += np.outer(z, z) - bmat.T @ a_inv @ bmat
        self.b0_ += r * z - bmat.T @ a_inv @ self.b_[a]


def _targets(batch: FeedbackBatch, exam: FloatArray, offset: bool, name: str) -> FloatArray:
    """Regression targets: the reward, or with ``offset`` the residual ``r - e * score``."""
    if not offset:
        return batch.rewards
    if batch.scores is None or np.isnan(batch.scores).any():
        raise DataError(f"{name}(offset=True).update: feedback needs the score each shown item had")
    return np.asarray(batch.rewards - exam * batch.scores, dtype=np.float64)
