"""Policies whose learned state is the replicated :class:`~explorec.online.state.OnlineState`.

``online-ts`` (Beta-Bernoulli Thompson sampling) and ``online-ucb`` read each candidate's
examination-weighted shows and clicks from an :class:`~explorec.online.state.ArmView` instead of
their own in-process statistics, and centre their prior on the *calibrated* model score (the
click rate the key has observed for slots of that score), so that an item without feedback starts
where the model puts it and a new item takes part at once. They never learn in-process
(``update`` is the store's replay); a slate records the examination estimate it used.

Specs (:func:`variant_policy`): ``greedy``, ``eps-greedy[:EPS]``, ``softmax[:T]`` (stateless) and
``ts[:PRIOR_WEIGHT]``, ``ucb[:C]`` (online).
"""

from __future__ import annotations

import numpy as np

from explorec.errors import ConfigError
from explorec.online.state import N_POSITIONS, ArmView
from explorec.policies import Policy
from explorec.policies.base import FeedbackBatch, FloatArray, IntArray
from explorec.policies.spec import ALIASES, parse_policy_spec
from explorec.policies.thompson import BernoulliTS
from explorec.policies.ucb import UCB

#: policies an experiment variant may name (stateless ones and the online-learning ones)
VARIANT_POLICIES = ("greedy", "eps-greedy", "softmax", "ts", "ucb")
ONLINE_POLICIES = ("ts", "ucb")


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


def policy_name(spec: str) -> str:
    head = spec.strip().split(":", 1)[0].strip()
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
    policy: OnlineTS | OnlineUCB
    if name == "ts":
        policy = OnlineTS(seed=seed) if value is None else OnlineTS(prior_weight=value, seed=seed)
    else:
        policy = OnlineUCB(seed=seed) if value is None else OnlineUCB(c=value, seed=seed)
    if view is not None:
        policy.attach(view)
        policy.examination = tuple(float(e) for e in view.examination[: min(N_POSITIONS, 10)])
    return policy
