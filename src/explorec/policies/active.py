"""Active learning for new users: which items to ask about so that a few answers say the most.

A new user answers questions of the form "do you know / like item i?". The selector chooses the
next question from the answers so far; the recommender then uses the positive answers as the user's
history. Strategies (Rashid et al., "Getting to know you: learning new user preferences in
recommender systems", IUI 2002; Golbandi, Koren & Lempel, "Adaptive bootstrapping of recommender
systems using decision trees", WSDM 2011):

``random``
    Uniform over items with at least one training interaction (the baseline).
``popular``
    Most popular first: likely to be known, but says little about taste.
``pop-entropy``
    ``log(popularity) * H(p_i)`` with ``p_i`` the share of training users who know the item and ``H`` the
    binary entropy (Rashid et al.'s balanced strategy); not adaptive.
``diverse``
    Greedy k-center over the item vectors (e.g. from the language model) within the ``pool_size``
    most popular items: each question is the pool item farthest (cosine) from every item asked so
    far, starting from the most popular one — the questions cover the catalogue's regions.
``uncertainty``
    Adaptive uncertainty sampling. Training users are weighted by their agreement with the answers
    so far: ``w_v = prod_j (1 if v agrees on j else m_j)``, with ``m_j = yes_mismatch_weight`` when the
    new user said yes and ``v`` does not know the item, and the milder ``no_mismatch_weight`` when the
    new user said no but ``v`` knows it (a "no" often means "not yet"). ``p_i`` is the weighted share of
    them who know item ``i``, i.e. the probability of a "yes" for this user. The next question is the
    pool item with the largest answer entropy ``H(p_i)`` (most informative about which training users
    the new user resembles, as one split of a decision tree), optionally minus ``diversity`` times its
    largest cosine similarity to an item already asked. Popularity enters through the pool and the
    posterior itself.

``personalized``
    Adaptive, the most likely "yes" first: the pool item with the largest ``p_i`` under the same
    posterior (Rashid et al.'s item-item personalised strategy): every "yes" adds to the history the
    recommender works from.

The same posterior gives a recommendation that also uses negative answers:
:meth:`QuestionSelector.posterior` returns ``p_i`` for every item.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError, NotFittedError, check_positive_int, check_range

logger = logging.getLogger(__name__)

STRATEGIES = ("random", "popular", "pop-entropy", "diverse", "uncertainty", "personalized")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def binary_entropy(p: npt.ArrayLike) -> FloatArray:
    """``H(p) = -p log2 p - (1 - p) log2 (1 - p)`` element-wise (0 at p in {0, 1})."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.asarray(-(q * np.log2(q) + (1 - q) * np.log2(1 - q)), dtype=np.float64)


