"""Exploration under a budget: a set share of slots, never below a relevance floor, new items first.

``BudgetedExploration`` shows the best-scored candidates in the top slots and explores in the
bottom ``M`` slots, where ``M`` has mean ``explore_share * k`` (``floor`` of it, plus one more with
probability equal to the fractional part). Safety and priorities:

* relevance floor: a candidate whose score lies below the ``relevance_floor`` quantile of the
  candidates' scores is never explored (it can still be exploited, when few candidates exist);
* cold items first: of the ``M`` exploration slots, ``round(cold_share * M)`` go to a uniform sample
  of the eligible cold items (``cold_items`` given up front, plus any item shown fewer than
  ``cold_threshold`` times since the policy started), the rest to a uniform sample of the other
  eligible candidates; when one pool runs short, the other fills in; when both do, fewer slots are
  explored;
* the explored items are placed in the exploration slots in uniformly random order;
* optionally an ``explorer`` policy (e.g. a hybrid LinUCB over language-model features) chooses
  the items within each pool instead of a uniform draw, and learns from all the feedback: the
  budget, floor and priority still hold, and the exploration is targeted.

Without an explorer every choice is uniform within a pool whose size is known, so the propensities
are exact: for a
given ``M`` an exploited item is shown at its rank with probability 1 and a member of a pool of size
``P`` from which ``m_P`` items are drawn appears at a given exploration slot with probability
``(m_P / P) * (1 / M)``; the two possible values of ``M`` are mixed with their probabilities. With a
deterministic explorer (UCB, LinUCB) the slate for each value of ``M`` is fixed and the propensities
are again exact; with a stochastic explorer they are Monte-Carlo estimates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.errors import check_range
from explorec.policies.base import FeedbackBatch, FloatArray, IntArray, Policy, grow, top_k


class BudgetedExploration(Policy):
    """Exploration with a budget, a relevance floor and priority for cold items.

    Parameters
    ----------
    explore_share : float in [0, 1]
        Expected share of the slate's slots given to exploration.
    relevance_floor : float in [0, 1)
        Quantile of the candidates' scores below which a candidate is never explored.
    cold_share : float in [0, 1]
        Share of the exploration slots reserved for cold items (while eligible ones exist).
    cold_items : int[m], optional
        Items that count as cold (new to the catalogue).
    cold_threshold : int >= 0
        Items shown fewer than this many times (as seen through ``update``) also count as cold.
    explorer : Policy, optional
        Chooses within the exploration pools (and learns from every feedback); uniform when None.
        Its ``context`` is the rows of ``select``'s context for the pool members.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.
    """

    name = "budget"

    def __init__(
        self,
        *,
        explore_share: float = 0.2,
        relevance_floor: float = 0.5,
        cold_share: float = 0.5,
        cold_items: npt.ArrayLike | None = None,
        cold_threshold: int = 0,
        explorer: Policy | None = None,
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        check_range("explore_share", explore_share, 0.0, 1.0)
        check_range("relevance_floor", relevance_floor, 0.0, 1.0)
        check_range("cold_share", cold_share, 0.0, 1.0)
        if cold_threshold < 0:
            check_range("cold_threshold", cold_threshold, 0, math.inf)
        self.explore_share = explore_share
        self.relevance_floor = relevance_floor
        self.cold_share = cold_share
        self.cold_items = cold_items
        self.cold_threshold = cold_threshold
        self.explorer = explorer
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.shows_ = np.zeros(0)
        self._m: int = 0
        if self.explorer is not None:
            self.explorer.reset()

    def set_cold_items(self, items: npt.ArrayLike) -> None:
        """Replace the explicit set of cold items (new arrivals)."""
        self.cold_items = np.asarray(items, dtype=np.int64)

    # ------------------------------------------------------------------ the plan for one value of M
    def is_cold(self, items: IntArray) -> npt.NDArray[np.bool_]:
        """bool[n]: which candidates count as cold."""
        cold = np.zeros(items.shape[0], dtype=bool)
        if self.cold_items is not None:
            cold |= np.isin(items, np.asarray(self.cold_items, dtype=np.int64))
        if self.cold_threshold > 0:
            shows = np.zeros(items.shape[0])
            inside = items < self.shows_.shape[0]
            shows[inside] = self.shows_[items[inside]]
            cold |= shows < self.cold_threshold
        return cold

    def _plan(
        self, items: IntArray, scores: FloatArray, k: int, m: int
    ) -> tuple[IntArray, list[tuple[IntArray, int]], int]:
        """For ``m`` wanted exploration slots: (exploited in order, [(pool, draws)], slots used)."""
        order = top_k(scores, scores.shape[0])
        threshold = np.quantile(scores, self.relevance_floor, method="lower") if scores.size else 0.0
        cold = self.is_cold(items)
        for m_eff in range(m, -1, -1):
            rest = order[k - m_eff :]
            eligible = rest[scores[rest] >= threshold]
            pool_c = eligible[cold[eligible]]
            pool_w = eligible[~cold[eligible]]
            m_c = min(math.floor(self.cold_share * m_eff + 0.5), pool_c.size)
            m_w = min(m_eff - m_c, pool_w.size)
            m_c = min(m_eff - m_w, pool_c.size)
            if m_c + m_w == m_eff:
                return order[: k - m_eff], [(pool_c, m_c), (pool_w, m_w)], m_eff
        raise AssertionError("unreachable: m_eff = 0 always fits")

    def _m_distribution(self, k: int) -> list[tuple[int, float]]:
        target = self.explore_share * k
        lo = math.floor(target)
        frac = target - lo
        if frac <= 0 or lo >= k:
            return [(min(lo, k), 1.0)]
        return [(lo, 1.0 - frac), (lo + 1, frac)]

    # ------------------------------------------------------------------ policy hooks
    def _rank_many(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator, n: int
    ) -> IntArray:
        return np.stack([self._rank(items, scores, k, context, rng) for _ in range(n)])

    def _rank(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator
    ) -> IntArray:
        dist = self._m_distribution(k)
        m = dist[0][0] if len(dist) == 1 else (dist[1][0] if rng.random() < dist[1][1] else dist[0][0])
        exploited, pools, m_eff = self._plan(items, scores, k, m)
        picks = [self._picks(pool, draws, items, scores, context, rng) for pool, draws in pools if draws > 0]
        explored = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
        if self.explorer is None:
            explored = rng.permutation(explored)
        self._m = m_eff
        return np.concatenate([exploited, explored]).astype(np.int64)

    def _picks(
        self,
        pool: IntArray,
        draws: int,
        items: IntArray,
        scores: FloatArray,
        context: Any,
        rng: np.random.Generator,
    ) -> IntArray:
        """``draws`` members of ``pool`` (candidate indices): uniform, or the explorer's first choices."""
        if self.explorer is None:
            return np.asarray(rng.choice(pool, size=draws, replace=False), dtype=np.int64)
        sub = None if context is None else np.asarray(context)[pool]
        sub = self.explorer._check_context(sub, pool.size)
        return pool[self.explorer._rank(items[pool], scores[pool], draws, sub, rng)]

    def _explorer_is_deterministic(self, items: IntArray, scores: FloatArray, context: Any) -> bool:
        assert self.explorer is not None
        sub = self.explorer._check_context(context, items.size)
        m = self.explorer._exact_matrix(items, scores, 1, sub)
        return m is not None and bool(np.all((m == 0) | (m == 1)))

    def _exact_matrix(self, items: IntArray, scores: FloatArray, k: int, context: Any) -> FloatArray | None:
        n = scores.shape[0]
        out = np.zeros((n, k))
        if self.explorer is not None:
            if not self._explorer_is_deterministic(items, scores, context):
                return None
            for m, weight in self._m_distribution(k):
                rank = self._rank_for(items, scores, k, context, m)
                out[rank, np.arange(rank.size)] += weight
            return out
        for m, weight in self._m_distribution(k):
            exploited, pools, m_eff = self._plan(items, scores, k, m)
            out[exploited, np.arange(exploited.size)] += weight
            for pool, draws in pools:
                if draws > 0:
                    out[pool[:, None], np.arange(k - m_eff, k)[None, :]] += weight * draws / pool.size / m_eff
        return out

    def _rank_for(self, items: IntArray, scores: FloatArray, k: int, context: Any, m: int) -> IntArray:
        """The slate for a given ``M`` with a deterministic explorer."""
        exploited, pools, _ = self._plan(items, scores, k, m)
        rng = np.random.default_rng(0)  # unused by a deterministic explorer
        picks = [self._picks(pool, draws, items, scores, context, rng) for pool, draws in pools if draws > 0]
        return np.concatenate([exploited, *picks]).astype(np.int64)

    def _explored(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rank: IntArray
    ) -> npt.NDArray[np.bool_]:
        return np.arange(k) >= k - self._m

    def _update(self, batch: FeedbackBatch) -> None:
        self.shows_ = grow(self.shows_, int(batch.items.max()) + 1)
        np.add.at(self.shows_, batch.items, 1.0)
        if self.explorer is not None:
            self.explorer.update(batch)
