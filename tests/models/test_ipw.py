"""EASE-IPW: hand-computed weights, the closed form, eta = 0 is EASE, and the tail gains."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.data.toy import known_answer_split
from explorec.errors import ConfigError
from explorec.models.ease import EASE
from explorec.models.ipw import EASEIPW, ipw_weights


def test_weights_hand_computed() -> None:
    # counts 4, 1, 0 with eta = 0.5: p = [1, 0.5, clip(0) = 0.1] -> 1/p = [1, 2, 10];
    # mean over the 5 interactions: (4 * 1 + 1 * 2) / 5 = 1.2 -> w = [1/1.2, 2/1.2, 10/1.2]
    np.testing.assert_allclose(
        ipw_weights([4, 1, 0], eta=0.5, min_propensity=0.1), [1 / 1.2, 2 / 1.2, 10 / 1.2]
    )
    # clipping: counts 100, 1 with eta 1 -> p = [1, 0.01] clipped to 0.05 -> 1/p = [1, 20]
    w = ipw_weights([100, 1], eta=1.0, min_propensity=0.05)
    np.testing.assert_allclose(w, np.array([1.0, 20.0]) * 101 / 120)
    np.testing.assert_allclose(ipw_weights([3, 7], eta=0.0, min_propensity=0.1), [1.0, 1.0])


def test_closed_form_on_a_tiny_matrix() -> None:
    data = Interactions.from_ids(["a", "a", "b", "b", "c", "c", "c"], ["x", "y", "x", "z", "x", "y", "z"])
    model = EASEIPW(l2=2.0, eta=1.0, min_propensity=0.1).fit(data)
    x = data.to_csr().toarray()
    # counts x=3, y=2, z=2; eta = 1: p = [1, 2/3, 2/3] -> 1/p = [1, 1.5, 1.5]; the 7 interactions
    # weigh 3 * 1 + 2 * 1.5 + 2 * 1.5 = 9, so c = 7/9 and w = [7/9, 7/6, 7/6]
    w = np.array([7 / 9, 7 / 6, 7 / 6])
    np.testing.assert_allclose(model.item_weights_, w, rtol=1e-6)
    gram = np.diag(w) @ x.T @ x @ np.diag(w) + 2.0 * np.eye(3)
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights_, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.score([0, 1, 2]), (x * w) @ b, rtol=1e-5, atol=1e-6)


def test_eta_zero_is_plain_ease() -> None:
    split = known_answer_split()
    ipw = EASEIPW(l2=10.0, eta=0.0).fit(split.train)
    ease = EASE(l2=10.0).fit(split.train)
    np.testing.assert_allclose(ipw.score(np.arange(10)), ease.score(np.arange(10)), rtol=1e-4, atol=1e-5)


def test_correction_moves_recommendations_to_the_tail() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 300, 60
    popularity = 1.0 / np.arange(1, n_items + 1) ** 1.1  # Zipf exposure
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, 8, replace=False, p=popularity / popularity.sum())
        users += [u] * 8
        items += chosen.tolist()
    data = Interactions.from_arrays(
        np.array(users), np.array(items), user_ids=np.arange(n_users), item_ids=np.arange(n_items)
    )
    counts = data.item_counts()
    mean_pop = []
    for eta in (0.0, 0.5, 1.0):
        scores = EASEIPW(l2=50.0, eta=eta).fit(data).score(np.arange(n_users)).astype(np.float64)
        scores[data.to_csr().toarray() > 0] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :10]
        mean_pop.append(counts[top].mean())
    assert mean_pop[0] > mean_pop[1] > mean_pop[2]


def test_bad_parameters() -> None:
    split = known_answer_split()
    with pytest.raises(ConfigError, match="eta must lie in"):
        EASEIPW(eta=-1.0).fit(split.train)
    with pytest.raises(ConfigError, match="min_propensity must lie in"):
        EASEIPW(min_propensity=0.0).fit(split.train)
    with pytest.raises(ConfigError, match="l2 must be > 0"):
        EASEIPW(l2=0.0).fit(split.train)


def test_ease_ipw_refuses_to_fit_above_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    split = known_answer_split()
    monkeypatch.setenv("EXPLOREC_MEMORY_LIMIT_GB", "1e-9")
    with pytest.raises(ConfigError, match=r"EASE-IPW on \d+ items needs about .* above the limit"):
        EASEIPW().fit(split.train)
    monkeypatch.delenv("EXPLOREC_MEMORY_LIMIT_GB")
    assert EASEIPW().fit(split.train).weights_.shape == (split.train.n_items,) * 2
