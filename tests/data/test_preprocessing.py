"""Preprocessing steps on hand-made data: exact rows kept, exact counts reported."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Catalog, Dataset, Interactions, Split
from explorec.data.preprocessing import (
    Report,
    binarize,
    chronological,
    compact_vocabularies,
    deduplicate,
    k_core,
    preprocess,
    render,
)
from explorec.errors import ConfigError, DataError


def _ids(data: Interactions) -> list[tuple[str, str]]:
    return [(str(data.user_ids[u]), str(data.item_ids[i])) for u, i in zip(data.user, data.item, strict=True)]


def test_binarize_keeps_high_ratings_and_counts_missing() -> None:
    data = Interactions.from_ids(
        ["a", "a", "b", "c", "c"], ["x", "y", "x", "y", "z"], rating=[5, 3, 4, np.nan, 2]
    )
    out, report = binarize(data, threshold=4.0)
    assert _ids(out) == [("a", "x"), ("b", "x")]
    assert (report.rows_in, report.rows_out, report.rows_removed) == (5, 2, 3)
    assert report.users_removed == 1  # c
    assert report.items_removed == 2  # y, z
    assert "NaN" in report.notes[0]
    assert out.n_users == 3 and out.n_items == 3  # vocabularies kept
    with pytest.raises(DataError, match="no"):
        binarize(Interactions.from_ids(["a"], ["x"]))


def test_deduplicate_keep_first_last_sum() -> None:
    data = Interactions.from_ids(
        ["a", "a", "a", "b", "c", "c"],
        ["x", "x", "x", "y", "z", "z"],
        timestamp=[1, 3, 2, 1, 5, 5],
        weight=[1, 2, 4, 1, 1, 1],
    )
    last, report = deduplicate(data, keep="last")
    assert last.timestamp.tolist() == [3.0, 1.0, 5.0] and last.weight.tolist() == [2.0, 1.0, 1.0]
    assert report.rows_removed == 3 and report.users_removed == 0
    first, _ = deduplicate(data, keep="first")
    assert first.timestamp.tolist() == [1.0, 1.0, 5.0] and first.weight.tolist() == [1.0, 1.0, 1.0]
    summed, _ = deduplicate(data, keep="sum")
    assert summed.timestamp.tolist() == [3.0, 1.0, 5.0] and summed.weight.tolist() == [7.0, 1.0, 2.0]
    # ties in time: "last" keeps the later row, "first" the earlier one (row 4 vs 5 for c-z)
    tie = Interactions.from_ids(["c", "c"], ["z", "z"], timestamp=[5, 5], weight=[1, 3])
    assert deduplicate(tie, keep="last")[0].weight.tolist() == [3.0]
    assert deduplicate(tie, keep="first")[0].weight.tolist() == [1.0]
    with pytest.raises(ConfigError, match="keep"):
        deduplicate(data, keep="max")  # type: ignore[arg-type]


def _kcore_example() -> Interactions:
    # u4 and items i3, i4 fall in pass 1, which leaves u3 with one row; pass 2 removes it.
    pairs = [("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u2", "i2"), ("u3", "i3"), ("u3", "i1"), ("u4", "i4")]
    users, items = zip(*pairs, strict=True)
    return Interactions.from_ids(users, items)


def test_k_core_iterates_until_stable() -> None:
    out, report = k_core(_kcore_example(), user_k=2, item_k=2)
    assert _ids(out) == [("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u2", "i2")]
    assert report.rows_removed == 3  # a single pass would have kept (u3, i1)
    assert report.users_removed == 2 and report.items_removed == 2
    assert report.notes[0].startswith("pass 1: 2 rows")
    assert report.notes[1].startswith("pass 2: 1 rows")
    assert report.notes[-1] == "stable after 2 removal passes"
    assert out.n_users == 4 and out.n_items == 4
    compact, compact_report = k_core(_kcore_example(), user_k=2, item_k=2, compact=True)
    assert list(compact.user_ids) == ["u1", "u2"] and list(compact.item_ids) == ["i1", "i2"]
    assert _ids(compact) == _ids(out)
    assert "compacted" in compact_report.notes[-1]
    with pytest.raises(ConfigError, match="user_k"):
        k_core(_kcore_example(), user_k=0)


def test_chronological_and_compact() -> None:
    data = Interactions.from_ids(["a", "b", "a"], ["x", "y", "z"], timestamp=[3, 1, 2])
    out, report = chronological(data)
    assert out.timestamp.tolist() == [1.0, 2.0, 3.0] and report.rows_removed == 0
    unchanged, compact_report = compact_vocabularies(data)
    assert unchanged.n_items == 3 and "items 3 -> 3" in compact_report.notes[0]


def test_preprocess_dataset_reindexes_catalog_and_drops_split() -> None:
    data = _kcore_example()
    catalog = Catalog(
        data.item_ids,
        fields={"title": np.array(["one", "two", "three", "four"], dtype=object)},
        attributes={"price": np.array([1.0, 2.0, 3.0, 4.0])},
        arrival=np.array([0.0, 1.0, 2.0, 3.0]),
    )
    features = {"age_group": np.array(["18-24", "25-34", "35-44", "55+"], dtype=object)}
    shipped = Split(data.select(np.array([0, 1])), data.select(np.array([2])), data.select(np.array([3])))
    dataset = Dataset("t", data, catalog, user_features=features, split=shipped)
    out, reports = preprocess(
        dataset, steps=["deduplicate", ("k-core", {"user_k": 2, "item_k": 2})], compact=True
    )
    assert isinstance(out, Dataset)
    steps = [r.step.split("(")[0] for r in reports]
    assert steps == ["deduplicate", "k_core", "compact", "drop shipped split"]
    assert list(out.catalog.fields["title"]) == ["one", "two"]
    assert out.catalog.arrival is not None and out.catalog.arrival.tolist() == [0.0, 1.0]
    assert list(out.user_features["age_group"]) == ["18-24", "25-34"]
    assert out.split is None
    text = render(reports)
    assert "k_core(user_k=2, item_k=2): 7 -> 4 rows (3 removed" in text
    assert "2 users and 2 items lost all their rows" in text


def test_preprocess_interactions_and_bad_steps() -> None:
    data = _kcore_example()
    out, reports = preprocess(data, steps=["chronological"])
    assert isinstance(out, Interactions) and len(reports) == 1 and isinstance(reports[0], Report)
    with pytest.raises(ConfigError, match="unknown preprocessing step"):
        preprocess(data, steps=["shuffle"])
    with pytest.raises(ConfigError, match="accepts"):
        preprocess(data, steps=[("k_core", {"k": 3})])
    with pytest.raises(ConfigError, match="name or a"):
        preprocess(data, steps=[3])  # type: ignore[list-item]
