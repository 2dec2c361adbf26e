"""TwoTower: prefix examples, log-Q, retrieval through the index, cold users and items, features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from explorec.data.interactions import Dataset, Split
from explorec.data.toy import known_answer_dataset
from explorec.errors import ConfigError, DataError
from explorec.models.base import Recommender
from explorec.models.two_tower import TwoTower, prefix_examples
from explorec.persist import write_manifest

torch.set_num_threads(1)

TINY: dict[str, Any] = {**TwoTower.contract_params(), "epochs": 20}


@pytest.fixture(scope="module")
def toy() -> Dataset:
    return known_answer_dataset()


@pytest.fixture(scope="module")
def split(toy: Dataset) -> Split:
    assert toy.split is not None
    return toy.split


@pytest.fixture(scope="module")
def fitted(toy: Dataset, split: Split) -> TwoTower:
    return TwoTower(**TINY).fit(split.train, toy.catalog)


def test_prefix_examples_hand_computed() -> None:
    hist, target, user = prefix_examples(
        [np.array([4, 7, 9]), np.array([], dtype=np.int64), np.array([2])], 2
    )
    assert hist.tolist() == [[0, 0], [0, 5], [5, 8], [0, 0]]  # shifted by one, 0 = padding
    assert target.tolist() == [4, 7, 9, 2]
    assert user.tolist() == [0, 0, 0, 2]


def test_log_q_is_the_target_share(fitted: TwoTower, split: Split) -> None:
    counts = split.train.item_counts()
    expected = np.log(np.maximum(counts, 1) / counts.sum())
    np.testing.assert_allclose(fitted.log_q_, expected, rtol=1e-6)


def test_retrieve_matches_masked_full_scores(fitted: TwoTower, split: Split) -> None:
    users = np.array([0, 12, 30])
    history = split.test_history
    items, scores = fitted.retrieve(users, 5, history=history)
    full = fitted.score(users, history=history)
    full[history.to_csr()[users].toarray() > 0] = -np.inf
    np.testing.assert_array_equal(items, np.argsort(-full, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(scores, np.take_along_axis(full, items, axis=1), rtol=1e-5)
    seen = history.to_csr()[users].toarray() > 0
    assert not np.take_along_axis(seen, items, axis=1).any()
    faiss_items, _ = fitted.retrieve(users, 5, history=history, backend="faiss")
    np.testing.assert_array_equal(faiss_items, items)


def test_empty_history_users_get_the_learned_cold_vector(fitted: TwoTower, split: Split) -> None:
    nobody = split.train.select(split.train.user >= 2)  # users 0 and 1 have no history here
    scores = fitted.score([0, 1], history=nobody)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-6)  # no history, no features: same vector
    # trained on first events, the cold vector prefers items that start sequences over others
    first = np.array([s[0] for s in split.train.sequences() if s.size])
    starts = np.bincount(first, minlength=split.train.n_items)
    assert scores[0][starts > 0].mean() > scores[0][starts == 0].mean()


def test_user_features_change_the_cold_user(toy: Dataset, split: Split) -> None:
    features = {"group": toy.user_features["group"]}
    model = TwoTower(**TINY).fit(split.train, toy.catalog, user_features=features)
    assert model.user_features_.shape == (split.train.n_users, 1)
    nobody = split.train.select(split.train.user < 0)
    scores = model.score([0, 12, 24], history=nobody)  # three users of three groups, no history
    group = toy.catalog.attributes["group"]
    own = [scores[row][group == g].mean() for row, g in enumerate([0, 1, 2])]
    other = [scores[row][group != g].mean() for row, g in enumerate([0, 1, 2])]
    assert all(o > x for o, x in zip(own, other, strict=True))
    with pytest.raises(DataError, match=r"user_features\['age'\] has shape \(3,\), expected \(36,\)"):
        TwoTower(**TINY).fit(split.train, user_features={"age": np.array([1, 2, 3])})


def test_text_tower_scores_cold_items(toy: Dataset, split: Split) -> None:
    model = TwoTower(**TINY, item_input="text", encoder="hashing:64", item_attributes=["group"])
    model.fit(split.train, toy.catalog)
    group = toy.catalog.attributes["group"]
    cold = split.cold_items
    scores = model.score(split.test.user, cold, history=split.test_history)
    own = group[cold][None, :] == group[split.test.item][:, None]
    assert scores[own].mean() > scores[~own].mean()


def test_adversarial_term_is_the_loss_at_epsilon_along_each_item_vectors_gradient(
    toy: Dataset, split: Split
) -> None:
    eps, weight = 1e-3, 0.5
    params = {**TINY, "epochs": 2, "dropout": 0.0, "pooling": "attention"}
    model = TwoTower(**params, adv_weight=weight, adv_epsilon=eps).fit(split.train, toy.catalog)
    net = model.module_
    batch = model._batches(split.train, toy.catalog)(0, np.random.default_rng(0))[0]
    parts = model._loss(net, batch)
    table = net.item_vectors()  # [N, D]
    clean = model._in_batch_loss(net, table, batch)
    (grad,) = torch.autograd.grad(clean, table)
    torch.testing.assert_close(parts["main"], clean.detach())
    # each item vector moves by eps along its own gradient: to first order the loss grows by
    # eps * sum_i ||g_i||, the most any per-item step of size eps can add
    gain = eps * grad.norm(dim=1).sum()
    assert float(gain) > 0
    np.testing.assert_allclose(float(parts["adv"] - parts["main"]), float(gain), rtol=0.02)
    torch.testing.assert_close(parts["loss"].detach(), parts["main"] + weight * parts["adv"])


def test_uncertainty_and_save_load(fitted: TwoTower, tmp_path: Path) -> None:
    mean, std = fitted.score_uncertainty([0, 5], n_samples=6, seed=0)
    assert mean.shape == (2, fitted.n_items_) and (std > 0).any()
    path = fitted.save(tmp_path / "tt")
    loaded = Recommender.load(path)
    np.testing.assert_array_equal(loaded.score([0, 5]), fitted.score([0, 5]))
    meta = json.loads((path / "module.json").read_text())
    meta["config"]["hidden"] = 64
    (path / "module.json").write_text(json.dumps(meta))
    write_manifest(path)  # a consistent folder whose parts disagree, not a corrupt file
    with pytest.raises(ConfigError, match=r"hidden=64 in the saved module, but hidden=32"):
        Recommender.load(path)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"pooling": "max"}, r"pooling must be one of \('mean', 'attention'\), got 'max'"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"item_input": "image"}, "item_input must be one of"),
        ({"item_attributes": ["colour"]}, "not a catalogue attribute"),
    ],
)
def test_bad_parameters(params: dict[str, Any], match: str, toy: Dataset, split: Split) -> None:
    with pytest.raises(ConfigError, match=match):
        TwoTower(**{**TINY, **params}).fit(split.train, toy.catalog)
