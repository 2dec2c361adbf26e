from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from explorec.data.interactions import Interactions
from explorec.data.toy import known_answer_dataset, known_answer_split
from explorec.errors import ConfigError
from explorec.models import textknn as textknn_module
from explorec.models.base import Recommender
from explorec.models.textknn import TextKNN, kernel_scores, recency_weights


def test_recency_weights_by_hand() -> None:
    # user a: x (t=1), y (t=2), x (t=3); user b: y only
    data = Interactions.from_ids(["a", "a", "a", "b"], ["x", "y", "x", "y"], timestamp=[1, 2, 3, 5])
    w = recency_weights(data, decay=0.5, max_history=50).toarray()
    np.testing.assert_allclose(w, [[1.0 + 0.25, 0.5], [0.0, 1.0]])
    # only the last two events count
    np.testing.assert_allclose(
        recency_weights(data, decay=0.5, max_history=2).toarray(), [[1.0, 0.5], [0, 1]]
    )


def _fitted(**params: object) -> tuple[TextKNN, Interactions]:
    data = known_answer_dataset()
    split = known_answer_split()
    model = TextKNN(encoder="hashing:256", **params).fit(split.train, data.catalog)  # type: ignore[arg-type]
    return model, split.test_history


def test_scores_are_cosine_of_the_profile() -> None:
    model, history = _fitted(decay=0.5)
    weights = recency_weights(history, decay=0.5, max_history=50)
    profile = np.asarray(weights[[3]] @ model.item_vectors_)[0]
    expected = model.item_vectors_ @ (profile / np.linalg.norm(profile))
    np.testing.assert_allclose(model.score([3], history=history)[0], expected, rtol=1e-5, atol=1e-6)


def test_cold_items_of_the_users_group_rank_first() -> None:
    model, history = _fitted()
    data = known_answer_dataset()
    group = data.catalog.attributes["group"]
    cold = np.flatnonzero(data.catalog.attributes["cold"])
    user_group = data.user_features["group"]
    scores = model.score(np.arange(history.n_users), cold, history=history)  # [U, 6]
    best = cold[scores.argmax(axis=1)]
    assert (group[best] == user_group).all()


def test_one_interaction_is_enough() -> None:
    data = known_answer_dataset()
    # a user whose only event is "guitar" gets instruments first, cold ones included
    one = Interactions.from_ids(["new"], ["instrument-guitar"], item_ids=data.catalog.item_ids)
    model = TextKNN(encoder="hashing:256").fit(one, data.catalog)
    scores = model.score([0])[0]
    scores[data.catalog.item_ids.tolist().index("instrument-guitar")] = -np.inf
    top = np.argsort(-scores)[:9]
    assert set(data.catalog.attributes["group"][top]) == {2}


def test_decay_favours_the_latest_interest() -> None:
    data = known_answer_dataset()
    ids = data.catalog.item_ids.tolist()
    events = ["fruit-apple", "fruit-pear", "fruit-plum", "vehicle-car"]
    history = Interactions.from_ids(["u"] * 4, events, timestamp=[1, 2, 3, 4], item_ids=ids)
    group = data.catalog.attributes["group"]

    def top_group(decay: float) -> int:
        scores = TextKNN(encoder="hashing:256", decay=decay).fit(history, data.catalog).score([0])[0]
        scores[[ids.index(e) for e in events]] = -np.inf
        return int(group[np.argmax(scores)])

    assert top_group(1.0) == 0  # plain mean: three fruits outweigh one vehicle
    assert top_group(0.2) == 1  # steep decay: the latest event (a vehicle) dominates


def test_needs_a_catalog_and_valid_settings() -> None:
    split = known_answer_split()
    with pytest.raises(ConfigError, match="needs the catalog"):
        TextKNN(encoder="hashing:8").fit(split.train)
    cat = known_answer_dataset().catalog
    with pytest.raises(ConfigError, match=r"decay must lie in \(0, 1\], got 0"):
        TextKNN(encoder="hashing:8", decay=0).fit(split.train, cat)
    with pytest.raises(ConfigError, match="max_history"):
        TextKNN(encoder="hashing:8", max_history=0).fit(split.train, cat)


