"""The policy interface: ``select(candidates, k) -> Slate`` and ``update(feedback) -> None``.

A policy is the last and only random stage of the pipeline. It receives the candidates and the
scores of any model, chooses what to show, and states for every shown item the probability
``P(item shown at that position | context)`` under the policy's randomness, so that the log can be
evaluated off-policy later (``explorec.evaluation.ope``).

Template method (as in river): the public ``select`` validates input, handles ``k`` larger than the
candidate list, draws the slate and attaches the propensities; a subclass fills in ``_rank`` (one
draw, as candidate indices) and, when its randomness allows a closed form, ``_exact_matrix``. A
stochastic policy without a closed form implements ``_rank_many`` (vectorised draws) and gets a
Monte-Carlo propensity estimate (see :mod:`explorec.policies.propensity`). ``update`` turns feedback
records into arrays and calls ``_update``.

Each policy owns two generators seeded from its ``seed``: one for the slates it shows and one for the
Monte-Carlo propensity estimate, so the slates do not depend on how many simulations are run.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError, check_positive_int
from explorec.types import ScoredItems, Slate

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Feedback:
    """What happened to one shown item.

    Attributes
    ----------
    user : int
        Internal user index (kept for logging; most policies ignore it).
    item : int
        Internal item index that was shown.
    position : int
        0-based display position.
    reward : float
        Observed reward (1.0 for a click, 0.0 otherwise).
    context : float64[d] or None
        The feature vector the policy saw for this item (the item's row of ``select``'s ``context``).
    score : float
        The model score the policy saw for this item (NaN when unknown); policies that use the
        score as a prior mean (``offset=True``) learn the residual ``reward - score``.
    """

    user: int
    item: int
    position: int
    reward: float
    context: npt.NDArray[np.float64] | None = None
    score: float = float("nan")


@dataclass(frozen=True, eq=False)
class FeedbackBatch:
    """Feedback as arrays (what ``_update`` receives).

    Attributes
    ----------
    users, items, positions : int64[m]
    rewards : float64[m]
    contexts : float64[m, d] or None
    scores : float64[m] or None
        Model scores the policy saw (None when unknown).
    """

    users: IntArray
    items: IntArray
    positions: IntArray
    rewards: FloatArray
    contexts: FloatArray | None = None
    scores: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.items.shape[0])

    @classmethod
    def from_records(cls, records: Sequence[Feedback]) -> FeedbackBatch:
        ctx = [r.context for r in records]
        contexts = None
        if records and all(c is not None for c in ctx):
            contexts = np.stack([np.asarray(c, dtype=np.float64).reshape(-1) for c in ctx])  # [m, d]
        elif any(c is not None for c in ctx):
            raise DataError("feedback: either every record carries a context vector or none does")
        scores = np.array([r.score for r in records], dtype=np.float64)
        return cls(
            np.array([r.user for r in records], dtype=np.int64),
            np.array([r.item for r in records], dtype=np.int64),
            np.array([r.position for r in records], dtype=np.int64),
            np.array([r.reward for r in records], dtype=np.float64),
            contexts,
            None if np.isnan(scores).all() else scores,
        )


def feedback_for_slate(
    slate: Slate,
    rewards: npt.ArrayLike,
    *,
    user: int = -1,
    context: npt.ArrayLike | None = None,
    candidate_items: npt.ArrayLike | None = None,
) -> FeedbackBatch:
    """Feedback for every shown item of ``slate``.

    Parameters
    ----------
    slate : Slate
    rewards : float[k]
        Reward of each shown position (clicks: 0/1).
    user : int
        Internal user index.
    context : float[n_candidates, d], optional
        The context matrix passed to ``select``; the rows of the shown items are attached.
    candidate_items : int[n_candidates], optional
        The candidate items passed to ``select`` (needed to find the rows of ``context``).
    """
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if r.shape[0] != len(slate):
        raise DataError(f"rewards has {r.shape[0]} values for a slate of {len(slate)} items")
    ctx = None
    if context is not None:
        if candidate_items is None:
            raise ConfigError("candidate_items is required to attach context rows to feedback")
        cand = np.asarray(candidate_items, dtype=np.int64)
        rows = _positions_of(cand, slate.items)
        ctx = np.asarray(context, dtype=np.float64)[rows]  # [k, d]
    k = len(slate)
    return FeedbackBatch(
        np.full(k, user, dtype=np.int64),
        slate.items.copy(),
        np.arange(k, dtype=np.int64),
        r,
        ctx,
        slate.scores.astype(np.float64),
    )


def _positions_of(candidates: IntArray, items: IntArray) -> IntArray:
    order = np.argsort(candidates, kind="stable")
    idx = np.searchsorted(candidates[order], items)
    idx = np.clip(idx, 0, candidates.size - 1)
    rows = order[idx]
    if not np.array_equal(candidates[rows], items):
        raise DataError("a shown item is not among the candidates")
    return rows.astype(np.int64)


class Policy(ABC):
    """Chooses a slate of ``k`` items from scored candidates and learns from feedback.

    Parameters (common to every policy)
    ----------
    seed : int
        Seeds the policy's own generators (never the global one).
    n_mc : int
        Number of simulated draws for the Monte-Carlo propensity estimate of policies without a
        closed form (ignored by the others).
    """

    #: registry name, also written into every slate
    name: ClassVar[str] = ""

    seed: int
    n_mc: int

    def __init__(self, *, seed: int = 0, n_mc: int = 1000) -> None:
        self.seed = seed
        self.n_mc = n_mc
        self.reset()

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as passed to the constructor (subclasses' and the base's)."""
        names: list[str] = []
        for klass in type(self).__mro__:
            if klass is object or "__init__" not in vars(klass):
                continue
            for p in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in names:
                    names.append(p.name)
        return {p: getattr(self, p) for p in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def reset(self) -> None:
        """Forget everything learned and re-seed the generators (the policy is as new)."""
        check_positive_int("n_mc", self.n_mc)
        seq = np.random.SeedSequence(self.seed)
        slate_seq, mc_seq = seq.spawn(2)
        self.rng_ = np.random.default_rng(slate_seq)
        self.mc_rng_ = np.random.default_rng(mc_seq)
        self.n_updates_ = 0
        self._reset_state()

    def _reset_state(self) -> None:
        """Hook: initialise learned state (called by ``reset``)."""

    # ------------------------------------------------------------------ select
    def select(
        self,
        candidates: ScoredItems | npt.ArrayLike,
        k: int,
        *,
        scores: npt.ArrayLike | None = None,
        context: Any = None,
    ) -> Slate:
        """Choose up to ``k`` items from ``candidates``.

        Parameters
        ----------
        candidates : ScoredItems or int[n]
            Candidate items with the model's scores (higher is better), or bare item indices with
            ``scores`` given separately (omitted scores count as all equal).
        k : int
            Slate length. With fewer than ``k`` candidates, all of them are arranged and
            ``Slate.note`` says so.
        scores : float[n], optional
            Scores when ``candidates`` is an index array.
        context : optional
            Policy-specific: for linear policies a float[n, d] matrix with one feature row per
            candidate; for ``UncertaintyPolicy`` the standard deviations float[n].

        Returns
        -------
        Slate
            Items in display order, the scores the policy saw, the propensity of each shown item at
            its position, which slots were explored, and how the propensities were obtained.
        """
        items, sc = _as_candidates(candidates, scores)
        k = check_positive_int("k", k)
        n = items.shape[0]
        note = ""
        if n < k:
            note = f"asked for k={k} but only {n} candidates exist; showing {n}"
        k_eff = min(k, n)
        if k_eff == 0:
            return Slate(
                np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.float32),
                np.zeros(0),
                np.zeros(0, dtype=bool),
                policy=self.name,
                note=note,
            )
        ctx = self._check_context(context, n)
        rank = self._rank(items, sc, k_eff, ctx, self.rng_)  # [k_eff] candidate indices
        explored = self._explored(items, sc, k_eff, ctx, rank)
        props, method = self._propensities(items, sc, k_eff, ctx, rank)
        return Slate(
            items[rank].copy(),
            sc[rank].astype(np.float32),
            np.asarray(props, dtype=np.float64),
            explored,
            policy=self.name,
            propensity_method=method,
            note=note,
        )

    def propensity_matrix(
        self,
        candidates: ScoredItems | npt.ArrayLike,
        k: int,
        *,
        scores: npt.ArrayLike | None = None,
        context: Any = None,
    ) -> tuple[FloatArray, str]:
        """``P[c, j]``: probability that candidate ``c`` (input order) is shown at position ``j``.

        Returns the exact matrix when the policy has a closed form, otherwise the Monte-Carlo
        estimate from ``n_mc`` simulated draws (drawn from the Monte-Carlo generator, so the slates
        the policy shows are unaffected). Returns ``(matrix float64[n, min(k, n)], method)``.
        """
        items, sc = _as_candidates(candidates, scores)
        k_eff = min(check_positive_int("k", k), items.shape[0])
        ctx = self._check_context(context, items.shape[0])
        matrix = self._exact_matrix(items, sc, k_eff, ctx)
        if matrix is not None:
            return matrix, "exact"
        counts = np.zeros((sc.shape[0], k_eff))
        for size in _chunks(self.n_mc, sc.shape[0]):
            ranks = self._rank_many(items, sc, k_eff, ctx, self.mc_rng_, size)  # [size, k_eff]
            counts += _count_matrix(ranks, sc.shape[0])
        return counts / self.n_mc, f"monte-carlo:{self.n_mc}"

    # ------------------------------------------------------------------ hooks
    def _check_context(self, context: Any, n: int) -> Any:
        """Validate ``context`` for ``n`` candidates (default: ignored)."""
        return context

    @abstractmethod
    def _rank(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator
    ) -> IntArray:
        """One draw: int64[k] candidate indices in display order."""

    def _rank_many(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rng: np.random.Generator, n: int
    ) -> IntArray:
        """``n`` independent draws, int64[n, k] (default: ``_rank`` in a loop)."""
        return np.stack([self._rank(items, scores, k, context, rng) for _ in range(n)])

    def _exact_matrix(self, items: IntArray, scores: FloatArray, k: int, context: Any) -> FloatArray | None:
        """float64[n, k] exact position probabilities, or None when there is no closed form."""
        return None

    def _explored(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rank: IntArray
    ) -> npt.NDArray[np.bool_]:
        """Which slots differ from the policy's exploiting choice (default: not in the top ``k`` by
        ``_point_scores``)."""
        greedy = top_k(self._point_scores(items, scores, context), k)
        return ~np.isin(rank, greedy)

    def _point_scores(self, items: IntArray, scores: FloatArray, context: Any) -> FloatArray:
        """The policy's exploiting estimate per candidate (default: the model scores)."""
        return scores

    def _propensities(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rank: IntArray
    ) -> tuple[FloatArray, str]:
        """Propensities of the shown ``rank`` and the method's name: exact when ``_exact_matrix``
        gives a closed form, otherwise the Monte-Carlo estimate."""
        matrix = self._exact_matrix(items, scores, k, context)
        if matrix is not None:
            return matrix[rank, np.arange(k)], "exact"
        return self._monte_carlo(items, scores, k, context, rank), f"monte-carlo:{self.n_mc}"

    def _monte_carlo(
        self, items: IntArray, scores: FloatArray, k: int, context: Any, rank: IntArray
    ) -> FloatArray:
        """Propensities of the shown ``rank`` from ``n_mc`` more draws plus the shown one.

        Counting the draw that was actually shown as one of ``n_mc + 1`` draws keeps the estimate
        unbiased (every draw comes from the same distribution) and strictly positive, which inverse
        propensity weighting needs.
        """
        hits = np.zeros(k)
        for size in _chunks(self.n_mc, scores.shape[0]):
            sims = self._rank_many(items, scores, k, context, self.mc_rng_, size)  # [size, k]
            hits += (sims == rank[None, :]).sum(axis=0)
        return (hits + 1.0) / (self.n_mc + 1.0)

    # ------------------------------------------------------------------ update
    def update(self, feedback: Feedback | Iterable[Feedback] | FeedbackBatch) -> None:
        """Learn from what happened to shown items (returns None: the policy is stateful)."""
        if isinstance(feedback, FeedbackBatch):
            batch = feedback
        elif isinstance(feedback, Feedback):
            batch = FeedbackBatch.from_records([feedback])
        else:
            batch = FeedbackBatch.from_records(list(feedback))
        if len(batch) == 0:
            return
        if np.any(batch.items < 0):
            raise DataError(f"feedback: item index {int(batch.items.min())} < 0")
        if np.any(batch.positions < 0):
            raise DataError(f"feedback: position {int(batch.positions.min())} < 0")
        if not np.all(np.isfinite(batch.rewards)):
            bad = int(np.flatnonzero(~np.isfinite(batch.rewards))[0])
            raise DataError(f"feedback: record {bad} has a non-finite reward")
        self._update(batch)
        self.n_updates_ += len(batch)

    def _update(self, batch: FeedbackBatch) -> None:
        """Hook: learn from a batch (default: nothing to learn)."""


