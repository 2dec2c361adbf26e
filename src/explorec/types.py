"""Plain records passed between the stages of the pipeline.

Internal ids are dense integer indices (``user``, ``item``); external string ids exist only at the
edges (loaders, service, CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.errors import DataError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


#: the named columns a frame may carry, and what each holds (policies and re-rankers declare theirs)
COLUMNS: dict[str, str] = {
    "features": "float64[n, d]: context feature row per candidate (linear policies)",
    "arm_features": "float64[n, d_arm]: per-item part of the hybrid LinUCB's feature row",
    "uncertainty": "float64[n] >= 0: the model's standard deviation of each score",
    "popularity": "float64[n] >= 0: training interactions of each item",
    "rerank_score": "float64[n]: a re-scoring re-ranker's adjusted score (e.g. pop-debias)",
    "vectors": "float[n, dim]: item vectors (or category rows as fallback), MMR/DPP similarity",
    "categories": "float64[n, n_categories]: p(category | item) rows (calibration)",
    "groups": "int64[n]: provider / popularity-bucket id of each item (fairness)",
}


@dataclass(frozen=True, eq=False)
class CandidateFrame:
    """One user's candidates as they flow score -> mask -> candidates -> re-rank -> policy.

    In the spirit of LensKit's ``ItemList``: one typed object passed between the stages. Each row is
    one item; the arrays are aligned by row.

    Attributes
    ----------
    items : int64[n]
        Internal item indices (distinct).
    scores : float32[n]
        Each item's *own* model score; no stage rewrites it (a re-scoring re-ranker writes the
        ``rerank_score`` column instead), so the slate and the impression log keep it.
    positions : int64[n]
        The order the stages so far propose (0 = first): the score order (ties: lower item index,
        see :mod:`explorec.ranking`) until a re-ranker reorders it. Default: the score order.
    mask : bool[n]
        True for rows that must never be shown (e.g. a seen item); every stage skips them.
        Default: no row masked.
    columns : mapping of str to array
        Optional named columns with ``n`` rows (see :data:`COLUMNS`): context ``features``,
        ``uncertainty``, ``popularity``, ... Policies and re-rankers declare the ones they need
        (``requires``); :func:`explorec.columns.build_columns` builds them.

    Examples
    --------
    >>> import numpy as np
    >>> frame = CandidateFrame(np.array([7, 8, 9]), np.array([0.1, 0.9, 0.5], dtype=np.float32))
    >>> frame.positions.tolist(), frame.in_order().items.tolist()
    ([2, 0, 1], [8, 9, 7])
    """

    items: IntArray
    scores: FloatArray
    positions: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mask: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        items = np.asarray(self.items, dtype=np.int64)
        scores = np.asarray(self.scores, dtype=np.float32)
        if items.ndim != 1 or scores.shape != items.shape:
            raise DataError(
                f"CandidateFrame: items {items.shape} and scores {scores.shape} must be 1-d arrays "
                "of the same length"
            )
        n = items.shape[0]
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "scores", scores)
        positions = np.asarray(self.positions, dtype=np.int64)
        if positions.size == 0 and n:
            from explorec.ranking import top_k

            positions = np.empty(n, dtype=np.int64)
            order = top_k(np.where(np.isnan(scores), -np.inf, scores), n, tiebreak=items)
            positions[order] = np.arange(n)
        elif positions.shape != (n,) or not np.array_equal(np.sort(positions), np.arange(n)):
            raise DataError(f"CandidateFrame: positions must be a permutation of 0..{n - 1}, got {positions}")
        object.__setattr__(self, "positions", positions)
        mask = np.asarray(self.mask, dtype=bool)
        if mask.size == 0:
            mask = np.zeros(n, dtype=bool)
        elif mask.shape != (n,):
            raise DataError(f"CandidateFrame: mask has shape {mask.shape}, expected ({n},)")
        object.__setattr__(self, "mask", mask)
        cols = {}
        for name, value in self.columns.items():
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise DataError(f"CandidateFrame: column {name!r} has shape {arr.shape}, expected {n} rows")
            cols[str(name)] = arr
        object.__setattr__(self, "columns", MappingProxyType(cols))

    def __len__(self) -> int:
        return int(self.items.shape[0])

    # ------------------------------------------------------------------ columns
    def has(self, name: str) -> bool:
        return name in self.columns

    def column(self, name: str) -> npt.NDArray[Any]:
        """The column ``name``; ``ConfigError`` naming it and the columns present when it is missing."""
        if name not in self.columns:
            from explorec.errors import ConfigError

            raise ConfigError(
                f"the candidate frame has no column {name!r} ({COLUMNS.get(name, 'unknown column')}); "
                f"columns present: {sorted(self.columns) or 'none'}"
            )
        return self.columns[name]

    def with_columns(self, **columns: npt.ArrayLike) -> CandidateFrame:
        """A copy with ``columns`` added (or replaced)."""
        merged = {**self.columns, **{k: np.asarray(v) for k, v in columns.items()}}
        return replace(self, columns=merged)

    # ------------------------------------------------------------------ rows
    def order(self) -> IntArray:
        """Row indices in position order (the proposed display order)."""
        return np.argsort(self.positions, kind="stable").astype(np.int64)

    def take(self, rows: npt.ArrayLike) -> CandidateFrame:
        """The frame of ``rows`` (int indices), positioned in the order given."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        return CandidateFrame(
            self.items[r],
            self.scores[r],
            np.arange(r.size, dtype=np.int64),
            self.mask[r],
            {k: v[r] for k, v in self.columns.items()},
        )

    def in_order(self) -> CandidateFrame:
        """The same rows sorted by position (``positions`` becomes ``0..n-1``)."""
        return self.take(self.order())

    def unmasked(self) -> CandidateFrame:
        """The rows not masked, in position order."""
        rows = self.order()
        return self.take(rows[~self.mask[rows]])

    def top(self, k: int) -> CandidateFrame:
        """The first ``k`` unmasked rows in position order (all of them when fewer exist)."""
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        rows = self.order()
        return self.take(rows[~self.mask[rows]][:k])

    def reorder(self, rows: npt.ArrayLike) -> CandidateFrame:
        """The frame of ``rows`` (into this frame) in that order: what a re-ranker returns."""
        return self.take(rows)


