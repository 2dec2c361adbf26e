"""Policies from a short text spec, for the CLI (``--policy eps-greedy:0.1``) and config files.

Grammar: ``NAME[:VALUE[:KEY=VALUE...]]``. ``VALUE`` sets the policy's main knob::

    greedy                    exploit only (propensity 1)
    eps-greedy:0.1            epsilon-greedy per slot, epsilon 0.1 (alias: epsilon-greedy)
    softmax:0.5               Boltzmann sampling, temperature 0.5
    ucb:1.0                   UCB, exploration constant c = 1.0
    ts:1.0                    Beta-Bernoulli Thompson sampling, prior weight 1.0
    budget:0.2:cold_share=0.5 20% exploration budget, half of it for cold items

Values are JSON literals (numbers, true/false) or plain strings; nothing is evaluated as code.
"""

from __future__ import annotations

import json
from typing import Any

from explorec.errors import ConfigError
from explorec.policies import POLICIES, Policy, make_policy

#: policy name -> the constructor argument that ``NAME:VALUE`` sets
MAIN_KNOB: dict[str, str] = {
    "eps-greedy": "epsilon",
    "softmax": "temperature",
    "ucb": "c",
    "linucb": "alpha",
    "linucb-hybrid": "alpha",
    "lints": "v",
    "ts": "prior_weight",
    "uncertainty": "beta",
    "budget": "explore_share",
}

ALIASES = {"epsilon-greedy": "eps-greedy", "thompson": "ts", "boltzmann": "softmax"}


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_policy_spec(spec: str, *, seed: int = 0) -> Policy:
    """Build the policy a spec names, seeded with ``seed`` unless the spec sets ``seed=``.

    >>> parse_policy_spec("eps-greedy:0.2").epsilon
    0.2
    """
    parts = [p.strip() for p in spec.strip().split(":")]
    name = ALIASES.get(parts[0], parts[0])
    if name not in POLICIES:
        raise ConfigError(
            f"--policy {spec!r}: unknown policy {parts[0]!r}; known: {', '.join(sorted(POLICIES))}"
        )
    params: dict[str, Any] = {"seed": seed}
    rest = parts[1:]
    if rest and "=" not in rest[0]:
        if name not in MAIN_KNOB:
            raise ConfigError(f"--policy {spec!r}: {name} takes no main value, only KEY=VALUE options")
        params[MAIN_KNOB[name]] = _value(rest.pop(0))
    for option in rest:
        key, sep, raw = option.partition("=")
        if not sep or not key:
            raise ConfigError(f"--policy {spec!r}: expected KEY=VALUE, got {option!r}")
        params[key] = _value(raw)
    try:
        return make_policy(name, **params)
    except TypeError as exc:
        raise ConfigError(f"--policy {spec!r}: {exc}") from None