# ---------------------------------------------------------------------- helpers
def _as_candidates(
    candidates: ScoredItems | npt.ArrayLike, scores: npt.ArrayLike | None
) -> tuple[IntArray, FloatArray]:
    if isinstance(candidates, ScoredItems):
        if scores is not None:
            raise ConfigError("pass scores either inside ScoredItems or as scores=, not both")
        items = np.asarray(candidates.items, dtype=np.int64)
        sc = np.asarray(candidates.scores, dtype=np.float64)
    else:
        items = np.asarray(candidates, dtype=np.int64).reshape(-1)
        sc = np.zeros(items.shape[0]) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if sc.shape != items.shape:
        raise DataError(f"candidates: {items.shape[0]} items but {sc.shape[0]} scores")
    if items.size:
        if items.min() < 0:
            raise DataError(f"candidates: item index {int(items.min())} < 0")
        uniq, counts = np.unique(items, return_counts=True)
        if counts.max() > 1:
            raise DataError(
                f"candidates: item {int(uniq[counts.argmax()])} appears {int(counts.max())} times"
            )
        bad = ~np.isfinite(sc)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"candidates: score of item {int(items[j])} (position {j}) is {sc[j]}")
    return items, sc


def top_k(values: FloatArray, k: int) -> IntArray:
    """Indices of the ``k`` largest values, best first; ties go to the lower index."""
    n = values.shape[0]
    if k < n:
        part = np.argpartition(-values, k - 1)[:k]
        order = np.lexsort((part, -values[part]))
        return part[order].astype(np.int64)
    return np.lexsort((np.arange(n), -values)).astype(np.int64)