#: the name the candidate lists had before the frame existed; the same class
ScoredItems = CandidateFrame


@dataclass(frozen=True, eq=False)
class Slate:
    """What is shown to a user: items in display order, with the probability each was chosen.

    Attributes
    ----------
    items : int64[k]
        Internal item indices in display order (position 0 first).
    scores : float32[k]
        Each shown item's own model score (never a re-ranker's or the policy's value).
    propensities : float64[k]
        ``P(item i shown at position j | context)`` under the policy that built the slate.
    explored : bool[k]
        True where the slot was filled by exploration rather than exploitation.
    policy : str
        Name of the policy.
    propensity_method : str
        ``"exact"`` or the documented estimator used (e.g. ``"geometric:1000"``, see
        :mod:`explorec.policies.propensity`).
    policy_params : mapping
        The policy's hyper-parameters (``Policy.get_params()``), so the impression record names
        exactly what built the slate.
    note : str
        Anything the caller should know (e.g. fewer candidates than asked for).
    swap : (int, int) or None
        The two display positions a randomised swap exchanged after the policy drew its ranking
        (:class:`explorec.policies.swap.PositionSwap`, intervention harvesting); None when the slate was
        not swapped. The propensities already include the swap's probability.
    """

    items: IntArray
    scores: FloatArray
    propensities: npt.NDArray[np.float64]
    explored: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    policy: str = "greedy"
    propensity_method: str = "exact"
    note: str = ""
    policy_params: Mapping[str, Any] = field(default_factory=dict)
    swap: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        n = self.items.shape[0]
        if self.explored.shape[0] == 0 and n:
            object.__setattr__(self, "explored", np.zeros(n, dtype=bool))
        for name in ("scores", "propensities", "explored"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Slate.{name} has shape {getattr(self, name).shape}, expected ({n},)")

    def __len__(self) -> int:
        return int(self.items.shape[0])
