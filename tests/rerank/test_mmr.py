"""MMR: hand examples with known answers and a naive reference implementation."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from explorec.errors import ConfigError, DataError
from explorec.rerank import MMR, RerankContext
from explorec.types import ScoredItems


def _circle(degrees: list[float]) -> np.ndarray:
    rad = np.deg2rad(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)


def _naive_mmr(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> list[int]:
    rel = (scores - scores.min()) / (scores.max() - scores.min())
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    picked: list[int] = []
    order = np.argsort(-scores, kind="stable")
    for _ in range(k):
        best, best_value = -1, -np.inf
        for i in order:
            if i in picked:
                continue
            penalty = max((float(unit[i] @ unit[j]) for j in picked), default=0.0)
            value = (1 - diversity) * rel[i] - diversity * penalty
            if value > best_value + 1e-12:
                best, best_value = int(i), value
        picked.append(best)
    return picked


def test_zero_diversity_is_top_k_by_score() -> None:
    rng = np.random.default_rng(0)
    items = rng.permutation(50).astype(np.int64)
    scores = rng.normal(size=50).astype(np.float32)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    out = MMR(diversity=0.0).rerank(ScoredItems(items, scores), 10, item_vectors=vectors)
    expected = items[np.argsort(-scores, kind="stable")[:10]]
    np.testing.assert_array_equal(out.items, expected)
    np.testing.assert_array_equal(out.scores, scores[np.argsort(-scores, kind="stable")[:10]])


def test_full_diversity_picks_the_most_dissimilar_item_each_time() -> None:
    # items at 0, 10, 90 and 180 degrees; the best-scored one (0 deg) comes first, then 180 deg
    # (cosine -1), then 90 deg (max cosine to the picks 0) before 10 deg (max cosine 0.985)
    vectors = _circle([0, 10, 90, 180])
    cands = ScoredItems(np.arange(4), np.array([4.0, 3.0, 2.0, 1.0], dtype=np.float32))
    out = MMR(diversity=1.0).rerank(cands, 4, item_vectors=vectors)
    assert out.items.tolist() == [0, 3, 2, 1]


def test_hand_computed_trade_off() -> None:
    # rel = [1, 0.8, 0]; vectors: item 1 nearly parallel to item 0, item 2 orthogonal.
    # step 2 with diversity 0.3: item 1: 0.7*0.8 - 0.3*cos(0,1) = 0.56 - 0.3*0.99995 = 0.26;
    # item 2: 0.7*0 - 0 = 0 -> item 1.  With diversity 0.5: 0.4 - 0.49998 < 0 -> item 2.
    vectors = np.array([[1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    cands = ScoredItems(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.5], dtype=np.float32))
    assert MMR(diversity=0.3).rerank(cands, 2, item_vectors=vectors).items.tolist() == [0, 1]
    assert MMR(diversity=0.5).rerank(cands, 2, item_vectors=vectors).items.tolist() == [0, 2]


@pytest.mark.parametrize("diversity", [0.1, 0.3, 0.6, 0.9])
def test_matches_naive_reference(diversity: float) -> None:
    rng = np.random.default_rng(int(diversity * 10))
    n, k = 40, 10
    vectors = rng.normal(size=(n, 6)).astype(np.float32)
    scores = rng.normal(size=n).astype(np.float32)
    out = MMR(diversity=diversity).rerank(ScoredItems(np.arange(n), scores), k, item_vectors=vectors)
    assert out.items.tolist() == _naive_mmr(
        scores.astype(np.float64), vectors.astype(np.float64), k, diversity
    )
    # each picked item keeps its own score (regression: position t used to get the t-th largest)
    np.testing.assert_array_equal(out.scores, scores[out.items])


def test_deterministic_and_distinct() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(100, 16)).astype(np.float32)
    cands = ScoredItems(rng.permutation(100).astype(np.int64)[:60], rng.normal(size=60).astype(np.float32))
    a = MMR(diversity=0.4).rerank(cands, 20, item_vectors=vectors)
    b = MMR(diversity=0.4).rerank(cands, 20, item_vectors=vectors)
    np.testing.assert_array_equal(a.items, b.items)
    assert np.unique(a.items).size == 20 and set(a.items) <= set(cands.items)


def test_bad_input() -> None:
    cands = ScoredItems(np.array([0, 1]), np.array([1.0, 0.5], dtype=np.float32))
    with pytest.raises(ConfigError, match=r"mmr diversity must lie in \[0.0, 1.0\], got 1.5"):
        MMR(diversity=1.5)
    with pytest.raises(ConfigError, match="needs item_vectors"):
        MMR(diversity=0.5).rerank(cands, 2)
    with pytest.raises(DataError, match="candidate item 1 has no vector"):
        MMR(diversity=0.5).rerank(cands, 2, item_vectors=np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        MMR(diversity=0.5).rerank(cands, 0, item_vectors=np.eye(2, dtype=np.float32))
    inf = ScoredItems(np.array([0, 1]), np.array([1.0, -np.inf], dtype=np.float32))
    with pytest.raises(DataError, match=r"candidate 1 \(item 1\) has score -inf"):
        MMR(diversity=0.5).rerank(inf, 2, item_vectors=np.eye(2, dtype=np.float32))


def test_k_larger_than_candidates_returns_all_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    cands = ScoredItems(np.array([5, 7, 9]), np.array([1.0, 0.5, 0.2], dtype=np.float32))
    with caplog.at_level(logging.INFO, logger="explorec.rerank.base"):
        out = MMR(diversity=0.5).rerank(cands, 10, item_vectors=np.eye(10, dtype=np.float32))
    assert sorted(out.items.tolist()) == [5, 7, 9]
    assert "k=10 but only 3 candidates" in caplog.text


def test_category_fallback_when_no_vectors() -> None:
    # items 0 and 1 share a genre, item 2 has another: full diversity prefers 2 after 0
    ctx = RerankContext(item_categories=np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    cands = ScoredItems(np.array([0, 1, 2]), np.array([1.0, 0.9, 0.1], dtype=np.float32))
    assert MMR(diversity=0.9).rerank(cands, 2, context=ctx).items.tolist() == [0, 2]
