"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Interactions
from explorec.models.base import Recommender


class Popularity(Recommender):
    """Scores each item by its number of training interactions (optionally weighted).

    Parameters
    ----------
    weighted : bool
        Sum interaction weights (play counts, ratings) instead of counting events.

    Examples
    --------
    >>> from explorec.data import Interactions
    >>> data = Interactions.from_ids(["a", "a", "b"], ["x", "y", "y"])
    >>> Popularity().fit(data).score([0]).tolist()
    [[1.0, 2.0]]
    """

    name = "popularity"
    uses_history = False

    def __init__(self, *, weighted: bool = False) -> None:
        self.weighted = weighted

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        weights = train.weight if self.weighted else None
        self.counts_ = np.bincount(train.item, weights=weights, minlength=train.n_items).astype(np.float32)

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        return np.broadcast_to(self.counts_, (users.size, self.counts_.size)).copy()
