"""Exploration under a budget: a set share of slots, never below a relevance floor, new items first.

``BudgetedExploration`` shows the first candidates of the frame's order (the score order, or the
re-rankers') in the top slots and explores in the
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
are again exact; with a stochastic explorer they are geometric inverse-propensity estimates
(:mod:`explorec.policies.propensity`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.errors import check_range
from explorec.policies.base import FeedbackBatch, FloatArray, IntArray, Policy, grow
from explorec.types import CandidateFrame


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
        It sees the pool members' rows of the frame, with the columns it declares (the budget
        requires what its explorer requires).
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
        if self.explorer is not None:
            self.explorer.reset()

    def columns_needed(self) -> tuple[str, ...]:
        return () if self.explorer is None else self.explorer.columns_needed()

    def design_matrix(self, frame: CandidateFrame) -> FloatArray | None:
        return None if self.explorer is None else self.explorer.design_matrix(frame)

    def _context_columns(self, context: Any, n: int) -> dict[str, npt.NDArray[Any]]:
        return {} if self.explorer is None else self.explorer._context_columns(context, n)

    def _check_frame(self, frame: CandidateFrame) -> None:
        if self.explorer is not None:
            self.explorer._check_frame(frame)

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
        self, frame: CandidateFrame, k: int, m: int
    ) -> tuple[IntArray, list[tuple[IntArray, int]], int]:
        """For ``m`` wanted exploration slots: (exploited rows in order, [(pool, draws)], slots used)."""
        items, scores = frame.items, frame.scores.astype(np.float64)
        order = np.arange(items.size, dtype=np.int64)  # rows come in position order
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
    def _draws(
        self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int
    ) -> tuple[IntArray, IntArray]:
        """``n`` draws: (rows int64[n, k] in display order, exploration slots used per draw int64[n])."""
        dist = self._m_distribution(k)
        if len(dist) == 1:
            ms = np.full(n, dist[0][0], dtype=np.int64)
        else:
            ms = np.where(rng.random(n) < dist[1][1], dist[1][0], dist[0][0]).astype(np.int64)
        ranks = np.empty((n, k), dtype=np.int64)
        used = np.empty(n, dtype=np.int64)
        for m in np.unique(ms):
            idx = np.flatnonzero(ms == m)
            exploited, pools, m_eff = self._plan(frame, k, int(m))
            picks = [self._picks(frame, pool, draws, rng, idx.size) for pool, draws in pools if draws > 0]
            explored = np.hstack(picks) if picks else np.zeros((idx.size, 0), dtype=np.int64)
            if self.explorer is None and explored.shape[1] > 1:  # uniform order over the slots
                order = np.argsort(rng.random(explored.shape), axis=1)
                explored = np.take_along_axis(explored, order, axis=1)
            ranks[idx] = np.hstack([np.tile(exploited, (idx.size, 1)), explored])
            used[idx] = m_eff
        return ranks, used

    def _draw(
        self, frame: CandidateFrame, k: int, rng: np.random.Generator
    ) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        ranks, used = self._draws(frame, k, rng, 1)
        return ranks[0], np.arange(k) >= k - int(used[0])

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return self._draws(frame, k, rng, 1)[0][0]

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        return self._draws(frame, k, rng, n)[0]

    def _picks(
        self, frame: CandidateFrame, pool: IntArray, draws: int, rng: np.random.Generator, n: int
    ) -> IntArray:
        """``n`` times ``draws`` members of ``pool`` (rows), int64[n, draws]: a uniform ordered sample
        without replacement, or the explorer's first choices."""
        if self.explorer is None:
            keys = rng.random((n, pool.size))  # random keys: the first draws form a uniform sample
            return np.asarray(pool[np.argsort(keys, axis=1)[:, :draws]], dtype=np.int64)
        sub = frame.take(pool)
        self.explorer._check_frame(sub)
        return np.asarray(pool[self.explorer._rank_many(sub, draws, rng, n)], dtype=np.int64)

    def _explorer_is_deterministic(self, frame: CandidateFrame) -> bool:
        assert self.explorer is not None
        m = self.explorer._exact_matrix(frame, 1)
        return m is not None and bool(np.all((m == 0) | (m == 1)))

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray | None:
        n = len(frame)
        out = np.zeros((n, k))
        if self.explorer is not None:
            if not self._explorer_is_deterministic(frame):
                return None
            for m, weight in self._m_distribution(k):
                rank = self._rank_for(frame, k, m)
                out[rank, np.arange(rank.size)] += weight
            return out
        for m, weight in self._m_distribution(k):
            exploited, pools, m_eff = self._plan(frame, k, m)
            out[exploited, np.arange(exploited.size)] += weight
            for pool, draws in pools:
                if draws > 0:
                    out[pool[:, None], np.arange(k - m_eff, k)[None, :]] += weight * draws / pool.size / m_eff
        return out

    def _rank_for(self, frame: CandidateFrame, k: int, m: int) -> IntArray:
        """The slate for a given ``M`` with a deterministic explorer."""
        exploited, pools, _ = self._plan(frame, k, m)
        rng = np.random.default_rng(0)  # unused by a deterministic explorer
        picks = [self._picks(frame, pool, draws, rng, 1)[0] for pool, draws in pools if draws > 0]
        return np.concatenate([exploited, *picks]).astype(np.int64)

    def _update(self, batch: FeedbackBatch) -> None:
        self.shows_ = grow(self.shows_, int(batch.items.max()) + 1)
        np.add.at(self.shows_, batch.items, 1.0)
        if self.explorer is not None:
            self.explorer.update(batch)
