"""Determinantal point process re-ranking by fast greedy MAP inference.

Chen, Zhang & Zhou, "Fast Greedy MAP Inference for Determinantal Point Process to Improve
Recommendation Diversity" (NeurIPS 2018).

**Kernel.** ``L = diag(q) S diag(q)`` with ``S_ij`` the cosine similarity of the item vectors (a Gram
matrix, hence positive semi-definite; an item whose vector is zero gets ``S_ii = 1`` and is
orthogonal to everything) and the quality ``q_i = exp(alpha * r_i)`` from the relevance ``r_i``
(scores min-max normalised to ``[0, 1]``). Chen et al. (section 4) show that the MAP objective
``log det L_Y`` then equals ``2 alpha * sum_{i in Y} r_i + log det S_Y``, i.e. the trade-off
``theta * sum r + (1 - theta) log det S_Y`` with ``alpha = theta / (2 (1 - theta))``. Here
``theta = 1 - diversity``. Because the greedy choice is invariant to scaling all ``q`` by one
constant, ``q_i = exp(alpha (r_i - 1))`` is used, which never overflows.

**Algorithm 1 (incremental Cholesky).** With ``d_i^2 = L_ii`` and empty vectors ``c_i``, repeat:
pick ``j = argmax_i d_i^2`` among the unpicked; for every candidate
``e_i = (L_ji - <c_j, c_i>) / d_j``, append ``e_i`` to ``c_i`` and set ``d_i^2 -= e_i^2``. Then
``d_i^2`` is the marginal gain ``det L_{Y+i} / det L_Y``. One step is a matrix-vector product
(``O(N t)``) plus the kernel row ``L_j.`` (``O(N dim)`` from the vectors, never the full ``N x N``
kernel unless more than half of the list is asked for), so ``k`` picks cost ``O(N k^2 + N k dim)``.

**Algorithm 2 (sliding window).** For long lists diversity is only asked of every ``window``
consecutive items: the next pick maximises ``det L`` over itself and the last ``window - 1`` picks.
When the oldest pick leaves the window, the Cholesky factor ``V`` of the window and all ``c_i`` are
updated by ``window - 1`` Givens rotations (a rank-one Cholesky update), and ``d_i^2 += a_i^2`` with
``a_i`` the rotated-out coefficient; ``O(N window)`` per step.

**Degenerate kernels.** A candidate whose residual ``d_i^2`` falls to ``<= 1e-9 * L_ii`` lies (numerically)
in the span of the picks and adds nothing; when no candidate is left above that threshold the
remaining slots are filled by score order (logged at DEBUG). With a very large ``alpha`` (diversity
close to 0) the low-relevance candidates' quality underflows to 0 and they are filled the same way.
"""

from __future__ import annotations

import logging

import numpy as np

from explorec.errors import ConfigError
from explorec.rerank.base import (
    F32,
    F64,
    I64,
    RerankContext,
    Reranker,
    check_weight,
    relevance,
    unit_rows,
)
from explorec.types import CandidateFrame

logger = logging.getLogger(__name__)

#: a candidate with d_i^2 <= EPS * L_ii is in the span of the picks
EPS = 1e-9


def dpp_alpha(diversity: float) -> float:
    """``alpha = theta / (2 (1 - theta))`` with ``theta = 1 - diversity`` (Chen et al. 2018, sec. 4)."""
    theta = 1.0 - diversity
    return np.inf if diversity == 0.0 else theta / (2.0 * diversity)


class DPP(Reranker):
    """DPP re-ranker (fast greedy MAP, optionally within a sliding window).

    Parameters
    ----------
    diversity : float in [0, 1]
        ``1 - theta`` of Chen et al.: 0 returns the top-``k`` by score, 1 ignores relevance (pure
        ``log det S``; the first pick is then the best-scored item, as every ``S_ii = 1``).
    window : int, optional
        Sliding-window size (Algorithm 2); None asks every pick to be diverse from all earlier ones
        (Algorithm 1). ``window >= k`` is the same as None.

    Notes
    -----
    Reads the frame column ``vectors``, built from ``item_vectors`` (or ``context.item_categories``
    as the documented fallback similarity).

    Examples
    --------
    >>> import numpy as np
    >>> from explorec.types import CandidateFrame
    >>> vectors = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    >>> cands = CandidateFrame(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.5], dtype=np.float32))
    >>> DPP(diversity=0.5).rerank(cands, 2, item_vectors=vectors).items.tolist()
    [0, 2]
    """

    name = "dpp"
    requires = ("vectors",)

    def __init__(self, *, diversity: float = 0.3, window: int | None = None) -> None:
        self.diversity = check_weight("dpp diversity", diversity, 0.0, 1.0)
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 2):
            raise ConfigError(f"dpp window must be an integer >= 2 or None, got {window!r}")
        self.window = window

    def columns_needed(self) -> tuple[str, ...]:
        """``vectors``, or none at diversity 0 (the score order needs no similarity)."""
        return () if self.diversity == 0.0 else self.requires

    def _select(
        self,
        frame: CandidateFrame,
        scores: F64,
        k: int,
        context: RerankContext | None,
    ) -> tuple[I64, F64 | None]:
        if self.diversity == 0.0:
            return np.arange(k, dtype=np.int64), None
        unit = unit_rows(frame.column("vectors"), "DPP")  # [N, dim]
        quality = np.exp(dpp_alpha(self.diversity) * (relevance(scores) - 1.0))  # [N], in (0, 1]
        return greedy_map(unit, quality, k, window=self.window), None


