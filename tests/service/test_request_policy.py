"""The served request path's cached policy specs and one-user pipeline path give the old answers."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError
from explorec.pipeline import _user_items
from explorec.policies.spec import parse_policy_spec
from explorec.service.slates import request_policy

SPECS = [
    "greedy",
    "eps-greedy:0.2",
    "eps-greedy:0.2:seed=5",
    "softmax:0.5",
    "ucb:1.0",
    "ts:1.0",
    "budget:0.2:cold_share=0.5",
    "swap:0.05:policy=ts",
    "linucb-hybrid:1.0:shared_dim=4",
]


@pytest.mark.parametrize("spec", SPECS)
def test_request_policy_equals_parse_policy_spec(spec: str) -> None:
    for seed in (0, 123456789):
        fresh = parse_policy_spec(spec, seed=seed)
        cached = request_policy(spec, seed)
        assert repr(cached) == repr(fresh)
        assert cached is not request_policy(spec, seed)  # a new policy per request, never shared
    if spec.startswith(("eps-greedy", "softmax")):
        scores = np.linspace(1.0, 0.0, 30)
        a = parse_policy_spec(spec, seed=42).select(np.arange(30), 5, scores=scores)
        b = request_policy(spec, 42).select(np.arange(30), 5, scores=scores)
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_array_equal(a.propensities, b.propensities)


def test_request_policy_spec_seed_wins() -> None:
    assert request_policy("eps-greedy:0.2:seed=5", 99).seed == 5
    assert request_policy("eps-greedy:0.2", 99).seed == 99


def test_request_policy_bad_spec_still_refused() -> None:
    for _ in range(2):  # a failed parse is not cached
        with pytest.raises(ConfigError, match="epsilon"):
            request_policy("eps-greedy:abc", 0)


def test_user_items_equals_csr_row() -> None:
    rng = np.random.default_rng(0)
    user = rng.integers(0, 4, size=200)
    item = rng.integers(0, 50, size=200)
    data = Interactions(
        user,
        item,
        np.arange(200, dtype=np.float64),
        np.ones(200, dtype=np.float32),
        np.array([f"u{i}" for i in range(4)], dtype=object),
        np.array([f"i{i}" for i in range(50)], dtype=object),
    )
    known = data.to_csr()
    for u in range(4):
        row = known.indices[known.indptr[u] : known.indptr[u + 1]]
        np.testing.assert_array_equal(_user_items(data, u), row)
