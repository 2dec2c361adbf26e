"""Policies whose learned state is the replicated :class:`~explorec.online.state.OnlineState`.

``online-ts`` (Beta-Bernoulli Thompson sampling) and ``online-ucb`` read each candidate's
examination-weighted shows and clicks from an :class:`~explorec.online.state.ArmView` instead of
their own in-process statistics, and centre their prior on the *calibrated* model score (the
click rate the key has observed for slots of that score), so that an item without feedback starts
where the model puts it and a new item takes part at once. They never learn in-process
(``update`` is the store's replay); a slate records the examination estimate it used.

The linear ones, ``linucb`` (one ridge model shared by every item), ``lints`` (linear Thompson
sampling on the same posterior) and ``linucb-hybrid`` (a shared model plus a bias per item, Li et al.
2010's hybrid), read the replicated ridge statistics of :mod:`explorec.online.linear` through the same
view, over the frame's ``features`` column (:func:`explorec.online.linear.linear_features`), and
take the calibrated score (column 1 of a row) as their prior mean.

Specs (:func:`variant_policy`): ``greedy``, ``eps-greedy[:EPS]``, ``softmax[:T]`` (stateless) and
``ts[:PRIOR_WEIGHT]``, ``ucb[:C]``, ``linucb[:ALPHA]``, ``lints[:V]``, ``linucb-hybrid[:ALPHA]``
(online; ``hybrid-linucb`` is an alias).
"""

from __future__ import annotations

import numpy as np

from explorec.errors import ConfigError
from explorec.online.state import N_POSITIONS, ArmView
from explorec.policies import Policy
from explorec.policies.base import FeedbackBatch, FloatArray, IntArray, top_k
from explorec.policies.linucb import LinUCB
from explorec.policies.spec import ALIASES, parse_policy_spec
from explorec.policies.thompson import BernoulliTS, LinearTS
from explorec.policies.ucb import UCB
from explorec.types import CandidateFrame

#: policies an experiment variant may name (stateless ones and the online-learning ones)
VARIANT_POLICIES = ("greedy", "eps-greedy", "softmax", "ts", "ucb", "linucb", "lints", "linucb-hybrid")
ONLINE_POLICIES = ("ts", "ucb", "linucb", "lints", "linucb-hybrid")
LINEAR_POLICIES = ("linucb", "lints", "linucb-hybrid")
_VARIANT_ALIASES = {"hybrid-linucb": "linucb-hybrid", "lin-ts": "lints", "linear-ts": "lints"}


class _Online:
    view_: ArmView | None = None
    #: set for a cold-start frame, whose scores are rank placeholders, not model scores
    cold_: bool = False

    def _calibrated(self, view: ArmView, scores: FloatArray) -> FloatArray:
        return view.calibrate(np.full(scores.shape[0], np.nan) if self.cold_ else scores)

    def attach(self, view: ArmView) -> None:
        self.view_ = view

    def _view(self) -> ArmView:
        if self.view_ is None:
            raise ConfigError(f"{type(self).__name__}: attach(view) the online state before select")
        return self.view_

    def _update(self, batch: FeedbackBatch) -> None:
        raise ConfigError(
            f"{type(self).__name__} learns from the store's replay (explorec.online.OnlineState), "
            "not from update()"
        )


