"""Plain records passed between the stages of the pipeline.

Internal ids are dense integer indices (``user``, ``item``); external string ids exist only at the
edges (loaders, service, CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class ScoredItems:
    """Candidate items with their scores, best first.

    Attributes
    ----------
    items : int64[n]
        Internal item indices.
    scores : float32[n]
        Scores aligned with ``items``; higher is better.
    """

    items: IntArray
    scores: FloatArray

    def __post_init__(self) -> None:
        if self.items.shape != self.scores.shape or self.items.ndim != 1:
            raise ValueError(
                f"ScoredItems: items {self.items.shape} and scores {self.scores.shape} "
                "must be 1-d arrays of the same length"
            )

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def top(self, k: int) -> ScoredItems:
        """The ``k`` best items (all of them when fewer exist)."""
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        order = np.argsort(-self.scores, kind="stable")[:k]
        return ScoredItems(self.items[order], self.scores[order])


@dataclass(frozen=True, eq=False)
class Slate:
    """What is shown to a user: items in display order, with the probability each was chosen.

    Attributes
    ----------
    items : int64[k]
        Internal item indices in display order (position 0 first).
    scores : float32[k]
        The model scores the policy saw.
    propensities : float64[k]
        ``P(item i shown at position j | context)`` under the policy that built the slate.
    explored : bool[k]
        True where the slot was filled by exploration rather than exploitation.
    policy : str
        Name of the policy.
    propensity_method : str
        ``"exact"`` or the documented estimator used (e.g. ``"monte-carlo:2000"``).
    note : str
        Anything the caller should know (e.g. fewer candidates than asked for).
    """

    items: IntArray
    scores: FloatArray
    propensities: npt.NDArray[np.float64]
    explored: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    policy: str = "greedy"
    propensity_method: str = "exact"
    note: str = ""

    def __post_init__(self) -> None:
        n = self.items.shape[0]
        if self.explored.shape[0] == 0 and n:
            object.__setattr__(self, "explored", np.zeros(n, dtype=bool))
        for name in ("scores", "propensities", "explored"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Slate.{name} has shape {getattr(self, name).shape}, expected ({n},)")

    def __len__(self) -> int:
        return int(self.items.shape[0])
