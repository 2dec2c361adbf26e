"""Linear bandit posteriors (LinUCB, linear Thompson sampling, hybrid LinUCB) learned online from the store.

A slate built by a linear policy logs the feature row of each slot the policy chose, as float16, in
the store's ``slot_features`` table (written *before* the impression, so that a replica that reads
the impression finds its rows). Every replica replays those rows with the impressions and the
attributed clicks (:class:`~explorec.online.state.OnlineState`) into the sufficient statistics of a
ridge regression, :class:`LinearStats`, so the posteriors live in the store exactly as the Beta
statistics do: a restarted or new replica replays the same rows in the same order and arrives at the
same posterior, and a click sent to any replica reaches every replica within one sync interval.

The feature row of a candidate (:func:`linear_features`, ``DIM`` columns) is

``[1, p, new, cos, new * cos, P (v * q)]``

with ``p`` the calibrated click probability of its model score (the key's calibration, see
:meth:`~explorec.online.state.KeyStats.calibrate`), ``new = 1`` for an item without any interaction
in the served state, ``v`` the item's text vector, ``q`` the user's profile (the unit mean of the
vectors of the user's recent items; zero for a cold user), ``cos = v . q``, and ``P`` a fixed
Gaussian projection (seeded, the same in every replica) of the element-wise product to
``PROJECTED`` dimensions. The policies take ``p`` as the prior mean and learn the residual
(``offset``): with no feedback they are greedy on the calibrated score plus their optimism.

Position bias: a row shown at position ``l`` enters the regression as ``e_l x`` with the examination
estimate ``e`` the slate was built with (logged in its ``policy_params``, so the replay does not
depend on when it runs), and its target is ``r - e_l p`` (the residual of the prior under the
position-based model).

What is accumulated per key, for rows ``w = e_l x`` and targets ``y = r - e_l p``:

* ``xx = sum w w^T``, ``xy = sum y w`` (the shared ridge ``A = lambda I + xx``, ``theta = A^-1 xy``
  of LinUCB with one model for every item and of linear Thompson sampling);
* per item ``a``: ``n_a = sum e^2``, ``B_a = sum e w``, ``y_a = sum y e`` (hybrid LinUCB with a
  per-item bias: the joint ridge over ``[beta, theta_a]`` of Li et al. 2010, Algorithm 2, solved
  exactly through its Schur complement, :meth:`LinearStats.hybrid`).

A shown slot adds its row with target ``-e_l p`` at once; a click on it later adds ``w`` to ``xy``
(and ``e`` to ``y_a``): the sums equal those of a batch ridge regression on every shown row with its
0/1 reward (``tests/online/test_online_linear.py`` checks that known answer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.policies.base import grow

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: dimensions of the projected user-item interaction part of a feature row
PROJECTED = 16
#: columns of a feature row: [1, p, new, cos, new * cos] + PROJECTED
DIM = 5 + PROJECTED
#: ridge ``lambda`` of every linear posterior
RIDGE = 1.0
#: the policy names (impression ``policy``) whose slates carry feature rows
LINEAR_POLICY_NAMES = ("linucb", "lints", "linucb-hybrid")

_projections: dict[int, FloatArray] = {}


def projection(dim: int) -> FloatArray:
    """float64[PROJECTED, dim]: the fixed Gaussian projection (seed 0) of the text-vector products."""
    found = _projections.get(dim)
    if found is None:
        rng = np.random.default_rng([0, dim])
        found = _projections[dim] = rng.standard_normal((PROJECTED, dim)) / np.sqrt(PROJECTED)
    return found


def linear_features(
    vectors: npt.NDArray[Any],
    items: IntArray,
    profile: FloatArray | None,
    calibrated: FloatArray,
    new: npt.NDArray[np.bool_],
) -> FloatArray:
    """float64[len(items), DIM]: the feature rows of ``items`` (see the module docstring).

    Parameters
    ----------
    vectors : float[n_items, dim]
        Unit text vectors of the catalogue.
    items : int64[n]
    profile : float64[dim] or None
        The user's profile (None or zeros: a cold user).
    calibrated : float64[n]
        Calibrated click probability of each candidate's score.
    new : bool[n]
        Whether each candidate has no interaction yet.
    """
    v = np.asarray(vectors[items], dtype=np.float64)  # [n, dim]
    q = np.zeros(v.shape[1]) if profile is None else np.asarray(profile, dtype=np.float64)
    prod = v * q[None, :]  # [n, dim]
    cos = prod.sum(axis=1)
    fresh = np.asarray(new, dtype=np.float64)
    n = items.shape[0]
    head = np.stack([np.ones(n), np.asarray(calibrated, dtype=np.float64), fresh, cos, fresh * cos], axis=1)
    return np.hstack([head, prod @ projection(v.shape[1]).T])


def encode_rows(rows: FloatArray) -> bytes:
    """The float16 bytes of ``rows`` (float[m, DIM]) as stored."""
    return np.ascontiguousarray(rows, dtype=np.float16).tobytes()


def decode_rows(raw: bytes, dim: int) -> FloatArray:
    """float64[m, dim] from :func:`encode_rows`' bytes."""
    return np.frombuffer(raw, dtype=np.float16).reshape(-1, dim).astype(np.float64)