class QuestionSelector:
    """Chooses the items to ask a new user about.

    Parameters
    ----------
    strategy : {"random", "popular", "pop-entropy", "diverse", "uncertainty", "personalized"}
    pool_size : int
        Questions come from the ``pool_size`` most popular items (all items with interactions for
        ``random``), so that users can answer them.
    yes_mismatch_weight : float in (0, 1]
        Posterior: weight factor of a training user for each "yes" answer they disagree with.
    no_mismatch_weight : float in (0, 1]
        Posterior: the same for each "no" answer (milder: not knowing an item is weak evidence).
    diversity : float >= 0
        ``uncertainty``: penalty on the largest cosine similarity to an already asked item (needs
        item vectors).
    seed : int
        Seeds the ``random`` strategy's own generator.

    Examples
    --------
    >>> from explorec.data import Interactions
    >>> data = Interactions.from_ids(["a", "a", "b", "c"], ["x", "y", "x", "x"])
    >>> sel = QuestionSelector(strategy="popular").fit(data)
    >>> data.item_ids[sel.next_question({})]
    'x'
    """

    def __init__(
        self,
        *,
        strategy: str = "uncertainty",
        pool_size: int = 500,
        yes_mismatch_weight: float = 0.1,
        no_mismatch_weight: float = 0.5,
        diversity: float = 0.0,
        seed: int = 0,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        check_positive_int("pool_size", pool_size)
        check_range("yes_mismatch_weight", yes_mismatch_weight, 1e-9, 1.0)
        check_range("no_mismatch_weight", no_mismatch_weight, 1e-9, 1.0)
        if diversity < 0:
            raise ConfigError(f"diversity must be >= 0, got {diversity!r}")
        self.strategy = strategy
        self.pool_size = pool_size
        self.yes_mismatch_weight = yes_mismatch_weight
        self.no_mismatch_weight = no_mismatch_weight
        self.diversity = diversity
        self.seed = seed

    def fit(self, train: Interactions, item_vectors: npt.ArrayLike | None = None) -> Self:
        """Learn popularity and the user-item matrix from ``train`` (and keep the item vectors)."""
        if len(train) == 0:
            raise DataError("QuestionSelector.fit: the training interactions are empty")
        x = train.to_csr()
        active = np.flatnonzero(np.diff(x.indptr) > 0)
        self.matrix_: sp.csr_matrix = x[active]  # [n_active_users, n_items] binary
        self.n_items_ = train.n_items
        self.popularity_ = np.asarray(self.matrix_.sum(axis=0)).ravel()  # [n_items]
        self.share_ = self.popularity_ / max(self.matrix_.shape[0], 1)
        known = np.flatnonzero(self.popularity_ > 0)
        order = known[np.lexsort((known, -self.popularity_[known]))]
        self.pool_ = order if self.strategy == "random" else order[: self.pool_size]
        if item_vectors is not None:
            v = np.asarray(item_vectors, dtype=np.float64)
            if v.shape[0] != train.n_items:
                raise DataError(f"item_vectors has {v.shape[0]} rows for {train.n_items} items")
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            self.vectors_: FloatArray | None = v / np.where(norms > 0, norms, 1.0)
        else:
            self.vectors_ = None
        if self.strategy == "diverse" and self.vectors_ is None:
            raise ConfigError("strategy 'diverse' needs item_vectors")
        if self.diversity > 0 and self.vectors_ is None:
            raise ConfigError("diversity > 0 needs item_vectors")
        self.rng_ = np.random.default_rng(self.seed)
        return self

    # ------------------------------------------------------------------ posterior over training users
    def user_weights(self, answers: Mapping[int, bool]) -> FloatArray:
        """float64[n_active_users]: agreement weight of each training user with the answers."""
        self._check_fitted()
        log_w = np.zeros(self.matrix_.shape[0])
        if answers:
            items = np.fromiter(answers.keys(), dtype=np.int64)
            said_yes = np.fromiter((bool(v) for v in answers.values()), dtype=bool)
            knows = self.matrix_[:, items].toarray().astype(bool)  # [n_users, n_answers]
            miss_yes = (~knows & said_yes[None, :]).sum(axis=1)
            miss_no = (knows & ~said_yes[None, :]).sum(axis=1)
            log_w = miss_yes * np.log(self.yes_mismatch_weight) + miss_no * np.log(self.no_mismatch_weight)
        return np.exp(log_w - log_w.max())

    def posterior(self, answers: Mapping[int, bool]) -> FloatArray:
        """float64[n_items]: probability that this user knows each item, given the answers."""
        w = self.user_weights(answers)
        return np.asarray(self.matrix_.T @ w, dtype=np.float64) / w.sum()

    # ------------------------------------------------------------------ questions
    def next_question(self, answers: Mapping[int, bool]) -> int:
        """The next item to ask about, given ``{item: answered_yes}`` so far."""
        self._check_fitted()
        asked = np.fromiter(answers.keys(), dtype=np.int64) if answers else np.zeros(0, dtype=np.int64)
        pool = self.pool_[~np.isin(self.pool_, asked)]
        if pool.size == 0:
            raise DataError(f"no item left to ask about: all {self.pool_.size} pool items were asked")
        if self.strategy == "random":
            return int(self.rng_.choice(pool))
        if self.strategy == "popular":
            return int(pool[0])
        if self.strategy == "pop-entropy":
            value = np.log(self.popularity_[pool]) * binary_entropy(self.share_[pool])
            return int(pool[np.argmax(value)])
        if self.strategy == "diverse":
            assert self.vectors_ is not None
            if asked.size == 0:
                return int(pool[0])
            sim = self.vectors_[pool] @ self.vectors_[asked].T  # [n_pool, n_asked]
            return int(pool[np.argmin(sim.max(axis=1))])
        if self.strategy == "personalized":
            return int(pool[np.argmax(self.posterior(answers)[pool])])
        # uncertainty
        value = binary_entropy(self.posterior(answers)[pool])
        if self.diversity > 0 and asked.size:
            assert self.vectors_ is not None
            value = value - self.diversity * (self.vectors_[pool] @ self.vectors_[asked].T).max(axis=1)
        return int(pool[np.argmax(value)])

    def ask(self, n: int, answer: Callable[[int], bool]) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Run ``n`` questions against ``answer(item) -> bool``; returns (items int64[n], answers bool[n])."""
        check_positive_int("n", n)
        answers: dict[int, bool] = {}
        for _ in range(n):
            item = self.next_question(answers)
            answers[item] = bool(answer(item))
        return np.fromiter(answers.keys(), dtype=np.int64), np.fromiter(answers.values(), dtype=bool)

    def _check_fitted(self) -> None:
        if not hasattr(self, "matrix_"):
            raise NotFittedError("QuestionSelector is not fitted: call fit() first")