class OnlineTS(_Online, BernoulliTS):
    """Beta-Bernoulli Thompson sampling over the replicated arm statistics.

    Posterior of candidate ``i``: ``Beta(w p_i + clicks_i + 0.01, w (1 - p_i) + max(0, shows_i - clicks_i)
    + 0.01)`` with ``p_i`` the calibrated score and ``shows_i`` examination-weighted.

    Parameters
    ----------
    prior_weight : float > 0
        Pseudo-examinations of the calibrated-score prior.
    seed, n_mc : see :class:`~explorec.policies.base.Policy`.
    """

    name = "ts"

    def __init__(self, *, prior_weight: float = 20.0, seed: int = 0, n_mc: int = 500) -> None:
        if not prior_weight > 0:
            raise ConfigError(f"ts: prior_weight must be > 0, got {prior_weight!r}")
        super().__init__(prior_weight=prior_weight, seed=seed, n_mc=n_mc)

    def posterior(self, items: IntArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
        view = self._view()
        cache = getattr(self, "_cache", None)
        if cache is not None and cache[0] == items.tobytes():
            return cache[1], cache[2]
        p = self._calibrated(view, scores)
        shows, clicks = view.arms(items)
        a = self.prior_weight * p + clicks + 0.01
        b = self.prior_weight * (1.0 - p) + np.maximum(shows - clicks, 0.0) + 0.01
        # the propensity draws call this again: one slate reads one state
        self._cache = (items.tobytes(), a, b)
        return a, b


class OnlineUCB(_Online, UCB):
    """UCB over the replicated arm statistics, shrunk towards the calibrated score.

    ``mean_i = (w p_i + clicks_i) / (w + shows_i)`` and
    ``index_i = mean_i + c sqrt(2 ln(t + 1) / (w + shows_i))``.
    """

    name = "ucb"

    def __init__(self, *, c: float = 0.1, prior_weight: float = 20.0, seed: int = 0, n_mc: int = 500) -> None:
        if not prior_weight > 0:
            raise ConfigError(f"ucb: prior_weight must be > 0, got {prior_weight!r}")
        super().__init__(c=c, prior_weight=prior_weight, seed=seed, n_mc=n_mc)

    def indices(self, items: IntArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
        view = self._view()
        p = self._calibrated(view, scores)
        shows, clicks = view.arms(items)
        n = self.prior_weight + shows
        mean = (self.prior_weight * p + clicks) / n
        return mean, mean + self.c * np.sqrt(2.0 * np.log(view.total() + 1.0) / n)


class OnlineLinUCB(_Online, LinUCB):
    """LinUCB with one ridge model shared by every item, over the replicated statistics.

    ``index_i = p_i + x_i . theta + alpha sqrt(x_i^T A^-1 x_i)`` with ``p_i`` the calibrated score
    (column 1 of the row), ``theta`` and ``A`` the key's ridge on the residuals (see
    :mod:`explorec.online.linear`); deterministic given the state (propensity 1).
    """

    name = "linucb"

    def __init__(self, *, alpha: float = 0.05, seed: int = 0, n_mc: int = 500) -> None:
        super().__init__(alpha=alpha, arms="shared", offset=False, seed=seed, n_mc=n_mc)

    def _init_dim(self, d: int) -> None:
        from explorec.online.linear import DIM

        if d != DIM:
            raise ConfigError(f"{self.name}: feature rows have {d} columns, expected {DIM}")

    def _shared(self) -> tuple[FloatArray, FloatArray]:
        # read once per slate: the draw and its propensities must see the same posterior, while the
        # learner thread keeps updating the key's statistics
        cached = getattr(self, "_posterior", None)
        if cached is None:
            cached = self._posterior = self._view().linear_shared()
        return cached

    def estimates(self, items: IntArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
        theta, a_inv = self._shared()
        width = np.sqrt(np.maximum(np.einsum("nd,de,ne->n", context, a_inv, context), 0.0))
        return context @ theta, width

    def _index(self, frame: CandidateFrame) -> FloatArray:
        x = self.design_matrix(frame)
        mean, width = self.estimates(frame.items, x)
        return np.asarray(x[:, 1] + mean + self.alpha * width, dtype=np.float64)

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        x = self.design_matrix(frame)
        return np.asarray(x[:, 1] + self.estimates(frame.items, x)[0], dtype=np.float64)


class OnlineHybridLinUCB(OnlineLinUCB):
    """Hybrid LinUCB (a coefficient shared by every item plus a bias per item, Li et al. 2010, Alg. 2)
    over the replicated statistics; the index is ``p_i + z_i . beta + theta_a + alpha sqrt(s_i)``."""

    name = "linucb-hybrid"

    def estimates(self, items: IntArray, context: FloatArray) -> tuple[FloatArray, FloatArray]:
        from explorec.online.linear import hybrid_estimates

        solution = getattr(self, "_solution", None)
        if solution is None:
            solution = self._solution = self._view().linear_hybrid()  # one posterior per slate
        return hybrid_estimates(solution, items, context)


class OnlineLinTS(_Online, LinearTS):
    """Linear Thompson sampling on the replicated shared ridge: ``theta ~ N(theta_hat, v^2 A^-1)``,
    value ``p_i + x_i . theta`` (Monte Carlo propensities)."""

    name = "lints"

    def __init__(self, *, v: float = 0.1, seed: int = 0, n_mc: int = 500) -> None:
        super().__init__(v=v, offset=False, seed=seed, n_mc=n_mc)

    def _check_frame(self, frame: CandidateFrame) -> None:
        from explorec.online.linear import DIM

        d = self.design_matrix(frame).shape[1]
        if d != DIM:
            raise ConfigError(f"{self.name}: feature rows have {d} columns, expected {DIM}")

    def _shared(self) -> tuple[FloatArray, FloatArray]:
        cached = getattr(self, "_posterior", None)
        if cached is None:
            cached = self._posterior = self._view().linear_shared()  # one posterior per slate
        return cached

    def _rank_many(self, frame: CandidateFrame, k: int, rng: np.random.Generator, n: int) -> IntArray:
        theta, a_inv = self._shared()
        chol = np.linalg.cholesky(a_inv)
        draws = theta[None, :] + self.v * rng.standard_normal((n, theta.shape[0])) @ chol.T  # [n, d]
        x = self.design_matrix(frame)
        return top_k(draws @ x.T + x[:, 1][None, :], k)

    def _point_scores(self, frame: CandidateFrame) -> FloatArray:
        theta, _ = self._shared()
        x = self.design_matrix(frame)
        return np.asarray(x[:, 1] + x @ theta, dtype=np.float64)


def policy_name(spec: str) -> str:
    head = spec.strip().split(":", 1)[0].strip()
    head = _VARIANT_ALIASES.get(head, head)
    return ALIASES.get(head, head)


def check_variant_policy(spec: str) -> None:
    """ConfigError naming the offered policies when ``spec`` cannot build a variant's policy."""
    name = policy_name(spec)
    if name not in VARIANT_POLICIES:
        raise ConfigError(f"policy {spec!r}: unknown policy {name!r}; offered: {', '.join(VARIANT_POLICIES)}")
    variant_policy(spec, None, seed=0)


def variant_policy(spec: str, view: ArmView | None, *, seed: int) -> Policy:
    """The policy of ``spec`` for one slate, reading ``view`` when it learns online."""
    name = policy_name(spec)
    parts = spec.strip().split(":")
    if name not in ONLINE_POLICIES:
        return parse_policy_spec(spec, seed=seed)
    if len(parts) > 2:
        raise ConfigError(f"policy {spec!r}: expected {name}[:VALUE]")
    value: float | None = None
    if len(parts) == 2:
        try:
            value = float(parts[1])
        except ValueError:
            raise ConfigError(f"policy {spec!r}: {parts[1]!r} is not a number") from None
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"policy {spec!r}: the value must be a finite number >= 0, got {parts[1]!r}")
    policy: OnlineTS | OnlineUCB | OnlineLinUCB | OnlineLinTS
    if name == "ts":
        policy = OnlineTS(seed=seed) if value is None else OnlineTS(prior_weight=value, seed=seed)
    elif name == "ucb":
        policy = OnlineUCB(seed=seed) if value is None else OnlineUCB(c=value, seed=seed)
    elif name == "linucb":
        policy = OnlineLinUCB(seed=seed) if value is None else OnlineLinUCB(alpha=value, seed=seed)
    elif name == "linucb-hybrid":
        policy = (
            OnlineHybridLinUCB(seed=seed) if value is None else OnlineHybridLinUCB(alpha=value, seed=seed)
        )
    else:
        policy = OnlineLinTS(seed=seed) if value is None else OnlineLinTS(v=value, seed=seed)
    if view is not None:
        policy.attach(view)
        policy.examination = tuple(float(e) for e in view.examination[: min(N_POSITIONS, 10)])
    return policy
