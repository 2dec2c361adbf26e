"""Maximal Marginal Relevance (Carbonell & Goldstein, SIGIR 1998).

Greedy: the next item maximises ``lam * rel(i) - (1 - lam) * max_{j in S} sim(i, j)`` over the
unselected candidates, with ``rel`` the min-max normalised score and ``sim`` the cosine of item
vectors. ``lam = 1 - diversity``. The running maximum similarity to the selected set is updated with
one vectorised ``maximum`` per step, so a list of ``k`` from ``N`` candidates costs ``O(N k dim)``.
"""

from __future__ import annotations

import numpy as np

from explorec.rerank.base import (
    F64,
    I64,
    RerankContext,
    Reranker,
    check_weight,
    relevance,
    unit_rows,
)
from explorec.types import CandidateFrame


class MMR(Reranker):
    """MMR re-ranker.

    Parameters
    ----------
    diversity : float in [0, 1]
        Weight of the diversity term, ``1 - lambda`` in Carbonell & Goldstein's notation. 0 returns the
        top-``k`` by score; 1 picks the best item first, then each time the candidate least similar
        to everything already picked (ties broken by score).

    Notes
    -----
    Reads the frame column ``vectors``, built from ``item_vectors`` (or ``context.item_categories``
    as the documented fallback similarity); without either, ``rerank`` raises ``ConfigError``.

    Examples
    --------
    >>> import numpy as np
    >>> from explorec.types import CandidateFrame
    >>> vectors = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    >>> cands = CandidateFrame(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.5], dtype=np.float32))
    >>> MMR(diversity=0.5).rerank(cands, 2, item_vectors=vectors).items.tolist()
    [0, 2]
    """

    name = "mmr"
    requires = ("vectors",)

    def __init__(self, *, diversity: float = 0.3) -> None:
        self.diversity = check_weight("mmr diversity", diversity, 0.0, 1.0)

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
        unit = unit_rows(frame.column("vectors"), "MMR")  # [N, dim]
        items = frame.items
        lam = 1.0 - self.diversity
        gain = lam * relevance(scores)  # [N]
        max_sim = np.full(items.size, -np.inf)  # running max similarity to the picks; -inf: none yet
        available = np.ones(items.size, dtype=bool)
        picked = np.empty(k, dtype=np.int64)
        for t in range(k):
            penalty = max_sim if t else 0.0
            objective = np.where(available, gain - self.diversity * penalty, -np.inf)
            j = int(np.argmax(objective))  # first maximum = best score among ties
            picked[t] = j
            available[j] = False
            if t + 1 < k:
                sim = (unit @ unit[j]).astype(np.float64)  # [N]
                np.maximum(max_sim, sim, out=max_sim)
        return picked, None
