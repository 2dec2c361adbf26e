"""The contract every registered model must honour (as scikit-learn's ``parametrize_with_checks``).

Parametrised over ``explorec.models.registry.MODELS``; each test resolves its model class itself, so
a model that cannot be imported fails its own tests without breaking the collection of the others.
Models are built with ``cls(**cls.contract_params())`` and fitted on the planted-answer dataset of
``explorec.data.toy``.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorec.data.interactions import Catalog, Split
from explorec.data.toy import WARM_PER_GROUP, known_answer_dataset, known_answer_split
from explorec.errors import ConfigError, NotFittedError
from explorec.models.base import Recommender
from explorec.models.registry import MODELS, model_class

NAMES = sorted(MODELS)
#: HitRate@K on the planted test items, K = half a group's warm items
K = WARM_PER_GROUP // 2
#: a model must beat popularity's HitRate@K by this much, or reach FLOOR
MARGIN = 0.25
FLOOR = 0.9
#: fraction of (own-group cold item, other-group cold item) pairs a text model must order correctly
COLD_PAIR_FLOOR = 0.9

_fitted: dict[str, Recommender] = {}


@pytest.fixture(scope="module")
def split() -> Split:
    return known_answer_split()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return known_answer_dataset().catalog


def _single_thread() -> None:
    # torch models must fit identically each time; thread count changes float summation order
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _make(name: str, **overrides: Any) -> Recommender:
    cls = model_class(name)
    _single_thread()
    return cls(**{**cls.contract_params(), **overrides})


def _fit(name: str, split: Split, catalog: Catalog, **overrides: Any) -> Recommender:
    model = _make(name, **overrides)
    _single_thread()
    return model.fit(split.train, catalog)


def _shared(name: str, split: Split, catalog: Catalog) -> Recommender:
    """One fitted model per name, reused by the tests that do not modify it."""
    if name not in _fitted:
        _fitted[name] = _fit(name, split, catalog)
    return _fitted[name]


def _has_seed(name: str) -> bool:
    return "seed" in inspect.signature(model_class(name).__init__).parameters


def _hit_rate(model: Recommender, split: Split) -> float:
    history = split.test_history
    users = split.test.user
    scores = model.score(users, history=history).astype(np.float64)
    seen = history.to_csr()[users].toarray() > 0
    scores[seen] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return float(np.mean([item in row for item, row in zip(split.test.item, top, strict=True)]))


# ---------------------------------------------------------------------------------------- checks
@pytest.mark.parametrize("name", NAMES)
def test_score_shape_and_dtype(name: str, split: Split, catalog: Catalog) -> None:
    model = _shared(name, split, catalog)
    users = np.arange(split.train.n_users)
    scores = model.score(users)
    assert scores.shape == (split.train.n_users, split.train.n_items)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    folded = model.score(users[:5], history=split.test_history)
    assert folded.shape == (5, split.train.n_items) and folded.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_items_slice_equals_full_scores(name: str, split: Split, catalog: Catalog) -> None:
    model = _shared(name, split, catalog)
    users = np.array([0, 13, 30])
    items = np.array([5, 0, 29, 17, 5])
    full = model.score(users, history=split.test_history)
    np.testing.assert_array_equal(model.score(users, items, history=split.test_history), full[:, items])


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_one_by_one(name: str, split: Split, catalog: Catalog) -> None:
    model = _shared(name, split, catalog)
    users = np.arange(split.train.n_users)
    batch = model.score(users, history=split.test_history)
    single = np.concatenate([model.score([u], history=split.test_history) for u in users])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_without_pickle(
    name: str, split: Split, catalog: Catalog, tmp_path: Path
) -> None:
    model = _shared(name, split, catalog)
    path = model.save(tmp_path / name)
    assert (path / "config.json").is_file()
    with np.load(path / "state.npz", allow_pickle=False) as state:
        for key in state.files:
            assert state[key].dtype != object, key
    assert not [p for p in path.rglob("*") if p.suffix in {".pkl", ".pickle"}]
    loaded = Recommender.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(
        loaded.score(users, history=split.test_history), model.score(users, history=split.test_history)
    )


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores(name: str, split: Split, catalog: Catalog) -> None:
    seed = {"seed": 7} if _has_seed(name) else {}
    first = _fit(name, split, catalog, **seed)
    second = _fit(name, split, catalog, **seed)
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(
        first.score(users, history=split.test_history), second.score(users, history=split.test_history)
    )


@pytest.mark.parametrize("name", NAMES)
def test_fit_forgets_earlier_fit(name: str, split: Split, catalog: Catalog) -> None:
    other = known_answer_split(seed=1)
    refitted = _make(name).fit(other.train, catalog)
    _single_thread()
    refitted.fit(split.train, catalog)
    fresh = _fit(name, split, catalog)
    users = np.arange(split.train.n_users)
    np.testing.assert_array_equal(
        refitted.score(users, history=split.test_history), fresh.score(users, history=split.test_history)
    )


@pytest.mark.parametrize("name", NAMES)
def test_quality_floor_on_known_answer(name: str, split: Split, catalog: Catalog) -> None:
    model = _shared(name, split, catalog)
    if name == "popularity":
        # the reference itself: its known answer is the training count of every item
        counts = np.bincount(split.train.item, minlength=split.train.n_items)
        np.testing.assert_array_equal(model.score([0])[0], counts)
        return
    popularity = model_class("popularity")().fit(split.train, catalog)
    baseline = _hit_rate(popularity, split)
    hit = _hit_rate(model, split)
    assert hit >= min(baseline + MARGIN, FLOOR), f"{name}: HitRate@{K} {hit:.3f}, popularity {baseline:.3f}"
    if type(model).scores_cold_items:
        _check_cold_items(model, split, catalog)


def _check_cold_items(model: Recommender, split: Split, catalog: Catalog) -> None:
    group = catalog.attributes["group"]
    cold = split.cold_items
    users = split.test.user
    user_group = group[split.test.item]  # every user's test item lies in the user's group
    scores = model.score(users, cold, history=split.test_history)  # [U, n_cold]
    correct = []
    for row, g in zip(scores, user_group, strict=True):
        own, other = row[group[cold] == g], row[group[cold] != g]
        correct.append(np.mean(own[:, None] > other[None, :]))
    accuracy = float(np.mean(correct))
    assert accuracy >= COLD_PAIR_FLOOR, f"{model.name}: cold items ordered correctly {accuracy:.3f}"


@pytest.mark.parametrize("name", NAMES)
def test_get_params_round_trip(name: str) -> None:
    model = _make(name)
    params = model.get_params()
    assert params == {**params, **model_class(name).contract_params()}
    assert type(model)(**params).get_params() == params
    assert repr(model).startswith(type(model).__name__ + "(")


@pytest.mark.parametrize("name", NAMES)
def test_user_out_of_range_names_the_index(name: str, split: Split, catalog: Catalog) -> None:
    model = _shared(name, split, catalog)
    n_users = split.train.n_users
    with pytest.raises(ConfigError, match=f"index {n_users} "):
        model.score([0, n_users])
    with pytest.raises(ConfigError, match="index -1 "):
        model.score([-1])


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_score_raises(name: str) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        _make(name).score([0])


@pytest.mark.parametrize("name", NAMES)
def test_registered_name_matches(name: str) -> None:
    assert model_class(name).name == name
