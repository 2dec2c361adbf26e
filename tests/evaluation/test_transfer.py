from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.data.splits import leave_one_out
from explorec.data.toy import known_answer_dataset
from explorec.errors import ConfigError
from explorec.evaluation.transfer import (
    FitOnTarget,
    TransferFromSource,
    cross_domain,
    few_shot,
    target_rows,
)
from explorec.models.adapter import LMAdapter
from explorec.models.popularity import Popularity
from explorec.models.textknn import TextKNN

ADAPTER: dict[str, Any] = {
    "encoder": "hashing:128",
    "dim": 32,
    "n_layers": 1,
    "epochs": 15,
    "lr": 3e-3,
    "progress": False,
    "num_threads": 1,
}


def test_few_shot_rows_and_text_beats_popularity() -> None:
    data = known_answer_dataset()
    rows = few_shot(
        data,
        {"popularity": Popularity, "textknn": lambda: TextKNN(encoder="hashing:256")},
        ks=(1, 3),
        test_user_fraction=0.5,
    )
    assert [(r.setting["k"], r.model) for r in rows] == [
        (1, "popularity"),
        (1, "textknn"),
        (3, "popularity"),
        (3, "textknn"),
    ]
    # 36 users have 6 >= max(ks) + 2 events: half of them are few-shot users, the same for each k
    assert {r.n_users for r in rows} == {18}
    by = {(r.setting["k"], r.model): r.metrics["hit@10"] for r in rows}
    # one interaction already tells text-kNN the user's group: its 10 best items hold the test item
    assert by[(1, "textknn")] == 1.0
    assert by[(1, "textknn")] > by[(1, "popularity")]
    assert rows[0].to_dict()["protocol"] == "few-shot"


def test_few_shot_needs_ks() -> None:
    with pytest.raises(ConfigError, match="ks"):
        few_shot(known_answer_dataset(), {"p": Popularity}, ks=())


def _target() -> Dataset:
    """The toy data with new item ids and a new item order: another 'domain' with the same topics."""
    src = known_answer_dataset(seed=5)
    order = np.random.default_rng(1).permutation(src.catalog.n_items)
    ids = np.array([f"t-{i}" for i in src.catalog.item_ids[order]], dtype=object)
    catalog = Catalog(
        ids,
        {k: v[order] for k, v in src.catalog.fields.items()},
        {k: v[order] for k, v in src.catalog.attributes.items()},
    )
    data = src.interactions
    inter = Interactions.from_arrays(
        data.user,
        np.argsort(order)[data.item],
        user_ids=data.user_ids,
        item_ids=ids,
        timestamp=data.timestamp,
    )
    return Dataset("toy-target", inter, catalog)


def test_target_rows_share() -> None:
    split = leave_one_out(_target().interactions)
    assert target_rows(split, 0.0) is None
    half = target_rows(split, 0.5, seed=3)
    assert half is not None
    assert np.unique(half.user).size == 18
    with pytest.raises(ConfigError, match="target_share"):
        target_rows(split, 1.5)


def test_cross_domain_zero_shot_and_fine_tuned() -> None:
    source = known_answer_dataset()
    target = _target()
    strategies = {
        "lm-adapter": TransferFromSource(lambda: LMAdapter(**ADAPTER), epochs=2),
        "textknn": FitOnTarget(lambda: TextKNN(encoder="hashing:128")),
        "popularity": FitOnTarget(Popularity),
    }
    rows = cross_domain(source, target, strategies, target_shares=(0.0, 0.5))
    assert len(rows) == 6
    zero = {r.model: r for r in rows if r.setting["target_share"] == 0.0}
    assert zero["lm-adapter"].setting["target_train_rows"] == 0
    assert all(r.setting["target_train_rows"] > 0 for r in rows if r.setting["target_share"] == 0.5)
    # trained on another catalogue, the adapter recommends in this one from text alone
    assert zero["lm-adapter"].metrics["ndcg@10"] > zero["popularity"].metrics["ndcg@10"] + 0.1
    # the source model is fitted once and reused for every share
    assert strategies["lm-adapter"]._source_model is not None


def test_transfer_needs_a_transferable_model() -> None:
    with pytest.raises(ConfigError, match="no transfer"):
        cross_domain(known_answer_dataset(), _target(), {"pop": TransferFromSource(Popularity)})


def test_few_shot_inductive_fits_once_on_the_other_users() -> None:
    fits: list[int] = []

    class Counting(Popularity):
        def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
            fits.append(len(train))
            super()._fit(train, catalog)

    rows = few_shot(known_answer_dataset(), {"pop": Counting}, ks=(1, 3), test_user_fraction=0.5, refit=False)
    assert len(rows) == 2 and all(r.setting["refit"] is False for r in rows)
    assert fits == [18 * 6]  # one fit, on the 18 users who are not few-shot users
