"""Fusion: hand-computed normalisation and RRF, learned fusion on planted data, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from explorec.data.toy import known_answer_dataset, known_answer_split
from explorec.errors import ConfigError
from explorec.models.base import Recommender
from explorec.models.fusion import (
    LearnedFusion,
    RankFusion,
    WeightedFusion,
    normalise,
    parse_fusion_spec,
    ranks,
)
from explorec.models.registry import make_model

ITEMKNN = ["itemknn", {"k": 20, "shrinkage": 1.0, "progress": False}]


def test_normalisations_hand_computed() -> None:
    scores = np.array([[4.0, 1.0, 3.0, 2.0, 10.0]])
    seen = np.array([[False, False, False, False, True]])  # item 4 is seen: left out of the statistics
    np.testing.assert_allclose(normalise(scores, seen, "minmax")[0, :4], [1.0, 0.0, 2 / 3, 1 / 3])
    z = (np.array([4.0, 1.0, 3.0, 2.0]) - 2.5) / np.sqrt(1.25)
    np.testing.assert_allclose(normalise(scores, seen, "zscore")[0, :4], z)
    np.testing.assert_allclose(ranks(scores, seen)[0], [1, 4, 2, 3, 5])
    np.testing.assert_allclose(normalise(scores, seen, "rank")[0], [1.0, 0.25, 0.75, 0.5, 0.0])
    tied = ranks(np.array([[2.0, 2.0, 1.0]]), np.zeros((1, 3), dtype=bool))
    np.testing.assert_allclose(tied[0], [1.5, 1.5, 3])  # ties share their average rank
    with pytest.raises(ConfigError, match="normalization must be one of"):
        normalise(scores, seen, "softmax")


def test_rrf_hand_computed_and_against_components() -> None:
    # two rankings of 4 items: RRF(k=60) = 1/(60 + r1) + 1/(60 + r2)
    r1 = ranks(np.array([[3.0, 1.0, 2.0, 0.0]]), np.zeros((1, 4), dtype=bool))[0]
    r2 = ranks(np.array([[0.0, 2.0, 1.0, 3.0]]), np.zeros((1, 4), dtype=bool))[0]
    fused = 1 / (60 + r1) + 1 / (60 + r2)
    np.testing.assert_allclose(fused, [1 / 61 + 1 / 64, 1 / 63 + 1 / 62, 1 / 62 + 1 / 63, 1 / 64 + 1 / 61])

    split = known_answer_split()
    model = RankFusion(components=["popularity", ITEMKNN]).fit(split.train)
    users = np.arange(6)
    history = split.test_history
    seen = history.to_csr()[users].toarray() > 0
    expected = np.zeros(seen.shape)
    for component in model.components_:
        s = component.score(users, history=history).astype(np.float64)
        expected += 1.0 / (60.0 + scipy.stats.rankdata(-np.where(seen, -np.inf, s), axis=1))
    np.testing.assert_allclose(model.score(users, history=history), expected, rtol=1e-6)


def test_weighted_fusion_is_the_weighted_sum_of_normalised_scores() -> None:
    split = known_answer_split()
    model = WeightedFusion(components=["popularity", ITEMKNN], weights=[0.3, 0.7], normalization="zscore")
    model.fit(split.train)
    users = np.arange(10)
    seen = split.train.to_csr()[users].toarray() > 0
    parts = [normalise(c.score(users), seen, "zscore") for c in model.components_]
    np.testing.assert_allclose(model.score(users), 0.3 * parts[0] + 0.7 * parts[1], rtol=1e-5, atol=1e-6)


def _hit_rate(model: Recommender, k: int = 4) -> float:
    split = known_answer_split()
    history = split.test_history
    scores = model.score(split.test.user, history=history).astype(np.float64)
    scores[history.to_csr()[split.test.user].toarray() > 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean([i in row for i, row in zip(split.test.item, top, strict=True)]))


def test_learned_fusion_ignores_a_useless_component() -> None:
    # planted data: each user loves one item group; popularity knows nothing of groups, item-kNN does
    split = known_answer_split()
    fused = LearnedFusion(components=["popularity", ITEMKNN], n_candidates=10).fit(split.train)
    pop_hit = _hit_rate(make_model("popularity").fit(split.train))
    knn_hit = _hit_rate(make_model(ITEMKNN[0], **ITEMKNN[1]).fit(split.train))
    assert _hit_rate(fused) >= knn_hit - 1e-9 and _hit_rate(fused) > pop_hit + 0.5
    names = fused.feature_names()
    coef = dict(zip(names, fused.coef_, strict=True))
    assert coef["logrank[1:itemknn]"] > abs(coef["logrank[0:popularity]"])


def test_learned_fusion_with_given_validation_and_save_load(tmp_path: Path) -> None:
    split = known_answer_split()
    catalog = known_answer_dataset().catalog
    model = LearnedFusion(components=["popularity", ITEMKNN], n_candidates=10)
    model.fit_with_validation(split.train, split.valid, catalog)
    assert not hasattr(model, "_validation")
    path = model.save(tmp_path / "fused")
    assert (path / "component_0" / "config.json").is_file() and (path / "component_1" / "state.npz").is_file()
    loaded = Recommender.load(path)
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(
        loaded.score(users, history=split.test_history), model.score(users, history=split.test_history)
    )


def test_bad_configuration() -> None:
    split = known_answer_split()
    with pytest.raises(ConfigError, match="component 'nope' is not a registered model"):
        WeightedFusion(components=["nope"]).fit(split.train)
    with pytest.raises(ConfigError, match="weights must be 2 finite non-negative numbers"):
        WeightedFusion(components=["popularity", ITEMKNN], weights=[1.0]).fit(split.train)
    with pytest.raises(ConfigError, match="non-empty list"):
        RankFusion(components=[]).fit(split.train)
    with pytest.raises(ConfigError, match="normalization must be one of"):
        WeightedFusion(components=["popularity"], normalization="l2").fit(split.train)


def test_parse_fusion_spec() -> None:
    assert parse_fusion_spec("popularity+itemknn:k=50,shrinkage=5") == [
        ["popularity", {}],
        ["itemknn", {"k": 50, "shrinkage": 5}],
    ]
    with pytest.raises(ConfigError, match="expected NAME"):
        parse_fusion_spec("itemknn:k")


def test_meta_model_minimises_the_documented_class_balanced_objective() -> None:
    import scipy.optimize

    from explorec.models.fusion import _logistic_regression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x @ np.array([1.5, -1.0, 0.0]) + 0.5 * rng.normal(size=400) > 1.0).astype(np.float64)
    n_pos, l2 = y.sum(), 3.0
    s = np.where(y > 0, 0.5 / n_pos, 0.5 / (y.size - n_pos))

    def objective(theta: np.ndarray) -> float:
        margin = (2 * y - 1) * (x @ theta[:-1] + theta[-1])
        return float(np.sum(s * np.logaddexp(0.0, -margin)) + 0.5 * l2 * theta[:-1] @ theta[:-1] / n_pos)

    best = scipy.optimize.minimize(
        objective,
        np.zeros(4),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000},
    )
    coef, intercept = _logistic_regression(x, y, l2)
    np.testing.assert_allclose(np.r_[coef, intercept], best.x, atol=2e-4)
    assert objective(np.r_[coef, intercept]) <= best.fun + 1e-9
