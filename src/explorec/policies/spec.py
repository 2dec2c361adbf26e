"""Policies from a short text spec, for the CLI (``--policy eps-greedy:0.1``) and config files.

Grammar: ``NAME[:VALUE[:KEY=VALUE...]]``. ``VALUE`` sets the policy's main knob::

    greedy                    exploit only (propensity 1)
    eps-greedy:0.1            epsilon-greedy per slot, epsilon 0.1 (alias: epsilon-greedy)
    softmax:0.5               Boltzmann sampling, temperature 0.5
    ucb:1.0                   UCB, exploration constant c = 1.0
    ts:1.0                    Beta-Bernoulli Thompson sampling, prior weight 1.0
    budget:0.2:cold_share=0.5 20% exploration budget, half of it for cold items
    swap:0.05:policy=ts       Thompson sampling, 5% of slates get a randomised position swap

Values are JSON literals (numbers, true/false) or plain strings; nothing is evaluated as code.
"""

from __future__ import annotations

from typing import Any

from explorec.errors import ConfigError
from explorec.policies import POLICIES, Policy
from explorec.spec import build, parse_spec, parse_value

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
    "swap": "share",
}

ALIASES = {"epsilon-greedy": "eps-greedy", "thompson": "ts", "boltzmann": "softmax"}


def parse_policy_spec(spec: str, *, seed: int = 0) -> Policy:
    """Build the policy a spec names, seeded with ``seed`` unless the spec sets ``seed=``.

    Names and values are checked against the policy's signature (:mod:`explorec.spec`): an unknown
    option lists the allowed ones, and a value that is not a finite number where one is expected
    (``eps-greedy:abc``, ``softmax:nan``) is refused with the value received.

    >>> parse_policy_spec("eps-greedy:0.2").epsilon
    0.2
    """
    what = f"--policy {spec!r}"
    parsed = parse_spec(spec, what=what)
    name = ALIASES.get(parsed.name, parsed.name)
    if name not in POLICIES:
        raise ConfigError(f"{what}: unknown policy {parsed.name!r}; known: {', '.join(sorted(POLICIES))}")
    params: dict[str, Any] = {"seed": seed}
    if parsed.value is not None:
        if name not in MAIN_KNOB:
            raise ConfigError(f"{what}: {name} takes no main value, only KEY=VALUE options")
        if MAIN_KNOB[name] in parsed.options:
            raise ConfigError(f"{what}: {MAIN_KNOB[name]!r} is given twice (as the value and as an option)")
        params[MAIN_KNOB[name]] = parse_value(parsed.value)
    params.update({key: parse_value(raw) for key, raw in parsed.options.items()})
    return build(POLICIES[name], params, what=what)
