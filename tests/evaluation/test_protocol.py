"""The full-ranking protocol with a model whose scores the test controls."""

from __future__ import annotations

import json
import math

import numpy as np
import numpy.typing as npt
import pytest

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, DataError
from explorec.evaluation import evaluate, evaluate_topk
from explorec.evaluation.protocol import maskable_history, rank_top_k
from explorec.models.base import Recommender
from explorec.pipeline import recommend


class FixedScores(Recommender):
    """Returns rows of a fixed score table (the table is set after ``fit``)."""

    name = "fixed-scores"

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self.table_ = np.zeros((train.n_users, train.n_items), dtype=np.float32)

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        return self.table_[users]


def _data(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Interactions:
    u = np.array([p[0] for p in pairs], dtype=np.int64)
    i = np.array([p[1] for p in pairs], dtype=np.int64)
    return Interactions.from_arrays(
        u, i, user_ids=[f"u{x}" for x in range(n_users)], item_ids=[f"i{x}" for x in range(n_items)]
    )


def _fixed(history: Interactions, table: np.ndarray) -> FixedScores:
    model = FixedScores().fit(history)
    model.table_ = np.asarray(table, dtype=np.float32)
    return model


# 4 users x 6 items. user 3 has no test item and is therefore not evaluated.
HISTORY = _data([(0, 0), (0, 1), (1, 2), (2, 0), (3, 5)], 4, 6)
TEST = _data([(0, 2), (0, 1), (1, 4), (2, 3)], 4, 6)  # (0, 1) is also in the history: a repeat
TABLE = np.array(
    [
        [9, 8, 7, 7, 1, 0],  # u0: item 0 masked; item 1 is a test item so it stays; 2 and 3 tie -> 2 first
        [1, 1, 1, 1, 1, 1],  # u1: all tied; item 2 masked -> 0, 1, 3
        [-0.0, 0.0, -1, 2, 0.0, -0.0],  # u2: item 0 masked -> 3, then the zeros 1, 4 (-0.0 == 0.0)
        [0, 0, 0, 0, 0, 0],
    ],
    dtype=np.float32,
)


def test_masking_ties_and_known_metrics() -> None:
    model = _fixed(HISTORY, TABLE)
    result = evaluate(model, TEST, history=HISTORY, k=3)
    assert result.users.tolist() == [0, 1, 2]
    assert result.top_items.tolist() == [[1, 2, 3], [0, 1, 3], [3, 1, 4]]
    assert result.settings["test_pairs_in_history"] == 1
    assert result.settings["masked_history_pairs"] == 4
    # u0: both test items (1, 2) at ranks 1-2; u1: item 4 not in its top 3; u2: item 3 at rank 1
    assert result.per_user["recall@3"].tolist() == [1, 0, 1]
    assert result.per_user["precision@3"].tolist() == pytest.approx([2 / 3, 0, 1 / 3])
    assert result.per_user["ndcg@3"].tolist() == pytest.approx([1, 0, 1])
    assert result.per_user["mrr@3"].tolist() == [1, 0, 1]
    assert result.metrics["hit@3"] == pytest.approx(2 / 3)
    # coverage@3: items {0, 1, 2, 3, 4} of 6
    assert result.metrics["coverage@3"] == pytest.approx(5 / 6)
    # popularity from the history: item0 2 users, item1 1, item2 1, item3 0, item4 0, item5 1; 4 users
    # u0 ARP (1 + 1 + 0) / 3
    assert result.per_user["arp@3"][0] == pytest.approx(2 / 3)
    # u0 novelty: -log2(1/4) for items 1, 2 and 3 (pop 0 floored to 1) -> 2
    assert result.per_user["novelty@3"][0] == pytest.approx(2.0)
    assert "diversity@3" not in result.metrics


def test_fewer_rankable_items_than_k_pads_with_minus_one() -> None:
    history = _data([(0, 0), (0, 1)], 1, 3)
    test = _data([(0, 2)], 1, 3)
    result = evaluate(_fixed(history, np.array([[3, 2, 1]])), test, history=history, k=3)
    assert result.top_items.tolist() == [[2, -1, -1]]
    assert result.metrics["precision@3"] == pytest.approx(1 / 3)
    assert result.metrics["coverage@3"] == pytest.approx(1 / 3)


def _random_problem(seed: int = 0) -> tuple[Interactions, Interactions, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_users, n_items = 50, 40
    hist = [(u, i) for u in range(n_users) for i in rng.choice(n_items, rng.integers(0, 8), replace=False)]
    test = [(u, int(i)) for u in range(0, n_users, 2) for i in rng.choice(n_items, rng.integers(1, 4))]
    table = rng.integers(0, 5, size=(n_users, n_items)).astype(np.float32)  # many ties
    return _data(hist, n_users, n_items), _data(test, n_users, n_items), table


def test_batching_matches_unbatched_and_a_brute_force_ranking() -> None:
    history, test, table = _random_problem()
    model = _fixed(history, table)
    one = evaluate(model, test, history=history, k=(5, 10), batch_size=1)
    big = evaluate(model, test, history=history, k=(5, 10), batch_size=512)
    np.testing.assert_array_equal(one.top_items, big.top_items)
    assert one.metrics == big.metrics
    hist_sets: list[set[int]] = [set() for _ in range(history.n_users)]
    for u, i in zip(history.user, history.item, strict=True):
        hist_sets[u].add(int(i))
    test_sets: list[set[int]] = [set() for _ in range(test.n_users)]
    for u, i in zip(test.user, test.item, strict=True):
        test_sets[u].add(int(i))
    for row, user in enumerate(one.users):
        masked = hist_sets[user] - test_sets[user]
        order = sorted(
            (i for i in range(test.n_items) if i not in masked), key=lambda i: (-table[user, i], i)
        )
        assert one.top_items[row].tolist() == order[:10]
    assert set(one.users.tolist()) == {u for u in range(50) if test_sets[u]}


@pytest.mark.parametrize("kind", ["continuous", "ties", "masked"])
def test_rank_top_k_matches_a_reference_sort(kind: str) -> None:
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((30, 25)).astype(np.float32)
    if kind == "ties":  # few distinct values: the k-th score is tied beyond the cut in most rows
        scores = np.round(scores).astype(np.float32)
    if kind == "masked":  # some rows keep fewer than k items above -inf
        scores[rng.random(scores.shape) < 0.7] = -np.inf
    items = rng.permuted(np.tile(np.arange(25), (30, 1)), axis=1)  # candidates in arbitrary order
    for k in (1, 7, 25, 30):
        top = rank_top_k(scores, k, items=items)
        for row in range(30):
            ranked = sorted(
                (int(i), float(v)) for i, v in zip(items[row], scores[row], strict=True) if v > -np.inf
            )
            expected = [i for i, _ in sorted(ranked, key=lambda p: (-p[1], p[0]))][:k]
            assert top[row].tolist() == expected + [-1] * (k - len(expected))


def test_rank_top_k_orders_infinities_and_negatives() -> None:
    scores = np.array([[-np.inf, -5.0, np.inf, -0.5, 3.0]], dtype=np.float32)
    assert rank_top_k(scores, 5).tolist() == [[2, 4, 3, 1, -1]]
    with pytest.raises(DataError, match="NaN"):
        rank_top_k(np.array([[0.0, np.nan]], dtype=np.float32), 1)


def test_item_vectors_add_diversity() -> None:
    model = _fixed(HISTORY, TABLE)
    vectors = np.eye(6, dtype=np.float32)  # orthogonal: every pair has 1 - cos = 1
    result = evaluate(model, TEST, history=HISTORY, k=3, item_vectors=vectors)
    assert result.metrics["diversity@3"] == pytest.approx(1.0)
    cats = np.array([0, 0, 0, 1, 1, 1])
    # u0 [1, 2, 3] -> 0 0 1: 2 of 3 pairs differ; u1 [0, 1, 3]: 2/3; u2 [3, 1, 4] -> 1 0 1: 2/3
    result = evaluate(model, TEST, history=HISTORY, k=3, item_vectors=cats)
    assert result.metrics["diversity@3"] == pytest.approx(2 / 3)


def test_sampled_metrics_are_labelled_and_never_mixed() -> None:
    history, test, table = _random_problem(1)
    # plant the answer: every test item scores above everything else
    planted = table.copy()
    planted[test.user, test.item] = 100.0
    model = _fixed(history, planted)
    result = evaluate(model, test, history=history, k=(1, 5), sampled_negatives=5, seed=3)
    assert result.sampled and result.settings["sampled"]
    assert all(key.startswith("sampled5:") for key in result.metrics)
    assert all(key.startswith("sampled5:") for key in result.per_user)
    assert "sampled5:coverage@5" not in result.metrics
    assert result.metrics["sampled5:hit@1"] == 1.0
    assert result.metrics["sampled5:recall@5"] == 1.0
    assert "SAMPLED METRICS" in result.table()
    # the negatives are never items the user interacted with
    seen = {(int(u), int(i)) for u, i in zip(history.user, history.item, strict=True)}
    tested = {(int(u), int(i)) for u, i in zip(test.user, test.item, strict=True)}
    for row, user in enumerate(result.users):
        for item in result.top_items[row]:
            if item >= 0 and (user, item) not in tested:
                assert (user, item) not in seen
    # seeded, and independent of the batch size
    again = evaluate(model, test, history=history, k=(1, 5), sampled_negatives=5, seed=3, batch_size=1)
    np.testing.assert_array_equal(again.top_items, result.top_items)
    other = evaluate(model, test, history=history, k=(1, 5), sampled_negatives=5, seed=4)
    assert not np.array_equal(other.top_items, result.top_items)
    full = evaluate(model, test, history=history, k=(1, 5))
    assert not full.sampled and "FULL RANKING" in full.table() and "SAMPLED" not in full.table()


def test_sampled_negatives_need_enough_unseen_items() -> None:
    history = _data([(0, 0), (0, 1)], 1, 4)
    test = _data([(0, 2)], 1, 4)
    with pytest.raises(DataError, match="leaving only 1 to sample from"):
        evaluate(_fixed(history, np.zeros((1, 4))), test, history=history, k=1, sampled_negatives=2)


@pytest.mark.parametrize("k", [0, -1, (10, 0), ()])
def test_bad_k_raises_config_error_naming_k(k: object) -> None:
    with pytest.raises(ConfigError, match="k"):
        evaluate(_fixed(HISTORY, TABLE), TEST, history=HISTORY, k=k)  # type: ignore[arg-type]


def test_data_errors() -> None:
    model = _fixed(HISTORY, TABLE)
    with pytest.raises(DataError, match="empty"):
        evaluate(model, TEST.select(np.zeros(len(TEST), dtype=bool)), history=HISTORY)
    other = _data([(0, 0)], 4, 7)
    with pytest.raises(DataError, match=r"6 items.*7|7.*6 items"):
        evaluate(model, other, history=other, k=3)
    with pytest.raises(DataError, match="no test interaction"):
        evaluate(model, TEST, history=HISTORY, k=3, users=[0, 3])
    with pytest.raises(ConfigError, match="k=7 exceeds the number of items"):
        evaluate(model, TEST, history=HISTORY, k=7)


def test_evaluate_topk_matches_evaluate() -> None:
    history, test, table = _random_problem(2)
    model = _fixed(history, table)
    full = evaluate(model, test, history=history, k=(3, 10))
    again = evaluate_topk(full.top_items, full.users, test, history=history, k=(3, 10), n_items=40)
    assert again.metrics == full.metrics
    assert again.table().startswith("PRECOMPUTED LISTS over 40 items")
    dup = full.top_items.copy()
    dup[0, 1] = dup[0, 0]
    with pytest.raises(DataError, match="more than once"):
        evaluate_topk(dup, full.users, test, history=history, k=3, n_items=40)
    with pytest.raises(DataError, match="n_items=41"):
        evaluate_topk(full.top_items, full.users, test, history=history, n_items=41)


def test_result_serialises() -> None:
    result = evaluate(_fixed(HISTORY, TABLE), TEST, history=HISTORY, k=(1, 3))
    payload = json.loads(json.dumps(result.to_dict(per_user=True)))
    assert payload["metrics"]["ndcg@3"] == pytest.approx(result.metrics["ndcg@3"])
    assert payload["settings"]["k"] == [1, 3]
    assert len(payload["per_user"]["ndcg@1"]) == 3
    table = result.table().splitlines()
    assert table[1].split() == ["metric", "@1", "@3"]
    assert any(line.startswith("ndcg") for line in table)
    assert all(not math.isnan(v) for v in result.metrics.values())


def test_maskable_history_keeps_repeat_test_pairs() -> None:
    kept = maskable_history(HISTORY, TEST)
    pairs = sorted(zip(kept.user.tolist(), kept.item.tolist(), strict=True))
    assert pairs == [(0, 0), (1, 2), (2, 0), (3, 5)]  # (0, 1) is a test pair: not masked
    with pytest.raises(DataError, match="3 users x 6 items"):
        maskable_history(HISTORY, _data([(0, 1)], 3, 6))


def test_pipeline_with_protocol_mask_ranks_like_evaluate() -> None:
    """``recommend(..., seen=maskable_history)`` gives evaluate's lists, repeats included."""
    history, test, table = _random_problem(3)
    repeats = [(int(u), int(i)) for u, i in zip(history.user[:6], history.item[:6], strict=True)]
    test = test.concat(_data(repeats, history.n_users, history.n_items))
    model = _fixed(history, table)
    full = evaluate(model, test, history=history, k=5)
    assert full.settings["test_pairs_in_history"] >= 1
    slates = recommend(model, full.users, k=5, history=history, seen=maskable_history(history, test))
    assert np.array_equal(np.stack([s.items for s in slates]), full.top_items)
    # masking the whole history instead loses the repeats
    plain = recommend(model, full.users, k=5, history=history)
    assert not np.array_equal(np.stack([s.items for s in plain]), full.top_items)
    with pytest.raises(ConfigError, match="seen has 3 users"):
        recommend(model, full.users, k=5, history=history, seen=_data([(0, 1)], 3, 40))