def greedy_map(
    unit: F32 | F64,
    quality: F64,
    k: int,
    *,
    window: int | None = None,
) -> I64:
    """Greedy MAP of the DPP with kernel ``L = diag(q) (U U^T) diag(q)`` (Chen et al. 2018).

    Parameters
    ----------
    unit : float[N, dim]
        L2-normalised candidate vectors (zero rows allowed: ``S_ii`` is then set to 1).
    quality : float64[N]
        ``q_i >= 0``.
    k : int
        Picks (``<= N``).
    window : int, optional
        Sliding window (Algorithm 2); None for Algorithm 1.

    Returns
    -------
    int64[k]
        Positions of the picks, in pick order. Ties go to the lower position.
    """
    n = unit.shape[0]
    k = min(k, n)
    full_sim = None
    if 2 * k > n:  # most of the kernel will be needed: one matmul is cheaper than k mat-vecs
        full_sim = (unit @ unit.T).astype(np.float64)  # [N, N]
        np.fill_diagonal(full_sim, 1.0)  # S_ii = 1, also for zero vectors
    d2 = quality * quality  # [N] residuals d_i^2, starting at L_ii = q_i^2 (S_ii = 1)
    # a candidate is eligible while d_i^2 > EPS * L_ii; picks get an infinite threshold
    threshold = EPS * d2
    w = k if window is None or window >= k else window
    coef = np.zeros((w, n))  # rows: Cholesky coefficients c_i of the items in the window
    chol = np.zeros((w, w))  # lower Cholesky factor of L over the window
    members = 0
    picked = np.empty(k, dtype=np.int64)
    for t in range(k):
        gains = np.where(d2 > threshold, d2, -np.inf)
        j = int(np.argmax(gains))
        if gains[j] == -np.inf:
            rest = np.flatnonzero(np.isfinite(threshold))[: k - t]  # unpicked, in score order
            logger.debug("DPP: kernel exhausted after %d picks; %d filled by score", t, rest.size)
            picked[t:] = rest
            break
        picked[t] = j
        threshold[j] = np.inf
        if t + 1 == k:
            break
        if full_sim is not None:
            sim_row = full_sim[j]
        else:
            sim_row = (unit @ unit[j]).astype(np.float64)  # [N]
            sim_row[j] = 1.0  # S_jj = 1 (exactly; also for a zero vector)
        d_j = np.sqrt(d2[j])
        e = (quality[j] * quality * sim_row - coef[:members, j] @ coef[:members]) / d_j  # Algorithm 1 update
        chol[members, :members] = coef[:members, j]
        chol[members, members] = d_j
        coef[members] = e
        d2 -= e * e
        members += 1
        if members == w and w < k:
            _slide(chol, coef, d2, members)
            members -= 1
    return picked


def _slide(chol: F64, coef: F64, d2: F64, members: int) -> None:
    """Drop the oldest window member in place: rank-one Cholesky update by Givens rotations.

    With ``V = [[v11, 0], [x, V_r]]`` the factor of the window, the factor of the window without its
    first item is the triangular part of ``[x | V_r] G`` where the rotations ``G`` zero ``x`` column
    by column; the candidates' coefficients ``[a_i; c_i]`` turn with ``G^T``, ``a_i`` is rotated out and
    ``d_i^2`` grows by ``a_i^2`` (the norm of the coefficients is preserved).
    """
    m = members
    x = chol[1:m, 0].copy()  # [m-1]
    vr = chol[1:m, 1:m].copy()  # [m-1, m-1]
    a = coef[0].copy()  # [N]
    cr = coef[1:m].copy()  # [m-1, N]
    for col in range(m - 1):
        r = float(np.hypot(vr[col, col], x[col]))
        c, s = vr[col, col] / r, x[col] / r
        old = vr[col:, col].copy()
        vr[col:, col] = c * old + s * x[col:]
        x[col:] = c * x[col:] - s * old
        old_c = cr[col].copy()
        cr[col] = c * old_c + s * a
        a = c * a - s * old_c
    d2 += a * a
    chol[: m - 1, : m - 1] = vr
    chol[m - 1 :, :] = 0.0
    chol[:, m - 1 :] = 0.0
    coef[: m - 1] = cr
    coef[m - 1 :] = 0.0
