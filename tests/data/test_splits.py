"""Splits on hand-made data with known parts, determinism under seeds, and no leakage."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Catalog, Dataset, Interactions, Split
from explorec.data.splits import (
    METHODS,
    catalog_arrival_split,
    cold_item_split,
    describe,
    few_shot_split,
    leave_one_out,
    make_split,
    random_split,
    temporal_split,
)
from explorec.data.synthetic import load_synthetic
from explorec.errors import ConfigError, DataError

# row: (user, item, time); rows are deliberately not in time order
ROWS = [
    ("a", "x", 5),  # 0
    ("a", "y", 1),  # 1
    ("b", "x", 2),  # 2
    ("a", "z", 3),  # 3
    ("c", "y", 1),  # 4
    ("b", "z", 9),  # 5
    ("a", "w", 4),  # 6
    ("b", "y", 4),  # 7
    ("a", "v", 2),  # 8
    ("c", "x", 2),  # 9
]


def _data(rows: list[tuple[str, str, float]] = ROWS) -> Interactions:
    users, items, times = zip(*rows, strict=True)
    return Interactions.from_ids(users, items, timestamp=times)


def _rows(part: Interactions) -> list[tuple[str, str, float]]:
    return [
        (str(part.user_ids[u]), str(part.item_ids[i]), float(t))
        for u, i, t in zip(part.user, part.item, part.timestamp, strict=True)
    ]


def _pick(*rows: int) -> list[tuple[str, str, float]]:
    return [(u, i, float(t)) for u, i, t in (ROWS[r] for r in rows)]


@pytest.fixture(scope="module")
def synthetic() -> Dataset:
    return load_synthetic(n_users=300, n_items=400, n_categories=8, seed=3)


def _assert_partition(split: Split, data: Interactions) -> None:
    """Train, valid and test together hold every row exactly once (up to unused rows)."""
    assert split.train.same_vocabulary(data) and split.test.same_vocabulary(data)
    parts = _rows(split.train) + _rows(split.valid) + _rows(split.test)
    assert len(set(parts)) == len(parts)
    assert set(parts) <= set(_rows(data))


# ---------------------------------------------------------------------------- leave-one-out
def test_leave_one_out_known_parts() -> None:
    split = leave_one_out(_data())
    assert _rows(split.train) == _pick(1, 2, 3, 4, 8, 9)  # c has 2 < 3 rows: all train
    assert _rows(split.valid) == _pick(6, 7)
    assert _rows(split.test) == _pick(0, 5)
    assert split.report["short_users"] == 1 and split.report["short_user_rows"] == 2
    assert describe(split)["test_users"] == 2
    assert split.name == "leave-one-out"


def test_leave_one_out_no_leakage(synthetic: Dataset) -> None:
    data = synthetic.interactions
    split = leave_one_out(data)
    _assert_partition(split, data)
    assert len(split.train) + len(split.valid) + len(split.test) == len(data)
    last_train = np.full(data.n_users, -np.inf)
    np.maximum.at(last_train, split.train.user, split.train.timestamp)
    np.maximum.at(last_train, split.valid.user, split.valid.timestamp)
    assert np.all(split.test.timestamp >= last_train[split.test.user])
    assert np.array_equal(np.bincount(split.test.user, minlength=data.n_users), np.ones(data.n_users))


def test_leave_one_out_errors() -> None:
    with pytest.raises(DataError, match="min_history=6"):
        leave_one_out(_data(), min_history=6)
    with pytest.raises(ConfigError, match="min_history"):
        leave_one_out(_data(), min_history=2)


# ---------------------------------------------------------------------------- temporal
def test_temporal_known_parts_and_ties() -> None:
    # sorted times 1 1 2 2 2 3 4 4 5 9: test starts at 5; valid starts at 4 and takes both rows at 4
    split = temporal_split(_data(), valid_fraction=0.1, test_fraction=0.2)
    assert _rows(split.test) == _pick(0, 5)
    assert _rows(split.valid) == _pick(6, 7)
    assert _rows(split.train) == _pick(1, 2, 3, 4, 8, 9)
    assert split.report["test_start"] == 5.0 and split.report["valid_start"] == 4.0
    assert split.train.timestamp.max() < split.valid.timestamp.min() <= split.test.timestamp.min()


def test_temporal_counts_cold_rows() -> None:
    data = _data([("u1", "i1", 1), ("u1", "i2", 2), ("u2", "i1", 3), ("u3", "i1", 10), ("u1", "i3", 11)])
    split = temporal_split(data, valid_fraction=0.0, test_fraction=0.4)
    assert _rows(split.test) == [("u3", "i1", 10.0), ("u1", "i3", 11.0)]  # both kept
    assert len(split.valid) == 0
    report = describe(split)
    assert report["test_rows_cold_user"] == 1
    assert report["test_rows_cold_item"] == 1
    assert report["test_users_cold"] == 1


def test_temporal_errors() -> None:
    with pytest.raises(ConfigError, match="test_fraction"):
        temporal_split(_data(), test_fraction=0.0)
    with pytest.raises(ConfigError, match="valid_fraction"):
        temporal_split(_data(), valid_fraction=1.5)
    with pytest.raises(ConfigError, match="< 1"):
        temporal_split(_data(), valid_fraction=0.5, test_fraction=0.5)
    with pytest.raises(DataError, match="timestamps"):
        temporal_split(Interactions.from_ids(["a", "b"], ["x", "y"]))
    same_time = _data([("a", "x", 1), ("b", "y", 1), ("c", "z", 1)])
    with pytest.raises(DataError, match="train would be empty"):
        temporal_split(same_time, test_fraction=0.3)


# ---------------------------------------------------------------------------- random
def _lengths(lengths: dict[str, int]) -> Interactions:
    rows = [(u, f"{u}{k}", k) for u, n in lengths.items() for k in range(n)]
    return _data(rows)


def test_random_split_counts_per_user() -> None:
    data = _lengths({"ten": 10, "three": 3, "two": 2, "one": 1})
    split = random_split(data, ratios=(0.8, 0.1, 0.1), seed=0)
    _assert_partition(split, data)
    expected = {"ten": (8, 1, 1), "three": (1, 1, 1), "two": (1, 0, 1), "one": (1, 0, 0)}
    for user_id, counts in expected.items():
        u = int(data.user_index([user_id])[0])
        got = tuple(int((part.user == u).sum()) for part in (split.train, split.valid, split.test))
        assert got == counts, user_id
    assert split.report["train_only_users"] == 1


def test_random_split_deterministic_under_seed(synthetic: Dataset) -> None:
    data = synthetic.interactions
    a, b = random_split(data, seed=7), random_split(data, seed=7)
    c = random_split(data, seed=8)
    for part in ("train", "valid", "test"):
        assert _rows(getattr(a, part)) == _rows(getattr(b, part))
    assert _rows(a.test) != _rows(c.test)
    _assert_partition(a, data)
    assert len(a.train) + len(a.valid) + len(a.test) == len(data)
    # every user with >= 3 rows keeps a training row
    assert np.all(a.train.user_counts()[data.user_counts() >= 3] > 0)


def test_random_split_bad_ratios() -> None:
    for bad in [(0.8, 0.1), (0.8, 0.3, 0.1), (0.9, 0.1, 0.0), (-0.1, 0.6, 0.5), (1.0, 0.0, float("nan"))]:
        with pytest.raises(ConfigError, match="ratios"):
            random_split(_data(), ratios=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- cold items
def test_cold_item_split_holds_items_out(synthetic: Dataset) -> None:
    data = synthetic.interactions
    split = cold_item_split(data, item_fraction=0.2, valid_share=0.5, seed=1)
    _assert_partition(split, data)
    assert len(split.train) + len(split.valid) + len(split.test) == len(data)
    interacted = int((data.item_counts() > 0).sum())
    test_items, valid_items = np.unique(split.test.item), np.unique(split.valid.item)
    assert np.array_equal(split.cold_items, test_items)
    assert test_items.size + valid_items.size == round(0.2 * interacted)
    assert not np.isin(split.train.item, np.concatenate([test_items, valid_items])).any()
    assert not np.intersect1d(test_items, valid_items).size
    # every interaction of a held-out item is in its part
    counts = data.item_counts()
    assert np.array_equal(split.test.item_counts()[test_items], counts[test_items])
    again = cold_item_split(data, item_fraction=0.2, valid_share=0.5, seed=1)
    assert np.array_equal(again.cold_items, split.cold_items)
    assert not np.array_equal(cold_item_split(data, seed=2).cold_items, split.cold_items)


def test_cold_item_split_small_known_counts() -> None:
    split = cold_item_split(_data(), item_fraction=0.4, valid_share=0.5, seed=0)  # 5 items -> 2 held
    assert split.report["valid_cold_items"] == 1 and split.report["test_cold_items"] == 1
    assert split.cold_items.size == 1
    with pytest.raises(DataError, match="rounds to 0"):
        cold_item_split(_data(), item_fraction=0.05)
    with pytest.raises(ConfigError, match="valid_share"):
        cold_item_split(_data(), valid_share=1.0)


def test_catalog_arrival_split_known_parts() -> None:
    data = _data()
    assert list(data.item_ids) == ["x", "y", "z", "w", "v"]  # order of first appearance
    arrival = np.array([0.0, 0.0, 0.0, 10.0, 20.0])  # quantile 0.6 -> 4.0: w and v are new
    dataset = Dataset("t", data, Catalog(data.item_ids, arrival=arrival))
    split = catalog_arrival_split(dataset, cutoff_quantile=0.6, valid_share=0.5)
    assert _rows(split.valid) == _pick(6)  # w arrived first
    assert _rows(split.test) == _pick(8)  # v
    assert [str(split.train.item_ids[i]) for i in split.cold_items] == ["v"]
    assert split.report["arrival_cutoff"] == pytest.approx(4.0)
    with pytest.raises(DataError, match="arrival"):
        catalog_arrival_split(Dataset("t", data, Catalog.empty(data.item_ids)))


def test_catalog_arrival_split_on_synthetic_late_items() -> None:
    dataset = load_synthetic(n_users=300, n_items=400, n_categories=8, cold_item_fraction=0.1, seed=3)
    split = catalog_arrival_split(dataset)
    held = np.union1d(np.unique(split.valid.item), split.cold_items)
    assert held.min() >= 360  # exactly the late-arriving last 10 % of the items
    assert not np.isin(split.train.item, held).any()


# ---------------------------------------------------------------------------- few-shot
def test_few_shot_known_parts() -> None:
    # only a has >= k + 2 = 4 rows; its first 2 by time are train, the 3rd is test, the rest unused
    split = few_shot_split(_data(), k=2, test_user_fraction=1.0, seed=0)
    assert _rows(split.test) == _pick(3)
    assert _rows(split.train) == _pick(1, 2, 4, 5, 7, 8, 9)
    assert len(split.valid) == 0
    assert split.report["unused_rows"] == 2 and split.report["few_shot_users"] == 1


def test_few_shot_deterministic_and_bounded(synthetic: Dataset) -> None:
    data = synthetic.interactions
    split = few_shot_split(data, k=3, test_user_fraction=0.2, seed=5)
    again = few_shot_split(data, k=3, test_user_fraction=0.2, seed=5)
    assert _rows(split.test) == _rows(again.test)
    test_users = np.unique(split.test.user)
    assert test_users.size == round(0.2 * int((data.user_counts() >= 5).sum()))
    assert np.all(split.train.user_counts()[test_users] == 3)
    last_train = np.full(data.n_users, -np.inf)
    np.maximum.at(last_train, split.train.user, split.train.timestamp)
    assert np.all(split.test.timestamp >= last_train[split.test.user])


def test_few_shot_errors() -> None:
    with pytest.raises(ConfigError, match="k must"):
        few_shot_split(_data(), k=0)
    with pytest.raises(ConfigError, match="min_history"):
        few_shot_split(_data(), k=3, min_history=3)
    with pytest.raises(DataError, match="few-shot"):
        few_shot_split(_data(), k=5)


# ---------------------------------------------------------------------------- dispatch
def test_make_split_dispatch(synthetic: Dataset) -> None:
    assert make_split(synthetic, "leave_one_out").name == "leave-one-out"
    assert make_split(synthetic.interactions, "Few-Shot", k=2).name == "few-shot(k=2)"
    with pytest.raises(ConfigError, match="leave-one-out"):
        make_split(synthetic, "kfold")
    with pytest.raises(DataError, match="no predefined split"):
        make_split(synthetic, "predefined")
    with pytest.raises(ConfigError, match="seed"):
        make_split(synthetic, "temporal", seed=1)
    with pytest.raises(ConfigError, match="'k'"):
        make_split(synthetic, "few-shot")
    shipped = leave_one_out(synthetic.interactions)
    with_split = Dataset("s", synthetic.interactions, synthetic.catalog, split=shipped)
    assert make_split(with_split, "predefined") is shipped
    assert set(METHODS) == {
        "auto", "predefined", "leave-one-out", "temporal", "random", "cold-item", "catalog-arrival",
        "few-shot",
    }  # fmt: skip


def test_auto_split_is_random_without_timestamps_and_says_so() -> None:
    # regression: without a clock 'auto' was leave-one-out by id order (Last.fm HetRec)
    from explorec.data.splits import auto_method, make_split

    users = [u for u in "abcd" for _ in range(10)]
    items = [f"i{k}" for k in range(10)] * 4
    clockless = Interactions.from_ids(users, items)
    assert not clockless.has_timestamps
    assert auto_method(clockless)[0] == "random"
    split = make_split(clockless, "auto", seed=1)
    assert split.report["auto"].startswith("random (the interactions have no timestamps")
    assert split.summary() == make_split(clockless, "random", seed=1).summary()
    held_out = split.test.item[np.argsort(split.test.user)]
    loo_last = np.full(4, 9)  # leave-one-out would hold out item i9 of every user
    assert not np.array_equal(held_out, loo_last)
    timed = Interactions.from_ids(users, items, timestamp=np.arange(40.0))
    assert auto_method(timed)[0] == "leave-one-out"
    assert make_split(timed, "auto", seed=1).report["auto"].startswith("leave-one-out")


def test_cli_auto_split_prints_its_choice(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from explorec.cli._common import split_from_args

    users = [u for u in "abc" for _ in range(5)]
    data = Interactions.from_ids(users, [f"i{k}" for k in range(5)] * 3)
    dataset = Dataset("clockless", data, Catalog(data.item_ids))
    args = argparse.Namespace(split="auto", split_param=[], seed=0)
    split = split_from_args(dataset, args)
    assert "split: auto -> random (the interactions have no timestamps" in capsys.readouterr().out
    assert split.report["auto"].startswith("random")
