"""Calibrated recommendations (Steck, RecSys 2018).

A list is *calibrated* when its category distribution ``q(g | u)`` matches the distribution
``p(g | u)`` of the user's history. Steck's objective (eq. 4) is

    I* = argmax_{|I| = k}  (1 - lam) * sum_{i in I} s(u, i)  -  lam * C_KL(p, q(I)),
    C_KL(p, q) = sum_g p(g|u) log( p(g|u) / q~(g|u) ),   q~ = (1 - a) q + a p   (eq. 5, a = 0.01)

with ``p(g|u) = mean_{i in history} p(g|i)`` and ``q(g|I) = mean_{i in I} p(g|i)`` (uniform weights,
i.e. Steck's ``w_{u,i} = 1``; ``p(g|i)`` splits an item's mass equally among its categories). It is
maximised greedily (a (1 - 1/e) approximation, the objective being submodular). Here ``s(u, i)`` is
the min-max normalised score, so ``lam`` keeps its meaning across models.

Items without any category contribute nothing to ``q``; ``q`` is renormalised over the categorised
picks. A user without categorised history has no target: the top-``k`` by score is returned (DEBUG log).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from explorec.errors import ConfigError
from explorec.rerank.base import F64, I64, RerankContext, Reranker, check_weight, relevance
from explorec.types import CandidateFrame

logger = logging.getLogger(__name__)


def kl_calibration(p: F64, q: F64, *, smoothing: float = 0.01) -> F64:
    """``C_KL(p, q)`` of Steck (2018) eq. 5 for one ``p`` [G] and a batch of ``q`` [..., G].

    Categories with ``p_g = 0`` add nothing; ``q~ = (1 - smoothing) q + smoothing p`` keeps it finite.
    """
    support = p > 0
    qs = (1.0 - smoothing) * q[..., support] + smoothing * p[support]
    return np.asarray(np.sum(p[support] * np.log(p[support] / qs), axis=-1), dtype=np.float64)


def user_distribution(history: I64, item_categories: object) -> F64 | None:
    """``p(g | u)``: mean category distribution of the history items (None when none is categorised)."""
    rows = item_categories[history]  # type: ignore[index]
    dense = np.asarray(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float64)
    total = dense.sum(axis=0)  # [G]
    mass = total.sum()
    if mass <= 0:
        return None
    return np.asarray(total / mass, dtype=np.float64)


class Calibration(Reranker):
    """Steck's calibrated re-ranker.

    Parameters
    ----------
    weight : float in [0, 1]
        ``lambda``: 0 returns the top-``k`` by score, 1 only minimises the KL divergence.
    smoothing : float in (0, 1)
        ``a`` of eq. 5 (Steck uses 0.01).

    Notes
    -----
    Reads the frame column ``categories`` (built from ``context.item_categories``) and, for the
    user-level target ``p(g | u)``, ``context.history`` with ``context.item_categories``; without
    categories ``rerank`` raises ``ConfigError``.

    Examples
    --------
    >>> import numpy as np
    >>> from explorec.types import CandidateFrame
    >>> ctx = RerankContext(item_categories=np.array([[1, 0], [1, 0], [0, 1]]), history=np.array([0, 2]))
    >>> cands = CandidateFrame(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.5], dtype=np.float32))
    >>> Calibration(weight=0.5).rerank(cands, 2, context=ctx).items.tolist()
    [0, 2]
    """

    name = "calibration"
    requires = ("categories",)

    def __init__(self, *, weight: float = 0.5, smoothing: float = 0.01) -> None:
        self.weight = check_weight("calibration weight", weight, 0.0, 1.0)
        self.smoothing = check_weight("calibration smoothing", smoothing, 0.0, 1.0, low_open=True)

    def columns_needed(self) -> tuple[str, ...]:
        """``categories``, or none at weight 0 (the score order needs no categories)."""
        return () if self.weight == 0.0 else self.requires

    def _select(
        self,
        frame: CandidateFrame,
        scores: F64,
        k: int,
        context: RerankContext | None,
    ) -> tuple[I64, F64 | None]:
        if self.weight == 0.0:
            return np.arange(k, dtype=np.int64), None
        cand = frame.column("categories")  # [N, G] p(g|i) of the candidates
        if context is None or context.item_categories is None:  # the target is user-level
            raise ConfigError(
                "calibration needs context.item_categories (p(category | item)) for the user's target "
                "distribution, e.g. RerankContext.from_data(train, catalog); none was given"
            )
        cats = context.item_categories
        history = context.history if context.history is not None else np.zeros(0, dtype=np.int64)
        target = user_distribution(history, cats) if history.size else None
        if target is None:
            logger.debug("calibration: no categorised history; returning the top-%d by score", k)
            return np.arange(k, dtype=np.int64), None
        rel = (1.0 - self.weight) * relevance(scores)  # [N]
        acc = np.zeros(cand.shape[1])  # summed p(g|i) of the picks [G]
        rel_sum = 0.0
        available = np.ones(len(frame), dtype=bool)
        picked = np.empty(k, dtype=np.int64)
        for t in range(k):
            mass = acc[None, :] + cand  # [N, G] unnormalised q of picks + candidate
            total = mass.sum(axis=1, keepdims=True)
            q = np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)
            objective = rel_sum + rel - self.weight * kl_calibration(target, q, smoothing=self.smoothing)
            j = int(np.argmax(np.where(available, objective, -np.inf)))
            picked[t] = j
            available[j] = False
            acc += cand[j]
            rel_sum += rel[j]
        return picked, None