def stored_rows(rows: FloatArray) -> FloatArray:
    """``rows`` rounded as the store keeps them (what every replica learns from)."""
    return np.asarray(rows, dtype=np.float16).astype(np.float64)


def slate_examination(params: Mapping[str, Any], n: int) -> FloatArray:
    """float64[n]: the examination estimate a slate was built with, per position (1 without one)."""
    exam = params.get("examination")
    if not exam:
        return np.ones(n)
    e = np.asarray(exam, dtype=np.float64)
    return e[np.minimum(np.arange(n), e.shape[0] - 1)]


@dataclass(frozen=True)
class HybridSolution:
    """The hybrid's joint ridge estimate: ``beta``, ``A_0^-1``, per item ``n_a``, ``B_a``, ``theta_a``."""

    beta: FloatArray
    a0_inv: FloatArray
    n: FloatArray
    b: FloatArray
    theta: FloatArray


class LinearStats:
    """Ridge sufficient statistics of one policy state key (see the module docstring)."""

    def __init__(self, dim: int = DIM, ridge: float = RIDGE) -> None:
        self.dim = dim
        self.ridge = ridge
        self.xx = np.zeros((dim, dim))
        self.xy = np.zeros(dim)
        self.item_n = np.zeros(0)  # [n_items] sum e^2
        self.item_b = np.zeros((0, dim))  # [n_items, dim] sum e w
        self.item_y = np.zeros(0)  # [n_items] sum y e
        self.rows = 0
        self.version = 0
        self._cache: dict[str, tuple[int, Any]] = {}

    def add_shown(self, items: IntArray, rows: FloatArray, exam: FloatArray) -> None:
        """Shown rows ``rows`` (float[m, dim]) of ``items`` at examination ``exam`` (float[m]), reward 0."""
        if not items.size:
            return
        w = rows * exam[:, None]  # [m, dim]
        y = -exam * rows[:, 1]  # the residual target of reward 0: 0 - e p
        self.xx += w.T @ w
        self.xy += w.T @ y
        size = int(items.max()) + 1
        self.item_n = grow(self.item_n, size)
        self.item_b = grow(self.item_b, size)
        self.item_y = grow(self.item_y, size)
        np.add.at(self.item_n, items, exam * exam)
        np.add.at(self.item_b, items, w * exam[:, None])
        np.add.at(self.item_y, items, y * exam)
        self.rows += int(items.size)
        self.version += 1

    def add_click(self, item: int, row: FloatArray, exam: float) -> None:
        """The shown row of ``item`` was clicked: its reward goes from 0 to 1."""
        self.xy += exam * row
        self.item_y = grow(self.item_y, item + 1)
        self.item_y[item] += exam
        self.version += 1

    # ------------------------------------------------------------------ estimates
    def shared(self) -> tuple[FloatArray, FloatArray]:
        """(theta float64[dim], A^-1 float64[dim, dim]) of the ridge shared by every item."""
        hit = self._cache.get("shared")
        if hit is not None and hit[0] == self.version:
            return hit[1]
        a_inv = np.linalg.inv(self.ridge * np.eye(self.dim) + self.xx)
        a_inv = 0.5 * (a_inv + a_inv.T)
        out = (a_inv @ self.xy, a_inv)
        self._cache["shared"] = (self.version, out)
        return out

    def hybrid(self) -> HybridSolution:
        """The joint ridge over a shared ``beta`` and a bias ``theta_a`` per item (Algorithm 2 of
        Li et al. 2010 with ``x_a = [1]``, solved from its sums): ``A_0 = lambda I + xx - sum_a B_a
        B_a^T / A_a``, ``b_0 = xy - sum_a B_a y_a / A_a`` with ``A_a = lambda + n_a``; ``beta = A_0^-1
        b_0`` and ``theta_a = (y_a - B_a . beta) / A_a``."""
        hit = self._cache.get("hybrid")
        if hit is not None and hit[0] == self.version:
            return hit[1]
        size = max(self.item_n.shape[0], self.item_y.shape[0])
        n = np.zeros(size)
        n[: self.item_n.shape[0]] = self.item_n
        b = np.zeros((size, self.dim))
        b[: self.item_b.shape[0]] = self.item_b
        y = np.zeros(size)
        y[: self.item_y.shape[0]] = self.item_y
        a = self.ridge + n  # [n_items]
        a0 = self.ridge * np.eye(self.dim) + self.xx - (b / a[:, None]).T @ b
        b0 = self.xy - (b / a[:, None]).T @ y
        a0_inv = np.linalg.inv(a0)
        a0_inv = 0.5 * (a0_inv + a0_inv.T)
        beta = a0_inv @ b0
        theta = (y - b @ beta) / a
        out = HybridSolution(beta, a0_inv, n, b, theta)
        self._cache["hybrid"] = (self.version, out)
        return out

    def hybrid_estimates(self, items: IntArray, rows: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(mean, sqrt(s)) per candidate of the hybrid model (Algorithm 2, lines 8-13, ``x_a = [1]``);
        an item never shown has ``n_a = 0``, ``B_a = 0``, ``theta_a = 0``."""
        return hybrid_estimates(self.hybrid(), items, rows, self.ridge)


def hybrid_estimates(
    sol: HybridSolution, items: IntArray, rows: FloatArray, ridge: float = RIDGE
) -> tuple[FloatArray, FloatArray]:
    """(mean, sqrt(s)) per candidate of the hybrid solution ``sol`` (see :meth:`LinearStats.hybrid`)."""
    dim = rows.shape[1]
    inside = items < sol.n.shape[0]
    n = np.zeros(items.shape[0])
    b = np.zeros((items.shape[0], dim))
    theta = np.zeros(items.shape[0])
    n[inside] = sol.n[items[inside]]
    b[inside] = sol.b[items[inside]]
    theta[inside] = sol.theta[items[inside]]
    a = ridge + n
    u = b / a[:, None]  # B_a^T A_a^-1 x with x = 1, [m, dim]
    z_a0 = rows @ sol.a0_inv  # [m, dim]
    s = (
        np.einsum("md,md->m", z_a0, rows)
        - 2.0 * np.einsum("md,md->m", z_a0, u)
        + 1.0 / a
        + np.einsum("md,de,me->m", u, sol.a0_inv, u)
    )
    return rows @ sol.beta + theta, np.sqrt(np.maximum(s, 0.0))


def batch_ridge(rows: FloatArray, rewards: FloatArray, exam: FloatArray, ridge: float = RIDGE) -> FloatArray:
    """The batch ridge estimate ``(lambda I + W^T W)^-1 W^T (r - e p)`` with ``W = e x`` (the known
    answer :meth:`LinearStats.shared` must equal)."""
    w = rows * exam[:, None]
    y = rewards - exam * rows[:, 1]
    return np.asarray(np.linalg.solve(ridge * np.eye(rows.shape[1]) + w.T @ w, w.T @ y), dtype=np.float64)


def batch_hybrid_ridge(
    items: IntArray,
    rows: FloatArray,
    rewards: FloatArray,
    exam: FloatArray,
    n_items: int,
    ridge: float = RIDGE,
) -> tuple[FloatArray, FloatArray]:
    """(beta, theta per item) of the joint ridge on ``[e x, e one_hot(item)]`` (the hybrid's answer)."""
    onehot = np.zeros((items.shape[0], n_items))
    onehot[np.arange(items.shape[0]), items] = 1.0
    design = np.hstack([rows, onehot]) * exam[:, None]
    y = rewards - exam * rows[:, 1]
    coef = np.linalg.solve(ridge * np.eye(design.shape[1]) + design.T @ design, design.T @ y)
    return np.asarray(coef[: rows.shape[1]], dtype=np.float64), np.asarray(
        coef[rows.shape[1] :], dtype=np.float64
    )


# ---------------------------------------------------------------------- storage
def save_slot_features(
    store: Any, recommendation_id: str, user_id: str, rows: FloatArray, timestamp: float
) -> None:
    """Store the feature rows of a slate's policy slots (before its impression is appended)."""
    from sqlalchemy import insert

    from explorec.store.tables import SlotFeatures

    with store.engine.execution_options(explorec_write=True).begin() as conn:
        conn.execute(
            insert(SlotFeatures).values(
                recommendation_id=recommendation_id,
                user_id=user_id,
                dim=int(rows.shape[1]),
                rows=encode_rows(rows),
                timestamp=float(timestamp),
            )
        )


def load_slot_features(store: Any, recommendation_ids: Sequence[str]) -> dict[str, FloatArray]:
    """``{recommendation_id: float64[m, dim]}`` of the slates among ``recommendation_ids`` that have rows."""
    from sqlalchemy import select

    from explorec.store.tables import SlotFeatures

    out: dict[str, FloatArray] = {}
    ids = list(recommendation_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = select(SlotFeatures.recommendation_id, SlotFeatures.dim, SlotFeatures.rows).where(
            SlotFeatures.recommendation_id.in_(chunk)
        )
        with store.engine.connect() as conn:
            for rec_id, dim, raw in conn.execute(stmt):
                out[str(rec_id)] = decode_rows(bytes(raw), int(dim))
    return out
