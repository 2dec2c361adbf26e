"""The shared re-ranker suite: every registered re-ranker, in its main configurations, on one frame.

Determinism, no duplicates, masked rows never returned, k larger than the pool, and every returned
item keeps its own model score.
"""

from __future__ import annotations

import numpy as np
import pytest

from explorec.rerank import RerankContext, Reranker, parse_rerank_spec
from explorec.rerank.spec import RERANKERS
from explorec.types import CandidateFrame

N_ITEMS = 40
RNG = np.random.default_rng(11)
VECTORS = RNG.normal(size=(N_ITEMS, 6)).astype(np.float32)
CATEGORIES = RNG.random((N_ITEMS, 4)) * (RNG.random((N_ITEMS, 4)) < 0.5)
CONTEXT = RerankContext(
    item_categories=CATEGORIES,
    item_groups=RNG.integers(0, 3, N_ITEMS),
    item_popularity=RNG.integers(0, 100, N_ITEMS).astype(np.float64),
    history=np.array([0, 3, 5, 7]),
)

#: every registered re-ranker, at a weight that changes the order, plus its main options
SPECS = [
    "mmr:0.5",
    "mmr:1.0",
    "dpp:0.5",
    "dpp:0.5:window=3",
    "calibration:0.7",
    "fair:0.4",
    "fair:0.4:exposure=log",
    "pop-debias:1.0",
    "pop-debias:0.5:method=logit",
    "pop-debias:0.5,mmr:0.3",
]


def test_every_registered_reranker_is_in_the_suite() -> None:
    named = {spec.split(":")[0] for s in SPECS for spec in s.split(",")}
    assert named == set(RERANKERS)


def _frame(n: int = 20, masked: tuple[int, ...] = ()) -> CandidateFrame:
    items = np.arange(10, 10 + n)
    scores = np.linspace(2.0, -1.0, n).astype(np.float32)
    if n > 4:
        scores[3] = scores[4]  # a tie
    mask = np.isin(np.arange(n), masked)
    return CandidateFrame(items, scores, mask=mask)


def _run(reranker: Reranker, frame: CandidateFrame, k: int) -> CandidateFrame:
    return reranker.rerank(frame, k, item_vectors=VECTORS, context=CONTEXT)


@pytest.mark.parametrize("spec", SPECS)
def test_deterministic_distinct_and_own_scores(spec: str) -> None:
    frame = _frame()
    first, second = _run(parse_rerank_spec(spec), frame, 8), _run(parse_rerank_spec(spec), frame, 8)
    np.testing.assert_array_equal(first.items, second.items)
    assert len(first) == 8 and len(set(first.items.tolist())) == 8
    own = dict(zip(frame.items.tolist(), frame.scores.tolist(), strict=True))
    assert first.scores.tolist() == [own[i] for i in first.items.tolist()]
    assert first.positions.tolist() == list(range(8))


@pytest.mark.parametrize("spec", SPECS)
def test_masked_rows_are_never_returned(spec: str) -> None:
    masked = (0, 2, 5, 11)
    frame = _frame(masked=masked)
    out = _run(parse_rerank_spec(spec), frame, 20)
    assert not set(out.items.tolist()) & set(frame.items[list(masked)].tolist())
    assert len(out) == 20 - len(masked)


@pytest.mark.parametrize("spec", SPECS)
def test_k_larger_than_the_pool_returns_the_whole_pool(spec: str) -> None:
    frame = _frame(n=6)
    out = _run(parse_rerank_spec(spec), frame, 50)
    assert sorted(out.items.tolist()) == frame.items.tolist()
    empty = _run(parse_rerank_spec(spec), _frame(n=3, masked=(0, 1, 2)), 5)
    assert len(empty) == 0


@pytest.mark.parametrize("spec", SPECS)
def test_weight_zero_keeps_the_input_order(spec: str) -> None:
    stages = [s.split(":") for s in spec.split(",")]
    zero = ",".join(":".join([p[0], "1.0" if p[0] == "fair" else "0", *p[2:]]) for p in stages)
    frame = _frame()
    out = _run(parse_rerank_spec(zero), frame, 8)
    np.testing.assert_array_equal(out.items, frame.in_order().items[:8])
