"""UCB over items: an optimistic index from per-item click statistics, with the model score as prior.

UCB1 (Auer, Cesa-Bianchi & Fischer 2002) ranks arms by ``mean_i + c * sqrt(2 ln t / n_i)``. Here the
arms are items, and the mean is shrunk towards the model's score so that an item the model likes
starts high and an item nobody has seen starts uncertain:

    n_i  = prior_weight + sum of examination weights of the times i was shown
    mean_i = (prior_weight * s_i + clicks_i) / n_i
    index_i = mean_i + c * sqrt(2 * ln(t + 1) / n_i)

``s_i`` is the candidate's score, read as a click-probability estimate, ``t`` the total examination
weight seen so far. With ``prior_weight = 0`` this is plain UCB1 (unseen items come first, by
score). ``examination`` (probability that a position is looked at) turns shows into expected
examinations so that a non-click at the bottom of a slate counts for less than one at the top.

The index is deterministic given the state, so the slate's propensities are exactly 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explorec.errors import ConfigError
from explorec.policies.base import (
    FeedbackBatch,
    FloatArray,
    IntArray,
    Policy,
    grow,
    one_hot_matrix,
    position_weights,
    top_k,
)
from explorec.types import CandidateFrame


class ArmStats:
    """Examination-weighted shows and rewards per item, growing with the largest item index."""

    def __init__(self) -> None:
        self.shows = np.zeros(0)
        self.rewards = np.zeros(0)
        self.total = 0.0

    def add(self, items: IntArray, weights: FloatArray, rewards: FloatArray) -> None:
        size = int(items.max()) + 1
        self.shows = grow(self.shows, size)
        self.rewards = grow(self.rewards, size)
        np.add.at(self.shows, items, weights)
        np.add.at(self.rewards, items, rewards)
        self.total += float(weights.sum())

    def get(self, items: IntArray) -> tuple[FloatArray, FloatArray]:
        """(shows, rewards) of ``items``; items never shown have zeros."""
        inside = items < self.shows.shape[0]
        shows = np.zeros(items.shape[0])
        rewards = np.zeros(items.shape[0])
        shows[inside] = self.shows[items[inside]]
        rewards[inside] = self.rewards[items[inside]]
        return shows, rewards


class UCB(Policy):
    """Upper-confidence-bound ranking of items.

    Parameters
    ----------
    c : float >= 0
        Width of the confidence bonus (0 = greedy on the shrunk mean).
    prior_weight : float >= 0
        Pseudo-examinations given to the model score as prior mean (0 = classic UCB1).
    examination : sequence of float, optional
        Examination probability per position (the last value repeats); None counts every show.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.
    """

    name = "ucb"

    def __init__(
        self,
        *,
        c: float = 1.0,
        prior_weight: float = 0.0,
        examination: Sequence[float] | None = None,
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        if c < 0:
            raise ConfigError(f"c must be >= 0, got {c!r}")
        if prior_weight < 0:
            raise ConfigError(f"prior_weight must be >= 0, got {prior_weight!r}")
        self.c = c
        self.prior_weight = prior_weight
        self.examination = examination
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.stats_ = ArmStats()

    def indices(self, items: IntArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(mean, index) per candidate, float64[n] each; unseen arms without prior get +inf index."""
        shows, clicks = self.stats_.get(items)
        n = self.prior_weight + shows
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(n > 0, (self.prior_weight * scores + clicks) / n, scores)
            bonus = np.where(n > 0, self.c * np.sqrt(2.0 * np.log(self.stats_.total + 1.0) / n), np.inf)
        return mean, mean + bonus

    def _index(self, items: IntArray, scores: FloatArray) -> FloatArray:
        _, index = self.indices(items, scores)
        # unseen arms (infinite index) are ordered among themselves by score
        finite = np.isfinite(index)
        if not finite.all():
            top = (index[finite].max() if finite.any() else 0.0) + 1.0
            spread = scores - scores.min()
            index = np.where(finite, index, top + 1.0 + spread)
        return index

    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return top_k(self._index(frame.items, frame.scores.astype(np.float64)), k)

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        return np.tile(self._rank(frame, k, rng), (n, 1))  # deterministic given the state

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray:
        return one_hot_matrix(self._rank(frame, k, self.rng_), len(frame))

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        mean, _ = self.indices(frame.items, frame.scores.astype(np.float64))
        return mean

    def _update(self, batch: FeedbackBatch) -> None:
        w = position_weights(self.examination, batch.positions)
        self.stats_.add(batch.items, w, batch.rewards)