def top_k_rows(values: FloatArray, k: int) -> IntArray:
    """Row-wise :func:`top_k` of a float[m, n] matrix, int64[m, k] (ties: lower index first)."""
    m, n = values.shape
    if k < n:
        part = np.argpartition(-values, k - 1, axis=1)[:, :k]  # [m, k]
    else:
        part = np.tile(np.arange(n), (m, 1))
    vals = np.take_along_axis(values, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def _chunks(total: int, width: int, budget: int = 4_000_000) -> list[int]:
    """Split ``total`` draws into chunks of at most ``budget / width`` (bounded memory)."""
    size = max(1, budget // max(width, 1))
    return [min(size, total - start) for start in range(0, total, size)]


def _count_matrix(ranks: IntArray, n: int) -> FloatArray:
    """Counts ``C[c, j]`` of candidate ``c`` at position ``j`` over draws int[m, k]."""
    k = ranks.shape[1]
    flat = ranks * k + np.arange(k)[None, :]
    return np.bincount(flat.ravel(), minlength=n * k).reshape(n, k).astype(np.float64)


def one_hot_matrix(rank: IntArray, n: int) -> FloatArray:
    """The exact position matrix of a deterministic slate."""
    k = rank.shape[0]
    out = np.zeros((n, k))
    out[rank, np.arange(k)] = 1.0
    return out


def check_context_matrix(context: Any, n: int, name: str) -> FloatArray:
    """float64[n, d] feature rows for ``n`` candidates, or ``DataError`` naming the problem."""
    if context is None:
        raise ConfigError(f"{name} needs context=float[n_candidates, d] feature rows")
    x = np.asarray(context, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != n:
        raise DataError(f"{name}: context has shape {x.shape}, expected ({n}, d)")
    if not np.all(np.isfinite(x)):
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise DataError(f"{name}: context row {row} holds a non-finite value")
    return x


def position_weights(examination: Sequence[float] | None, positions: IntArray) -> FloatArray:
    """Examination probability of each position (1 when no model is given; the last value repeats)."""
    if examination is None:
        return np.ones(positions.shape[0])
    w = np.asarray(examination, dtype=np.float64)
    return w[np.minimum(positions, w.shape[0] - 1)]


def grow(array: npt.NDArray[Any], size: int, fill: float = 0.0) -> npt.NDArray[Any]:
    """``array`` extended along axis 0 to at least ``size`` rows (capacity doubles), new rows ``fill``."""
    if array.shape[0] >= size:
        return array
    new = max(size, 2 * array.shape[0], 16)
    out = np.full((new, *array.shape[1:]), fill, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out
