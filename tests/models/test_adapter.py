from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.data.toy import known_answer_dataset, known_answer_split
from explorec.errors import ConfigError
from explorec.models.adapter import ITEM_TENSORS, AdapterNet, LMAdapter
from explorec.models.base import Recommender
from explorec.persist import write_manifest

FAST: dict[str, Any] = {
    "encoder": "hashing:128",
    "dim": 32,
    "n_layers": 1,
    "epochs": 15,
    "lr": 3e-3,
    "progress": False,
    "num_threads": 1,
}


@pytest.fixture(scope="module")
def fitted() -> LMAdapter:
    split = known_answer_split()
    return LMAdapter(**FAST).fit(split.train, known_answer_dataset().catalog)


def _own_group_first(model: Recommender, data: Dataset, history: Interactions, items: np.ndarray) -> float:
    """Share of users whose best-scored item among ``items`` lies in their own group."""
    scores = model.score(np.arange(history.n_users), items, history=history)
    group = data.catalog.attributes["group"]
    return float(np.mean(group[items[scores.argmax(axis=1)]] == data.user_features["group"]))


def test_cold_items_are_scored_from_text(fitted: LMAdapter) -> None:
    data = known_answer_dataset()
    cold = np.flatnonzero(data.catalog.attributes["cold"])
    assert _own_group_first(fitted, data, known_answer_split().test_history, cold) == 1.0


def test_hybrid_id_embeddings_only_touch_warm_items(fitted: LMAdapter) -> None:
    net = fitted.module_
    assert isinstance(net, AdapterNet)
    split = known_answer_split()
    warm = split.train.item_counts() > 0
    np.testing.assert_array_equal(net.warm.numpy(), warm.astype(np.float32))
    assert net.id_emb.weight[torch.from_numpy(warm)].abs().sum() > 0  # learned for warm items
    before = fitted.score([0, 1], history=split.test_history)
    with torch.no_grad():
        saved = net.id_emb.weight.clone()
        net.id_emb.weight[torch.from_numpy(~warm)] = 5.0  # whatever a cold item's ID row holds ...
        after = fitted.score([0, 1], history=split.test_history)
        net.id_emb.weight.copy_(saved)
    np.testing.assert_allclose(after, before, rtol=1e-6)  # ... it never reaches its score


def test_text_only_and_sampled_softmax_variants_learn() -> None:
    data = known_answer_dataset()
    split = known_answer_split()
    warm_test = split.test.item
    for params in ({"use_id": False}, {"n_negatives": 8}):
        model = LMAdapter(**{**FAST, "epochs": 30, **params}).fit(split.train, data.catalog)
        scores = model.score(split.test.user, history=split.test_history)
        scores[split.test_history.to_csr()[split.test.user].toarray() > 0] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :4]
        hit = np.mean([item in row for item, row in zip(warm_test, top, strict=True)])
        assert hit >= 0.6, (params, hit)  # popularity reaches 0.11 here


def _renamed_target() -> tuple[Dataset, Interactions]:
    """The toy data again with new item ids, other users and another item order: a new 'domain'."""
    src = known_answer_dataset(seed=3)
    order = np.random.default_rng(0).permutation(src.catalog.n_items)
    ids = np.array([f"t-{i}" for i in src.catalog.item_ids[order]], dtype=object)
    fields = {k: v[order] for k, v in src.catalog.fields.items()}
    attributes = {k: v[order] for k, v in src.catalog.attributes.items()}
    new_index = np.argsort(order)
    data = src.interactions
    inter = Interactions.from_arrays(
        data.user, new_index[data.item], user_ids=data.user_ids, item_ids=ids, timestamp=data.timestamp
    )
    return Dataset("target", inter, Catalog(ids, fields, attributes), src.user_features), inter


def test_zero_shot_transfer_keeps_the_head_and_works_from_text(fitted: LMAdapter, tmp_path: Path) -> None:
    target, inter = _renamed_target()
    # only the first two events of each user are known in the target domain
    first_two = inter.select(np.flatnonzero(np.isin(np.arange(len(inter)), _first_k(inter, 2))))
    moved = fitted.transfer(first_two, target.catalog, epochs=0)
    assert moved.epochs == 0 and moved.history_.epochs == []
    source_state, target_state = fitted.module_.state_dict(), moved.module_.state_dict()
    for key, value in source_state.items():
        if key not in (*ITEM_TENSORS, "adapter.bias"):
            torch.testing.assert_close(target_state[key], value)
    # whitening biases keep their offset from the mean text vector of their own catalogue
    torch.testing.assert_close(
        target_state["adapter.bias"] - target_state["text"].mean(0),
        source_state["adapter.bias"] - source_state["text"].mean(0),
    )
    assert not target_state["warm"].any()  # every target item starts cold
    items = np.arange(target.catalog.n_items)
    assert _own_group_first(moved, target, first_two, items) == 1.0
    loaded = Recommender.load(moved.save(tmp_path / "moved"))
    np.testing.assert_array_equal(loaded.score([0, 1]), moved.score([0, 1]))


def test_fine_tuned_transfer_trains_on_target(fitted: LMAdapter) -> None:
    target, inter = _renamed_target()
    tuned = fitted.transfer(inter, target.catalog, epochs=2)
    assert len(tuned.history_.epochs) == 2
    assert tuned.module_.warm.sum() == (inter.item_counts() > 0).sum()  # type: ignore[operator]


def _first_k(data: Interactions, k: int) -> np.ndarray:
    order = data.chronological_order()
    users = data.user[order]
    starts = np.searchsorted(users, users, side="left")
    return order[np.arange(users.size) - starts < k]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"dim": 30, "n_heads": 4}, "divisible"),
        ({"id_dropout": 1.5}, "id_dropout"),
        ({"temperature": 0.0}, "temperature"),
        ({"n_negatives": 0}, "n_negatives"),
        ({"epochs": -1}, "epochs"),
    ],
)
def test_bad_settings_name_the_parameter(params: dict[str, Any], match: str) -> None:
    split = known_answer_split()
    with pytest.raises(ConfigError, match=match):
        LMAdapter(**{**FAST, **params}).fit(split.train, known_answer_dataset().catalog)


def test_needs_the_catalog() -> None:
    with pytest.raises(ConfigError, match="needs the catalog"):
        LMAdapter(**FAST).fit(known_answer_split().train)


def test_a_save_from_before_the_shared_block_still_loads(fitted: LMAdapter, tmp_path: Path) -> None:
    # the adapter's own block (until the blocks were shared) named its tensors like this
    legacy = {
        "ln1": "norm1",
        "attn.qkv": "qkv",
        "attn.out": "out",
        "ln2": "norm2",
        "ffn.0": "ffn.0",
        "ffn.3": "ffn.2",
    }
    path = fitted.save(tmp_path / "m")
    state = torch.load(path / "module.pt", weights_only=True)
    old_state = {}
    for key, value in state.items():
        if key.startswith("blocks.0."):
            rest = key.removeprefix("blocks.0.")
            part, _, param = rest.rpartition(".")
            key = f"blocks.0.{legacy[part]}.{param}"
        old_state[key] = value
    assert "blocks.0.norm1.weight" in old_state and "blocks.0.ffn.2.bias" in old_state
    torch.save(old_state, path / "module.pt")
    write_manifest(path)  # a consistent, sealed folder whose tensors carry the old names
    loaded = Recommender.load(path)
    split = known_answer_split()
    np.testing.assert_array_equal(
        loaded.score([0, 1, 2], history=split.test_history),
        fitted.score([0, 1, 2], history=split.test_history),
    )
