"""The data model: vocabularies, views, sequences, CSR, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from explorec.data.interactions import Catalog, Dataset, Interactions, Split
from explorec.errors import DataError, UnknownIdError
from explorec.models.base import load_interactions, save_interactions


@pytest.fixture
def small() -> Interactions:
    # user a: x@3, y@1 ; user b: y@2, z@5, y@4 (repeat)
    return Interactions.from_ids(
        ["a", "a", "b", "b", "b"],
        ["x", "y", "y", "z", "y"],
        timestamp=[3, 1, 2, 5, 4],
        rating=[5, 3, 4, 2, 1],
    )


def test_vocabularies_follow_first_appearance(small: Interactions) -> None:
    assert small.user_ids.tolist() == ["a", "b"]
    assert small.item_ids.tolist() == ["x", "y", "z"]
    assert small.user.tolist() == [0, 0, 1, 1, 1]
    assert small.item.tolist() == [0, 1, 1, 2, 1]
    assert (small.n_users, small.n_items, len(small)) == (2, 3, 5)


def test_sequences_are_chronological(small: Interactions) -> None:
    seqs = small.sequences()
    assert seqs[0].tolist() == [1, 0]  # y@1, x@3
    assert seqs[1].tolist() == [1, 1, 2]  # y@2, y@4, z@5


def test_csr_binary_and_weighted(small: Interactions) -> None:
    assert small.to_csr().toarray().tolist() == [[1, 1, 0], [0, 1, 1]]
    weighted = Interactions.from_ids(["a", "a"], ["x", "x"], weight=[2.0, 3.0])
    assert weighted.to_csr(binary=False).toarray().tolist() == [[5.0]]


def test_fixed_vocabulary_keeps_items_without_interactions() -> None:
    data = Interactions.from_ids(["a"], ["y"], item_ids=["x", "y", "z"])
    assert data.n_items == 3
    assert data.item_counts().tolist() == [0, 1, 0]


def test_unknown_id_is_named() -> None:
    with pytest.raises(UnknownIdError, match="unknown item_id 'q'"):
        Interactions.from_ids(["a"], ["q"], item_ids=["x"])
    data = Interactions.from_ids(["a"], ["x"])
    with pytest.raises(UnknownIdError, match="unknown user_id 'nobody'"):
        data.user_index(["nobody"])
    assert data.user_index(["a"]).tolist() == [0]


def test_select_and_concat_share_vocabulary(small: Interactions) -> None:
    first = small.select(small.user == 0)
    second = small.select(small.user == 1)
    both = first.concat(second)
    assert both.same_vocabulary(small)
    assert both.item.tolist() == small.item.tolist()
    other = Interactions.from_ids(["q"], ["x"])
    with pytest.raises(DataError, match="different vocabularies"):
        first.concat(other)


def test_shape_mismatch_is_rejected() -> None:
    with pytest.raises(DataError, match="item has shape"):
        Interactions(
            np.zeros(2, np.int64),
            np.zeros(3, np.int64),
            np.zeros(2),
            np.ones(2, np.float32),
            np.array(["a"], dtype=object),
            np.array(["x"], dtype=object),
        )


def test_npz_round_trip(small: Interactions, tmp_path) -> None:  # type: ignore[no-untyped-def]
    save_interactions(small, tmp_path / "d.npz")
    back = load_interactions(tmp_path / "d.npz")
    assert back.same_vocabulary(small)
    np.testing.assert_array_equal(back.timestamp, small.timestamp)
    assert back.rating is not None and small.rating is not None
    np.testing.assert_array_equal(back.rating, small.rating)


def test_catalog_and_dataset_alignment(small: Interactions) -> None:
    catalog = Catalog(small.item_ids, fields={"title": np.array(["X", "Y", "Z"], dtype=object)})
    assert catalog.field("missing").tolist() == ["", "", ""]
    Dataset("d", small, catalog)
    with pytest.raises(DataError, match="field 'title' has 2 values for 3 items"):
        Catalog(small.item_ids, fields={"title": np.array(["X", "Y"], dtype=object)})
    with pytest.raises(DataError, match="vocabularies differ"):
        Dataset("d", small, Catalog.empty(["x", "y"]))


def test_split_history_is_train_plus_valid(small: Interactions) -> None:
    split = Split(small.select([1, 2]), small.select([0]), small.select([3]))
    assert len(split.test_history) == 3
    assert split.summary()["test_users"] == 1
