"""Exposure-fairness re-ranking: no provider (or popularity bucket) gets more than a set share of a list.

Each position ``t`` of a list of ``k`` gives exposure ``w_t``: ``1`` for every slot (``"uniform"``:
the share is the share of slots) or ``1 / log2(t + 2)`` (``"log"``: the position-bias model of DCG,
as in Singh & Joachims, "Fairness of Exposure in Rankings", KDD 2018). The constraint is

    sum_{t : group(item_t) = g} w_t  <=  max_share * sum_{t < k} w_t     for every group g,

and it is met greedily: each position takes the best-scored remaining candidate whose group still
has room (a deterministic, per-list version of constrained re-ranking such as FA*IR, Zehlike et al.
CIKM 2017, with a ceiling instead of a floor).

**Infeasible positions.** When no remaining candidate fits (e.g. ``max_share < 1 / n_groups`` present,
or the first slot alone exceeds the share under ``"log"``), that position takes the candidate whose
group ends up with the smallest share (ties: best score) and the shortfall is logged at INFO level;
``violations_`` counts such positions across calls (a diagnostic, not learned state).

**Groups** are the frame column ``groups``, built from ``context.item_groups`` (provider, brand, or
popularity bucket; see :meth:`~explorec.rerank.base.RerankContext.from_data`). Without groups but with
``context.item_popularity`` the items are put in ``n_buckets`` popularity buckets of equal interaction
mass (documented fallback); without either, ``rerank`` raises ``ConfigError``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from explorec.errors import ConfigError, check_choice, check_positive_int
from explorec.rerank.base import F64, I64, RerankContext, Reranker, check_weight
from explorec.types import CandidateFrame

logger = logging.getLogger(__name__)

EXPOSURES = ("uniform", "log")


def position_exposure(k: int, exposure: str) -> F64:
    """Exposure of positions ``0..k-1``: ones, or ``1 / log2(t + 2)``."""
    if exposure == "uniform":
        return np.ones(k)
    if exposure == "log":
        return 1.0 / np.log2(np.arange(k) + 2.0)
    raise ConfigError(f"exposure must be one of {EXPOSURES}, got {exposure!r}")


class FairExposure(Reranker):
    """Caps every group's share of a list's exposure.

    Parameters
    ----------
    max_share : float in (0, 1]
        Largest share of the list's exposure one group may get (1 = no constraint).
    exposure : {"uniform", "log"}
        Position exposure model.
    n_buckets : int
        Popularity buckets used when ``context.item_groups`` is missing.

    Examples
    --------
    >>> import numpy as np
    >>> from explorec.types import CandidateFrame
    >>> ctx = RerankContext(item_groups=np.array([0, 0, 0, 1, 1]))
    >>> cands = CandidateFrame(np.arange(5), np.array([5, 4, 3, 2, 1], dtype=np.float32))
    >>> FairExposure(max_share=0.5).rerank(cands, 4, context=ctx).items.tolist()
    [0, 1, 3, 4]
    """

    name = "fair"
    requires = ("groups",)

    def __init__(self, *, max_share: float = 0.5, exposure: str = "uniform", n_buckets: int = 3) -> None:
        self.max_share = check_weight("fair max_share", max_share, 0.0, 1.0, low_open=True)
        check_choice("fair exposure", exposure, EXPOSURES)
        self.exposure = exposure
        self.n_buckets = check_positive_int("fair n_buckets", n_buckets)
        self.violations_ = 0

    def column_options(self) -> dict[str, Any]:
        """The popularity buckets of the ``groups`` fallback: ``n_buckets`` of them."""
        return {"n_popularity_buckets": self.n_buckets}

    def _select(
        self,
        frame: CandidateFrame,
        scores: F64,
        k: int,
        context: RerankContext | None,
    ) -> tuple[I64, F64 | None]:
        if self.max_share >= 1.0:
            return np.arange(k, dtype=np.int64), None
        _, groups = np.unique(frame.column("groups"), return_inverse=True)  # dense group ids [N]
        weights = position_exposure(k, self.exposure)  # [k]
        budget = self.max_share * weights.sum() * (1.0 + 1e-12)
        used = np.zeros(int(groups.max()) + 1)  # exposure per group
        available = np.ones(len(frame), dtype=bool)
        picked = np.empty(k, dtype=np.int64)
        for t in range(k):
            fits = available & (used[groups] + weights[t] <= budget)
            if fits.any():
                j = int(np.argmax(fits))  # the first in the input order (the best score for a first stage)
            else:
                after = np.where(available, used[groups] + weights[t], np.inf)
                j = int(np.argmin(after))  # smallest resulting exposure; ties: best score
                self.violations_ += 1
                logger.info(
                    "fair: position %d cannot respect max_share=%.3f (no candidate of a group with room); "
                    "took the least-exposed group",
                    t,
                    self.max_share,
                )
            picked[t] = j
            available[j] = False
            used[groups[j]] += weights[t]
        return picked, None
