"""``explorec ope`` labels a ground truth only where the dataset holds a log of the policy evaluated."""

from __future__ import annotations

import pytest

from explorec.cli.ope import ground_truth_log


@pytest.mark.parametrize(
    ("policy", "behavior", "params", "log"),
    [
        ("bts", "random", {}, "bts"),  # ZOZOTOWN's production Thompson sampler and its own log
        ("bts", "random", {"n_mc": 500, "seed": 3}, "bts"),  # how the distribution is computed only
        ("uniform", "bts", {}, "random"),
        ("ts", "random", {}, None),  # regression: an untrained sampler was scored against the bts log
        ("ts", "random", {"alpha": 2.0}, None),
        ("bts", "bts", {}, None),  # the evaluated log itself is no independent truth
        ("bts", "random", {"examination": [1.0, 0.5, 0.3]}, None),  # another policy than production
        ("greedy", "random", {}, None),
    ],
)
def test_ground_truth_only_for_the_policy_that_collected_a_log(
    policy: str, behavior: str, params: dict[str, object], log: str | None
) -> None:
    found, note = ground_truth_log(policy, behavior, params)
    assert found == log
    assert note.startswith("none") == (log is None)
