"""The learning loop inside the service: online policy state, experiments, their off-policy report.

* :mod:`~explorec.online.state`: :class:`OnlineState`, per-policy bandit statistics, position-bias
  and calibration estimates replayed from the store's impressions and attributed feedback (every
  replica arrives at the same state), and the :class:`Learner` thread that keeps it current;
* :mod:`~explorec.online.policies`: Thompson sampling and UCB over that state;
* :mod:`~explorec.online.experiments`: experiment definitions, salted-hash assignment, storage and
  the report (click rates with intervals, tests against control, off-policy estimates);
* :mod:`~explorec.online.registry`: the model registry (immutable versions behind an atomic
  pointer, pin, rollback) and the follower that swaps versions into a serving process;
* :mod:`~explorec.online.trainer`: the background trainer (gated refits on the store's events).

Plain functions and classes: the HTTP routes live in :mod:`explorec.service`.
"""

from __future__ import annotations

from explorec.online.experiments import Experiment, Variant, hash_unit, make_experiment
from explorec.online.state import ArmView, KeyStats, Learner, OnlineState, state_key

__all__ = [
    "ArmView",
    "Experiment",
    "KeyStats",
    "Learner",
    "OnlineState",
    "Variant",
    "hash_unit",
    "make_experiment",
    "state_key",
]
