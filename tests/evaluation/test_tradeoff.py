"""Trade-off curves: weight 0 is the base ranking, diversity grows with the weight, report embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError
from explorec.evaluation import evaluate_topk
from explorec.evaluation.report import write_report
from explorec.evaluation.tradeoff import (
    TradeoffCurve,
    TradeoffPoint,
    best_operating_point,
    rerank_lists,
    tradeoff_curve,
    tradeoff_figure,
)
from explorec.rerank import DPP, MMR
from explorec.types import ScoredItems

N_USERS, N_ITEMS, K = 30, 40, 5


def _setup() -> tuple[list[ScoredItems], np.ndarray, Interactions, Interactions, np.ndarray]:
    rng = np.random.default_rng(0)
    # items in 4 tight clusters: the base ranking puts one cluster first, so it is not diverse
    centres = rng.normal(size=(4, 8))
    cluster = np.arange(N_ITEMS) % 4
    vectors = (centres[cluster] + 0.1 * rng.normal(size=(N_ITEMS, 8))).astype(np.float32)
    users = np.arange(N_USERS)
    candidates = []
    for u in users:
        scores = rng.normal(size=N_ITEMS) + 3.0 * (cluster == u % 4)
        order = np.argsort(-scores)[:20]
        candidates.append(ScoredItems(order.astype(np.int64), scores[order].astype(np.float32)))
    test_items = np.array([c.items[int(rng.integers(0, 8))] for c in candidates])
    ids = {"user_ids": np.arange(N_USERS), "item_ids": np.arange(N_ITEMS)}
    test = Interactions.from_arrays(users, test_items, **ids)
    history = Interactions.from_arrays(users, (test_items + 1) % N_ITEMS, **ids)
    return candidates, users, test, history, vectors


def test_curve_starts_at_the_base_ranking_and_buys_diversity() -> None:
    candidates, users, test, history, vectors = _setup()
    curve = tradeoff_curve(
        candidates,
        users,
        test,
        history=history,
        make_reranker=lambda w: MMR(diversity=w),
        weights=[0.0, 0.3, 0.7, 1.0],
        name="MMR",
        parameter="diversity",
        k=K,
        item_vectors=vectors,
    )
    base_top = np.stack([c.items[:K] for c in candidates])
    base = evaluate_topk(
        base_top, users, test, history=history, k=(K,), item_vectors=vectors, n_items=N_ITEMS
    )
    assert curve.points[0].metrics == base.metrics
    diversity = curve.values(f"diversity@{K}")
    assert diversity[-1] > diversity[0] + 0.3
    assert np.all(np.diff(diversity) >= -1e-9)
    assert curve.to_dict()["points"][1]["weight"] == 0.3


def test_best_operating_point_hand_made_curve() -> None:
    def point(w: float, ndcg: float, div: float) -> TradeoffPoint:
        return TradeoffPoint(w, {"ndcg@10": ndcg, "diversity@10": div}, 0.0)

    curve = TradeoffCurve("X", "w", [point(0, 0.5, 0.4), point(0.1, 0.495, 0.5), point(0.2, 0.48, 0.7)])
    best = best_operating_point(curve, max_loss=0.02)
    assert best["weight"] == 0.1
    assert best["accuracy_change"] == pytest.approx(-0.01) and best["beyond_change"] == pytest.approx(0.25)
    assert best_operating_point(curve, max_loss=0.05)["weight"] == 0.2
    assert best_operating_point(curve, max_loss=0.0)["weight"] == 0.0


def test_rerank_lists_pads_short_candidate_lists() -> None:
    cands = [ScoredItems(np.array([3, 1]), np.array([1.0, 0.5], dtype=np.float32))]
    top = rerank_lists(cands, DPP(diversity=0.0), 4, item_vectors=np.eye(5, dtype=np.float32))
    assert top.tolist() == [[3, 1, -1, -1]]


def test_figure_goes_into_the_report(tmp_path: Path) -> None:
    candidates, users, test, history, vectors = _setup()
    curves = [
        tradeoff_curve(
            candidates,
            users,
            test,
            history=history,
            make_reranker=make,
            weights=[0.0, 0.5],
            name=name,
            k=K,
            item_vectors=vectors,
        )
        for name, make in (("MMR", lambda w: MMR(diversity=w)), ("DPP", lambda w: DPP(diversity=w)))
    ]
    caption, fig = tradeoff_figure(curves, title="toy")
    assert "ndcg@5" in caption and len(fig.axes) == 4
    base = evaluate_topk(
        np.stack([c.items[:K] for c in candidates]), users, test, history=history, k=(K,), n_items=N_ITEMS
    )
    html = write_report({"base": base}, tmp_path, title="t", extra_figures=[(caption, fig)])
    assert caption.split(":")[0] in html.read_text()
    with pytest.raises(ConfigError, match="at least one curve"):
        tradeoff_figure([])