def test_saved_model_needs_no_encoder(tmp_path: Path) -> None:
    model, history = _fitted()
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert isinstance(loaded, TextKNN)
    np.testing.assert_array_equal(loaded.item_vectors_, model.item_vectors_)
    np.testing.assert_array_equal(loaded.score([0, 5], history=history), model.score([0, 5], history=history))


def test_template_parameter_is_used() -> None:
    split = known_answer_split()
    cat = known_answer_dataset().catalog
    by_title = TextKNN(encoder="hashing:64", template="{title}").fit(split.train, cat)
    by_text = TextKNN(encoder="hashing:64").fit(split.train, cat)
    assert not np.allclose(by_title.item_vectors_, by_text.item_vectors_)


def _kernel_by_hand(weights: np.ndarray, vectors: np.ndarray, tau: float) -> np.ndarray:
    out = np.zeros((weights.shape[0], vectors.shape[0]))
    for u, row in enumerate(weights):
        if row.sum() == 0:
            continue
        for i in range(vectors.shape[0]):
            total = sum(
                w * math.exp((float(vectors[h] @ vectors[i]) - 1) / tau) for h, w in enumerate(row) if w
            )
            out[u, i] = tau * math.log(total / row.sum())
    return out


@pytest.mark.parametrize("block", [1 << 23, 7])  # one block, and a block of about one row
def test_kernel_scores_by_hand(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weights = np.array([[1, 0, 0.5, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0.2, 0.3, 0, 0, 0, 1]], dtype=np.float32)
    monkeypatch.setattr(textknn_module, "_KERNEL_BLOCK", block)
    got = kernel_scores(sp.csr_matrix(weights), vectors, 0.1)
    np.testing.assert_allclose(got, _kernel_by_hand(weights, vectors, 0.1), rtol=1e-5, atol=1e-6)
    assert not got[1].any()  # no history: 0 everywhere


def test_kernel_scoring_limits() -> None:
    model, history = _fitted(scoring="kernel", kernel_temperature=0.005)
    weights = model.history_weights(history)
    users = np.arange(history.n_users)
    sims = model.item_vectors_ @ model.item_vectors_.T
    # small temperature: the score tends to the highest similarity to any history item, minus 1
    best = np.stack([sims[weights[u].indices].max(axis=0) for u in users]) - 1
    assert np.abs(model.score(users, history=history) - best).max() < 0.03
    # one history item: the same ranking as the profile's cosine
    one = Interactions(
        np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.ones(1), np.ones(1, dtype=np.float32),
        np.array(["a"], dtype=object), history.item_ids,
    )  # fmt: skip
    profile = TextKNN(encoder="hashing:256").fit(known_answer_split().train, known_answer_dataset().catalog)
    np.testing.assert_array_equal(
        np.argsort(-model.score([0], history=one)[0], kind="stable"),
        np.argsort(-profile.score([0], history=one)[0], kind="stable"),
    )


def test_bad_scoring_is_refused() -> None:
    split, cat = known_answer_split(), known_answer_dataset().catalog
    with pytest.raises(ConfigError, match="scoring must be one of profile, kernel; got 'max'"):
        TextKNN(encoder="hashing:8", scoring="max").fit(split.train, cat)
    for bad in (0, float("inf"), 1e4, True):
        with pytest.raises(ConfigError, match=r"kernel_temperature must be a number in \[0\.005, 1000\]"):
            TextKNN(encoder="hashing:8", scoring="kernel", kernel_temperature=bad).fit(split.train, cat)
    model = TextKNN(encoder="hashing:8", scoring="kernel", kernel_temperature=np.float32(0.1))
    model.fit(split.train, cat)
    model.scoring = "max"  # changed after fit: refused when scoring, not silently the profile
    with pytest.raises(ConfigError, match="scoring must be one of"):
        model.score([0])
