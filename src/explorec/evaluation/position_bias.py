"""The position-bias (examination) curve from randomised swaps, with a monotone shape constraint.

A log of slates in which a random share had two positions swapped
(:class:`explorec.policies.swap.PositionSwap`) records, for every shown item, the position ``j`` it
was displayed at and the rank ``r`` the policy had given it (``r = j`` unless the slate was swapped).
Under the examination hypothesis ``P(click) = exam[j] * rel`` and a swap drawn independently of the
user, the expected click rate of the cell ``(j, r)`` is ``exam[j] * R[r]`` with ``R[r]`` the mean
relevance of what the policy ranks at ``r``, the same in swapped and unswapped slates. So the ratio
of the click rates of rank ``r`` at two positions is the ratio of their examination probabilities,
however relevant rank ``r`` is and however poorly the recommender's score describes it (Joachims,
Swaminathan & Schnabel 2017, section 5: intervention harvesting from randomised swaps).

:func:`harvest_examination` fits that rank-one model, ``E[clicks of cell (j, r)] = n[j, r] exam[j]
R[r]``, to every cell by Poisson maximum likelihood (alternating closed-form updates, i.e. iterative
proportional fitting; the clicks' means are exactly this product, so the estimate is consistent), with
``exam[0] = 1``. For the swap-with-first scheme the estimate of ``exam[k] / exam[0]`` is the
sum-ratio ``(c[k, k] / n[k, k] + c[k, 0] / n[k, 0]) / (c[0, 0] / n[0, 0] + c[0, k] / n[0, k])`` made
efficient over all cells. A position is identified when a chain of swapped cells connects it to
position 0; the others keep the starting value. The curve is then projected on non-increasing
sequences by weighted isotonic regression (scikit-learn's ``IsotonicRegression``), each position
weighted by the clicks of the swapped cells that inform it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression

from explorec.errors import DataError

FloatArray = npt.NDArray[np.float64]

#: examination probabilities are kept in [FLOOR, 1]
FLOOR = 0.0025


@dataclass(frozen=True)
class SwapEstimate:
    """An examination curve estimated from randomised swaps.

    Attributes
    ----------
    examination : tuple of float
        Per position (position 0 first, ``examination[0] = 1``), non-increasing when ``monotone``.
    identified : tuple of bool
        Which positions the swaps connect to position 0 (the others hold the starting value).
    swapped_impressions : int
        Impressions shown away from their policy rank (what identifies the curve).
    swapped_clicks : int
        Clicks among those.
    """

    examination: tuple[float, ...]
    identified: tuple[bool, ...]
    swapped_impressions: int
    swapped_clicks: int


def monotone_curve(values: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> FloatArray:
    """The non-increasing sequence closest to ``values`` in weighted least squares, in ``[FLOOR, 1]``,
    with the first value pinned to 1 (scikit-learn's ``IsotonicRegression``)."""
    y = np.asarray(values, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    if y.ndim != 1 or w.shape != y.shape:
        raise DataError(f"monotone_curve: values {y.shape} and weights {w.shape} must be equal 1-d shapes")
    if y.size == 0:
        return y
    w = np.maximum(w, 1e-9)
    w[0] = max(1.0, float(w.sum())) * 1e6  # the first position is the scale: it stays at 1
    fit = IsotonicRegression(increasing=False, y_min=FLOOR, y_max=1.0).fit(
        np.arange(y.size), y, sample_weight=w
    )
    out = np.asarray(fit.predict(np.arange(y.size)), dtype=np.float64)
    out[0] = 1.0
    return out


def harvest_examination(
    positions: npt.ArrayLike,
    ranks: npt.ArrayLike,
    clicks: npt.ArrayLike,
    *,
    k: int,
    start: Sequence[float] | None = None,
    monotone: bool = True,
    max_iter: int = 2000,
    tol: float = 1e-10,
) -> SwapEstimate:
    """Estimate the examination curve from a log with randomised swaps (see the module docstring).

    Parameters
    ----------
    positions : int[n]
        0-based display position of each shown item.
    ranks : int[n]
        The position the policy had given the item before any swap (equal to ``positions`` in
        slates that were not swapped).
    clicks : float[n]
        1 for a click, 0 otherwise.
    k : int
        Number of positions.
    start : sequence of float, optional
        Values for positions the swaps do not identify (default: 1, no position bias).
    monotone : bool
        Project the curve on non-increasing sequences (weighted isotonic regression).
    """
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    rank = np.asarray(ranks, dtype=np.int64).reshape(-1)
    c = np.asarray(clicks, dtype=np.float64).reshape(-1)
    if not (pos.shape == rank.shape == c.shape):
        raise DataError(
            f"swap log: positions, ranks and clicks differ in length ({pos.size}, {rank.size}, {c.size})"
        )
    for name, arr in (("positions", pos), ("ranks", rank)):
        if arr.size and (arr.min() < 0 or arr.max() >= k):
            raise DataError(f"swap log: {name} must lie in [0, {k}), got [{arr.min()}, {arr.max()}]")
    if not np.all((c == 0) | (c == 1)):
        raise DataError("swap log: clicks must be 0 or 1")
    base = np.ones(k) if start is None else np.asarray(start, dtype=np.float64)
    if base.shape != (k,):
        raise DataError(f"swap log: start has {base.size} values for k={k} positions")
    cell = pos * k + rank
    n = np.bincount(cell, minlength=k * k).reshape(k, k).astype(np.float64)  # [position, rank]
    cc = np.bincount(cell, weights=c, minlength=k * k).reshape(k, k)
    off = ~np.eye(k, dtype=bool)
    identified = _connected_to_first(n > 0, k)
    exam = base.copy()
    exam[0] = 1.0
    exam = np.clip(exam, FLOOR, 1.0)
    if identified[1:].any():
        p_rows = np.flatnonzero(identified)  # identified positions
        r_cols = np.flatnonzero((n[p_rows] > 0).any(axis=0))  # the ranks shown at them
        nn, ccc = n[np.ix_(p_rows, r_cols)], cc[np.ix_(p_rows, r_cols)]
        e = exam[p_rows]
        rel = ccc.sum(axis=0) / np.maximum(nn.T @ e, 1e-300)
        for _ in range(max_iter):
            e_new = ccc.sum(axis=1) / np.maximum(nn @ rel, 1e-300)
            e_new = e_new / e_new[0] if e_new[0] > 0 else e_new
            rel = ccc.sum(axis=0) / np.maximum(nn.T @ e_new, 1e-300)
            done = float(np.abs(e_new - e).max()) < tol
            e = e_new
            if done:
                break
        exam[p_rows] = np.clip(e, FLOOR, 1.0)
        exam[0] = 1.0
    if monotone:
        # information on a position: the clicks of the swapped cells it is displayed in or ranked in
        info = (cc * off).sum(axis=1) + (cc * off).sum(axis=0)
        weights = np.where(identified, 1.0 + info, 1e-6)
        exam = monotone_curve(exam, weights)
    return SwapEstimate(
        tuple(float(v) for v in exam),
        tuple(bool(v) for v in identified),
        int(n[off].sum()),
        int(cc[off].sum()),
    )


def _connected_to_first(edges: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.bool_]:
    """bool[k]: positions joined to position 0 in the bipartite graph positions - ranks whose edges
    are the logged cells (a breadth-first search)."""
    pos_seen = np.zeros(k, dtype=bool)
    rank_seen = np.zeros(k, dtype=bool)
    pos_seen[0] = True
    frontier = [("p", 0)]
    while frontier:
        side, i = frontier.pop()
        if side == "p":
            for r in np.flatnonzero(edges[i] & ~rank_seen):
                rank_seen[r] = True
                frontier.append(("r", int(r)))
        else:
            for j in np.flatnonzero(edges[:, i] & ~pos_seen):
                pos_seen[j] = True
                frontier.append(("p", int(j)))
    return pos_seen
