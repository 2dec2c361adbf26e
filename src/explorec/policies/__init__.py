"""Exploration policies: every slate comes from a policy that states its propensities.

``select(candidates, k, *, context=None) -> Slate`` and ``update(feedback) -> None``; see
:mod:`explorec.policies.base`. ``make_policy(name, **params)`` builds one by its registry name.
Active learning for new users lives in :mod:`explorec.policies.active`.
"""

from __future__ import annotations

from typing import Any

from explorec.errors import ConfigError
from explorec.policies.base import Feedback, FeedbackBatch, Policy, feedback_for_slate
from explorec.policies.budget import BudgetedExploration
from explorec.policies.epsilon_greedy import EpsilonGreedy
from explorec.policies.greedy import Greedy
from explorec.policies.linucb import HybridLinUCB, LinUCB
from explorec.policies.softmax import Softmax
from explorec.policies.swap import PositionSwap
from explorec.policies.thompson import BernoulliTS, LinearTS
from explorec.policies.ucb import UCB
from explorec.policies.uncertainty import UncertaintyPolicy

#: registry name -> class
POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        Greedy,
        EpsilonGreedy,
        UCB,
        LinUCB,
        HybridLinUCB,
        LinearTS,
        BernoulliTS,
        Softmax,
        UncertaintyPolicy,
        BudgetedExploration,
        PositionSwap,
    )
}


def make_policy(name: str, **params: Any) -> Policy:
    """Instantiate the policy registered under ``name`` with keyword hyper-parameters.

    Names and value types are checked against the class's signature (:func:`explorec.spec.build`).
    """
    from explorec.spec import build

    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; known policies: {', '.join(sorted(POLICIES))}")
    return build(POLICIES[name], params, what=f"policy {name!r}")


__all__ = [
    "POLICIES",
    "UCB",
    "BernoulliTS",
    "BudgetedExploration",
    "EpsilonGreedy",
    "Feedback",
    "FeedbackBatch",
    "Greedy",
    "HybridLinUCB",
    "LinUCB",
    "LinearTS",
    "Policy",
    "PositionSwap",
    "Softmax",
    "UncertaintyPolicy",
    "feedback_for_slate",
    "make_policy",
]
