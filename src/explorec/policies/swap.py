"""Randomised position swaps on top of any policy: what identifies the position-bias curve.

The examination probability of a display position cannot be read off clicks on a deterministic (or
nearly deterministic) ranking: the items shown low are also the items the ranking thinks less
relevant, and a click model that explains relevance by the recommender's own score reads whatever
the score misses as position bias. The standard remedy of unbiased learning to rank is a small,
randomised intervention (Joachims, Swaminathan & Schnabel 2017, "Unbiased learning-to-rank with
biased feedback", section 5; Wang et al. 2018 for RandPair): in a share of slates, swap two display
positions of the policy's ranking, chosen at random and independently of the user. The same ranked
item (on average over users) is then seen at two positions, so the ratio of its click rates at the
two positions is the ratio of their examination probabilities, whatever its relevance
(:func:`explorec.evaluation.position_bias.harvest_examination` estimates the curve from such a log).

:class:`PositionSwap` wraps a policy. After the policy draws its slate of ``K`` items, with
probability ``share`` one swap is applied, uniformly among the scheme's pairs:

* ``"top"`` (swap-with-first, Joachims et al. 2017): positions ``(0, m)``, ``m`` uniform in
  ``1..K-1``;
* ``"pair"`` (RandPair): adjacent positions ``(m, m + 1)``, ``m`` uniform in ``0..K-2``.

Propensities stay honest: the displayed position distribution is the policy's mixed with the swap,
``Q = P @ M`` with ``M = (1 - share) I + share / |pairs| * sum_pairs Perm_pair`` the position
transition matrix (:func:`position_transition`), so an exact policy stays exact; a policy without a
closed form gets the geometric inverse-propensity estimate over draws that include the swap. The
swapped slots are marked explored, and the slate's ``swap`` names the two positions.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, check_range
from explorec.policies.base import BoolArray, FeedbackBatch, FloatArray, IntArray, Policy
from explorec.types import CandidateFrame

#: the swap schemes: swap-with-first and adjacent pairs
SWAP_SCHEMES = ("top", "pair")


def swap_pairs(k: int, scheme: str) -> list[tuple[int, int]]:
    """The display-position pairs ``(a, b)``, ``a < b``, that ``scheme`` may swap in a slate of ``k``."""
    if scheme not in SWAP_SCHEMES:
        raise ConfigError(f"swap scheme must be one of {', '.join(SWAP_SCHEMES)}, got {scheme!r}")
    if k < 2:
        return []
    if scheme == "top":
        return [(0, m) for m in range(1, k)]
    return [(m, m + 1) for m in range(k - 1)]


def position_transition(k: int, share: float, scheme: str) -> FloatArray:
    """float64[k, k] ``M[a, b]``: probability that the item the policy ranked at ``a`` is shown at ``b``.

    A policy's position matrix ``P`` (candidates x positions) becomes ``P @ M`` once swapped.
    """
    pairs = swap_pairs(k, scheme)
    m = np.eye(k)
    if not pairs or share == 0.0:
        return m
    m *= 1.0 - share
    w = share / len(pairs)
    for a, b in pairs:
        perm = np.eye(k)
        perm[[a, b]] = perm[[b, a]]
        m += w * perm
    return m


class PositionSwap(Policy):
    """``policy``'s slates, with two positions swapped at random in a ``share`` of them.

    Parameters
    ----------
    policy : Policy or str
        The policy whose slates are swapped (a registry name builds it with its defaults and this
        seed). It learns from all the feedback, at the positions where the items were shown.
    share : float in [0, 1]
        Probability that a slate gets a swap.
    scheme : {"top", "pair"}
        ``"top"``: swap position 0 with a uniform position ``1..K-1`` (Joachims et al. 2017);
        ``"pair"``: swap a uniform adjacent pair (RandPair).
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.

    Attributes
    ----------
    inner_ : Policy
        The wrapped policy instance (``policy`` itself, or built from its name).

    Examples
    --------
    >>> import numpy as np
    >>> pol = PositionSwap(policy="greedy", share=0.3)
    >>> matrix, method = pol.propensity_matrix(np.arange(3), 3, scores=np.array([0.9, 0.5, 0.1]))
    >>> method, matrix[0].round(2).tolist()  # the top item stays on top unless swapped away
    ('exact', [0.7, 0.15, 0.15])
    """

    name = "swap"

    def __init__(
        self,
        *,
        policy: Policy | str = "greedy",
        share: float = 0.05,
        scheme: Literal["top", "pair"] = "top",
        seed: int = 0,
        n_mc: int = 1000,
    ) -> None:
        check_range("share", share, 0.0, 1.0)
        swap_pairs(2, scheme)  # checks the scheme's name
        if isinstance(policy, str):
            from explorec.policies import make_policy

            if policy == self.name:
                raise ConfigError("PositionSwap: policy must be another policy than 'swap'")
            inner = make_policy(policy, seed=seed)
        else:
            inner = policy
        self.policy = policy  # as given: a name stays a name, so the parameters stay JSON
        self.inner_ = inner
        self.share = float(share)
        self.scheme = scheme
        super().__init__(seed=seed, n_mc=n_mc)

    def _reset_state(self) -> None:
        self.inner_.reset()

    # ------------------------------------------------------------------ delegated to the policy
    def columns_needed(self) -> tuple[str, ...]:
        return self.inner_.columns_needed()

    def design_matrix(self, frame: CandidateFrame) -> FloatArray | None:
        return self.inner_.design_matrix(frame)

    def _context_columns(self, context: Any, n: int) -> dict[str, npt.NDArray[Any]]:
        return self.inner_._context_columns(context, n)

    def _check_frame(self, frame: CandidateFrame) -> None:
        self.inner_._check_frame(frame)

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        return self.inner_._point_scores(frame)

    def set_cold_items(self, items: npt.ArrayLike) -> None:
        """Forwarded to the wrapped policy when it tracks new items (the budget)."""
        setter = getattr(self.inner_, "set_cold_items", None)
        if setter is not None:
            setter(items)

    def _update(self, batch: FeedbackBatch) -> None:
        self.inner_.update(batch)

    # ------------------------------------------------------------------ the swap
    def _rank(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> IntArray:
        return self._draw_slate(frame, k, rng)[0]

    def _draw(self, frame: CandidateFrame, k: int, rng: np.random.Generator) -> tuple[IntArray, BoolArray]:
        rank, explored, _ = self._draw_slate(frame, k, rng)
        return rank, explored

    def _draw_slate(
        self, frame: CandidateFrame, k: int, rng: np.random.Generator
    ) -> tuple[IntArray, BoolArray, tuple[int, int] | None]:
        rank, explored = self.inner_._draw(frame, k, rng)
        rank, explored = rank.copy(), np.asarray(explored, dtype=bool).copy()
        pairs = swap_pairs(k, self.scheme)
        # one uniform for the decision, one for the pair, whatever the outcome (stable streams)
        u, v = rng.random(2)
        if not pairs or u >= self.share:
            return rank, explored, None
        a, b = pairs[min(int(v * len(pairs)), len(pairs) - 1)]
        rank[[a, b]] = rank[[b, a]]
        explored[[a, b]] = True  # both slots show what the swap, not the policy, put there
        return rank, explored, (a, b)

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        ranks = self.inner_._rank_many(frame, k, rng, n).copy()  # [n, k]
        pairs = swap_pairs(k, self.scheme)
        if not pairs:
            return ranks
        u = rng.random((n, 2))
        hit = np.flatnonzero(u[:, 0] < self.share)
        which = np.minimum((u[hit, 1] * len(pairs)).astype(np.int64), len(pairs) - 1)
        ab = np.array(pairs, dtype=np.int64)[which]  # [h, 2]
        first = ranks[hit, ab[:, 0]].copy()
        ranks[hit, ab[:, 0]] = ranks[hit, ab[:, 1]]
        ranks[hit, ab[:, 1]] = first
        return ranks

    def _exact_matrix(self, frame: CandidateFrame, k: int) -> FloatArray | None:
        inner = self.inner_._exact_matrix(frame, k)
        if inner is None:
            return None
        return np.asarray(inner @ position_transition(k, self.share, self.scheme), dtype=np.float64)
