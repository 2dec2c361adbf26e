"""The one masking function and top-k (explorec.ranking): tie rule, dtypes, and the validation metric
that lets models avoid importing the evaluation package."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import DataError
from explorec.evaluation import evaluate
from explorec.models.popularity import Popularity
from explorec.ranking import apply_mask, full_ranking_ndcg, mask_matrix, rank_top_k, top_k


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_go_to_the_lower_tiebreak_key_whatever_the_dtype(dtype: type) -> None:
    values = np.array([1.0, 3.0, 3.0, 2.0, 3.0], dtype=dtype)
    assert top_k(values, 2).tolist() == [1, 2]  # three-way tie at the top: lowest positions
    assert top_k(values, 2, tiebreak=[9, 8, 7, 6, 5]).tolist() == [4, 2]  # lowest keys (items)
    assert top_k(values, 10).tolist() == [1, 2, 4, 3, 0]


def test_ties_cut_at_the_kth_place_are_resolved_by_the_rule_in_every_row() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, size=(200, 30)).astype(np.float64)  # many ties everywhere
    tb = rng.permutation(30)
    got = top_k(values, 7, tiebreak=tb)
    want = np.lexsort((np.broadcast_to(tb, values.shape), -values), axis=1)[:, :7]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(top_k(values.astype(np.float32), 7, tiebreak=tb), want)


def test_mask_and_rank_never_return_masked_items() -> None:
    seen = Interactions.from_ids(["a", "a", "b"], ["x", "y", "x"], item_ids=["x", "y", "z", "w"]).to_csr()
    masked = mask_matrix([0, 1], 4, seen=seen, exclude=[3])
    assert masked.tolist() == [[True, True, False, True], [True, False, False, True]]
    scores = apply_mask(np.ones((2, 4)), masked)
    assert rank_top_k(scores, 3).tolist() == [[2, -1, -1], [1, 2, -1]]
    with pytest.raises(DataError, match="NaN"):
        apply_mask(np.array([[0.0, np.nan]]), None)
    with pytest.raises(DataError, match="item index 7"):
        mask_matrix([0], 4, exclude=[7])


def test_validation_ndcg_equals_the_protocol_ndcg() -> None:
    rng = np.random.default_rng(3)
    users = rng.integers(0, 40, 600)
    items = rng.zipf(1.6, 600) % 50
    data = Interactions.from_ids(users.astype(str), items.astype(str))
    test_rows = rng.random(len(data)) < 0.2
    train, test = data.select(~test_rows), data.select(test_rows)
    model = Popularity().fit(train)
    want = evaluate(model, test, history=train, k=(10,)).metrics["ndcg@10"]
    keys = test.user * np.int64(test.n_items) + test.item
    seen = train.select(~np.isin(train.user * np.int64(train.n_items) + train.item, keys)).to_csr()
    got = full_ranking_ndcg(lambda u: model.score(u, history=train), test.user, test.item, seen, 10)
    assert got == pytest.approx(want, rel=1e-9)


def test_models_do_not_import_the_evaluation_package() -> None:
    # regression: torch_base imported explorec.evaluation, which imports models (a cycle)
    code = (
        "import sys, explorec.models.torch_base, explorec.models.registry; "
        "print(any(m.startswith('explorec.evaluation') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
