"""The policy interface: ``select(frame, k) -> Slate`` and ``update(feedback) -> None``.

A policy is the last and only random stage of the pipeline. It receives a
:class:`~explorec.types.CandidateFrame` (items, each item's own model score, the order proposed by
the re-rankers, the mask, and the named columns it declares in ``requires``), chooses what to show,
and states for every shown item the probability ``P(item shown at that position | context)`` under
the policy's randomness, so that the log can be evaluated off-policy later
(``explorec.evaluation.ope``).

Template method (as in river): the public ``select`` validates the frame (and checks that the
declared columns are present), drops masked rows, puts the rows in position order, handles ``k``
larger than the candidate list, draws the slate and attaches the propensities; a subclass fills in
``_rank`` (one draw, as row indices) and, when its randomness allows a closed form,
``_exact_matrix``. A stochastic policy without a closed form implements ``_rank_many`` (vectorised
draws) and gets the geometric inverse-propensity estimate (see :mod:`explorec.policies.propensity`).
A policy whose explored slots cannot be read off the ranking (epsilon-greedy, the budget) returns
them from the same draw (``_draw``): no state is kept between calls. ``update`` turns feedback
records into arrays and calls ``_update``.

Each policy owns two generators seeded from its ``seed``: one for the slates it shows and one for the
propensity estimates, so the slates do not depend on how many simulations are run.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError, check_positive_int
from explorec.ranking import top_k
from explorec.types import COLUMNS, CandidateFrame, Slate

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["top_k"]  # re-exported: the one top-k (explorec.ranking), used by every policy


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
    frame: CandidateFrame | None = None,
    policy: Policy | None = None,
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
    frame, policy : CandidateFrame and Policy, optional
        The frame passed to ``policy.select``: the shown rows of ``policy.design_matrix(frame)``
        are attached (instead of ``context`` and ``candidate_items``).
    """
    if frame is not None and policy is not None:
        context, candidate_items = policy.design_matrix(frame), frame.items
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
    """Chooses a slate of ``k`` items from a candidate frame and learns from feedback.

    Parameters (common to every policy)
    ----------
    seed : int
        Seeds the policy's own generators (never the global one).
    n_mc : int
        For policies without a closed form: the cap on the fresh draws of the geometric
        inverse-propensity estimate (see :mod:`explorec.policies.propensity`), and the number of
        draws of :meth:`propensity_matrix`'s frequency estimate. Ignored by the others.
    """

    #: registry name, also written into every slate
    name: ClassVar[str] = ""
    #: frame columns the policy reads (see :data:`explorec.types.COLUMNS`)
    requires: ClassVar[tuple[str, ...]] = ()

    seed: int
    n_mc: int

    def __init__(self, *, seed: int = 0, n_mc: int = 1000) -> None:
        self.seed = seed
        self.n_mc = n_mc
        self.reset()

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as passed to the constructor (subclasses' and the base's)."""
        return {p: getattr(self, p) for p in _param_names(type(self))}

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

    def columns_needed(self) -> tuple[str, ...]:
        """The frame columns this policy instance reads (default: the class's ``requires``)."""
        return self.requires

    def ranks_read(self, k: int, n: int) -> int:
        """How many leading rows of the frame's order this policy's slate distribution depends on.

        Rows beyond them are exchangeable for the policy (it treats every order of them alike), so
        a re-ranker in front of it needs to order only that many of ``n`` candidates. Default:
        all ``n`` (the policy reads the whole order, or the scores).
        """
        return n

    # ------------------------------------------------------------------ select
    def select(
        self,
        candidates: CandidateFrame | npt.ArrayLike,
        k: int,
        *,
        scores: npt.ArrayLike | None = None,
        context: npt.ArrayLike | None = None,
    ) -> Slate:
        """Choose up to ``k`` items from ``candidates``.

        Parameters
        ----------
        candidates : CandidateFrame or int[n]
            The candidate frame (items, own model scores, the order proposed so far, mask, the
            columns in :meth:`columns_needed`), or bare item indices with ``scores`` given
            separately (omitted scores count as all equal). Masked rows are never shown.
        k : int
            Slate length. With fewer than ``k`` candidates, all of them are arranged and
            ``Slate.note`` says so.
        scores : float[n], optional
            Scores when ``candidates`` is an index array.
        context : float[n, d] or float[n], optional
            Shorthand for the policy's required column, one row per candidate in input order
            (``features`` for the linear policies, ``uncertainty`` for ``UncertaintyPolicy``).

        Returns
        -------
        Slate
            Items in display order, their own scores, the propensity of each shown item at its
            position, which slots were explored, how the propensities were obtained, and the
            policy's parameters.
        """
        frame, _, _ = self._frame(candidates, scores, context)
        k = check_positive_int("k", k)
        n = len(frame)
        note = ""
        if n < k:
            note = f"asked for k={k} but only {n} candidates exist; showing {n}"
        k_eff = min(k, n)
        params = self.get_params()
        if k_eff == 0:
            return Slate(
                np.zeros(0, dtype=np.int64),
                np.zeros(0, dtype=np.float32),
                np.zeros(0),
                np.zeros(0, dtype=bool),
                policy=self.name,
                note=note,
                policy_params=params,
            )
        rank, explored, swap = self._draw_slate(frame, k_eff, self.rng_)  # [k_eff] rows in display order
        props, method = self._propensities(frame, k_eff, rank)
        return Slate(
            frame.items[rank].copy(),
            frame.scores[rank].copy(),
            np.asarray(props, dtype=np.float64),
            np.asarray(explored, dtype=bool),
            policy=self.name,
            propensity_method=method,
            note=note,
            policy_params=params,
            swap=swap,
        )

    def propensity_matrix(
        self,
        candidates: CandidateFrame | npt.ArrayLike,
        k: int,
        *,
        scores: npt.ArrayLike | None = None,
        context: npt.ArrayLike | None = None,
    ) -> tuple[FloatArray, str]:
        """``P[c, j]``: probability that candidate ``c`` (input row order) is shown at position ``j``.

        Returns the exact matrix when the policy has a closed form, otherwise the frequencies over
        ``n_mc`` simulated draws (drawn from the Monte-Carlo generator, so the slates the policy
        shows are unaffected); an unbiased estimate of each probability, e.g. for the evaluation
        policy of off-policy estimators. Masked rows get 0. Returns
        ``(matrix float64[n, min(k, n_unmasked)], method)``.
        """
        frame, rows, n_input = self._frame(candidates, scores, context)
        k_eff = min(check_positive_int("k", k), len(frame))
        matrix = self._exact_matrix(frame, k_eff)
        method = "exact"
        if matrix is None:
            counts = np.zeros((len(frame), k_eff))
            for size in _chunks(self.n_mc, len(frame)):
                counts += _count_matrix(self._rank_many(frame, k_eff, self.mc_rng_, size), len(frame))
            matrix, method = counts / self.n_mc, f"monte-carlo:{self.n_mc}"
        out = np.zeros((n_input, k_eff))
        out[rows] = matrix
        return out, method

    def sample_rankings(
        self,
        candidates: CandidateFrame | npt.ArrayLike,
        k: int,
        n: int,
        *,
        scores: npt.ArrayLike | None = None,
        context: npt.ArrayLike | None = None,
        seed: int = 0,
    ) -> IntArray:
        """``n`` independent slates from the policy's current state, as input row indices
        int64[n, min(k, n_unmasked)], drawn with a generator seeded by ``seed`` (the policy's own
        generators are untouched). What the propensities are checked against."""
        frame, rows, _ = self._frame(candidates, scores, context)
        k_eff = min(check_positive_int("k", k), len(frame))
        rng = np.random.default_rng(seed)
        out = [self._rank_many(frame, k_eff, rng, size) for size in _chunks(n, len(frame))]
        return rows[np.concatenate(out)] if out else np.zeros((0, k_eff), dtype=np.int64)

    def design_matrix(self, frame: CandidateFrame) -> FloatArray | None:
        """The feature rows the policy learns from (linear policies), aligned with ``frame``'s rows;
        None for policies without features. ``feedback_for_slate`` attaches the shown rows."""
        return None

    # ------------------------------------------------------------------ the frame
    def _frame(
        self, candidates: CandidateFrame | npt.ArrayLike, scores: npt.ArrayLike | None, context: Any
    ) -> tuple[CandidateFrame, IntArray, int]:
        """(validated frame of the unmasked rows in position order, their input row indices, the
        number of input rows)."""
        frame = _as_frame(candidates, scores)
        if context is not None:
            frame = frame.with_columns(**self._context_columns(context, len(frame)))
        n_input = len(frame)
        rows = frame.order()
        if frame.mask.any():
            rows = rows[~frame.mask[rows]]
        if rows.size != n_input or np.any(rows != np.arange(n_input)):
            frame = frame.take(rows)
        for name in self.columns_needed():
            if not frame.has(name):
                raise ConfigError(
                    f"{type(self).__name__} needs the frame column {name!r} ({COLUMNS.get(name, '')}); "
                    "build it with explorec.pipeline.build_columns (recommend() does, given item_vectors "
                    "or a model with score_uncertainty) or pass context="
                )
        self._check_frame(frame)
        return frame, rows, n_input

    def _context_columns(self, context: Any, n: int) -> dict[str, npt.NDArray[Any]]:
        """The ``context=`` shorthand as frame columns (default: the first required column)."""
        needed = self.columns_needed()
        if not needed:
            return {}
        arr = np.asarray(context, dtype=np.float64)
        if arr.shape[:1] != (n,):
            raise DataError(f"{type(self).__name__}: context has shape {arr.shape}, expected ({n}, ...)")
        return {needed[0]: arr}

    # ------------------------------------------------------------------ hooks
    def _check_frame(self, frame: CandidateFrame) -> None:
        """Validate the required columns (default: nothing to check)."""

    @abstractmethod
    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        """One draw: int64[k] row indices in display order (rows are in position order)."""

    def _draw(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> tuple[IntArray, BoolArray]:
        """One draw and which of its slots explored (default: ``_rank`` and ``_explored``). A
        policy whose exploration cannot be read off the ranking returns both from one draw."""
        rank = self._rank(frame, k, rng)
        return rank, self._explored(frame, k, rank)

    def _draw_slate(
        self, frame: CandidateFrame, k: int, rng: np.random.Generator
    ) -> tuple[IntArray, BoolArray, tuple[int, int] | None]:
        """``_draw`` and the display positions a randomised swap exchanged (default: no swap; see
        :class:`explorec.policies.swap.PositionSwap`), all from one draw."""
        rank, explored = self._draw(frame, k, rng)
        return rank, explored, None

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        """``n`` independent draws, int64[n, k] (default: ``_rank`` in a loop)."""
        return np.stack([self._rank(frame, k, rng) for _ in range(n)])

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray | None:
        """float64[n, k] exact position probabilities, or None when there is no closed form."""
        return None

    def _explored(self, frame: CandidateFrame, k: int, rank: IntArray) -> BoolArray:
        """Which slots differ from the policy's exploiting choice (default: not in the top ``k`` by
        ``_point_scores``)."""
        greedy = top_k(self._point_scores(frame), k)
        return ~np.isin(rank, greedy)

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        """The policy's exploiting estimate per row (default: the model scores)."""
        return frame.scores.astype(np.float64)

    def _propensities(self, frame: CandidateFrame, k: int, rank: IntArray) -> tuple[FloatArray, str]:
        """Propensities of the shown ``rank`` and the method's name: exact when ``_exact_matrix``
        gives a closed form, otherwise the capped geometric estimate (:meth:`_geometric`)."""
        matrix = self._exact_matrix(frame, k)
        if matrix is not None:
            return matrix[rank, np.arange(k)], "exact"
        return self._geometric(frame, k, rank), f"geometric:{self.n_mc}"

    def _geometric(self, frame: CandidateFrame, k: int, rank: IntArray) -> FloatArray:
        """``1 / G_j`` per slot, ``G_j`` the number of fresh draws until slot ``j`` shows ``rank[j]``.

        ``G_j`` is geometric with success probability ``p_j = P(rank[j] at j)``, so
        ``E[G_j] = 1 / p_j`` exactly: the inverse propensity that IPS multiplies by is unbiased.
        Draws stop at ``n_mc``; a slot not hit by then gets ``G_j = n_mc``, which biases its weight by
        ``-(1 - p_j) ** n_mc / p_j`` (relative bias ``-(1 - p_j) ** n_mc <= -exp(-p_j n_mc)``; the method
        name ``"geometric:<n_mc>"`` records the cap). Draws come from the Monte-Carlo generator and
        are shared by the slots (each ``G_j`` is still geometric), so the cost is about
        ``1 / min_j p_j`` draws, at most ``n_mc``.
        """
        cap = self.n_mc
        first = np.zeros(k, dtype=np.int64)  # draw count at the first hit; 0 = not yet
        drawn, size = 0, 32
        limit = _chunks(cap, len(frame))[0]
        while drawn < cap and not first.all():
            size = min(size, cap - drawn, limit)
            sims = self._rank_many(frame, k, self.mc_rng_, size)  # [size, k]
            hit = sims == rank[None, :]  # [size, k]
            new = (first == 0) & hit.any(axis=0)
            first[new] = drawn + hit.argmax(axis=0)[new] + 1
            drawn += size
            size *= 2
        g = np.where(first > 0, first, cap)
        return 1.0 / g.astype(np.float64)

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
@functools.cache
def _param_names(klass: type[Policy]) -> tuple[str, ...]:
    """The keyword-only constructor parameters of ``klass`` and its bases (computed once per class)."""
    names: list[str] = []
    for base in klass.__mro__:
        if base is object or "__init__" not in vars(base):
            continue
        for p in inspect.signature(vars(base)["__init__"]).parameters.values():
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in names:
                names.append(p.name)
    return tuple(names)


def _as_frame(candidates: CandidateFrame | npt.ArrayLike, scores: npt.ArrayLike | None) -> CandidateFrame:
    """A validated frame: distinct non-negative items, finite scores."""
    if isinstance(candidates, CandidateFrame):
        if scores is not None:
            raise ConfigError("pass scores either inside the CandidateFrame or as scores=, not both")
        frame = candidates
    else:
        items = np.asarray(candidates, dtype=np.int64).reshape(-1)
        sc = np.zeros(items.shape[0]) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if sc.shape != items.shape:
            raise DataError(f"candidates: {items.shape[0]} items but {sc.shape[0]} scores")
        bad = ~np.isfinite(sc)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"candidates: score of item {int(items[j])} (position {j}) is {sc[j]}")
        frame = CandidateFrame(items, sc.astype(np.float32))
    items, own = frame.items, frame.scores
    if items.size:
        if items.min() < 0:
            raise DataError(f"candidates: item index {int(items.min())} < 0")
        uniq, counts = np.unique(items, return_counts=True)
        if counts.max() > 1:
            raise DataError(
                f"candidates: item {int(uniq[counts.argmax()])} appears {int(counts.max())} times"
            )
        bad = ~np.isfinite(own) & ~frame.mask
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"candidates: score of item {int(items[j])} (position {j}) is {own[j]}")
    return frame


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


def check_feature_rows(values: npt.ArrayLike, n: int, name: str, column: str = "features") -> FloatArray:
    """float64[n, d] feature rows for ``n`` candidates, or ``DataError`` naming the problem."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != n:
        raise DataError(f"{name}: column {column!r} has shape {x.shape}, expected ({n}, d)")
    if not np.all(np.isfinite(x)):
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise DataError(f"{name}: column {column!r} row {row} holds a non-finite value")
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
