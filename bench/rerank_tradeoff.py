"""Accuracy against diversity / coverage / novelty / exposure Gini for MMR and DPP (plus calibration and
exposure fairness) on real data.

Protocol, per dataset:

* ``movielens-latest-small``: every rating is an interaction; chronological leave-one-out
  (``explorec.data.splits.leave_one_out``: last item -> test, second-last -> valid). Its 610 test
  items make NDCG@10 noisy (a 2 % change is about one hit), so ``movielens-latest-small:random``
  adds a random per-user 80/10/10 split (seed 0; about 10,000 test interactions).
  ``amazon-scientific``: its shipped leave-one-out split.
* Base model: EASE, ``l2`` picked from a small grid by validation NDCG@10 (fit on train, history =
  train), then fitted on train; test users are scored with history = train + valid (masked).
* Candidates: each test user's top ``--candidates`` (200) unseen items by EASE score.
* Item vectors: all-MiniLM-L6-v2 embeddings of the item text (``explorec.encoders.item_vectors``;
  cached). They drive MMR/DPP and the intra-list-diversity metric (ILD = mean pairwise 1 - cosine).
* Each re-ranker weight is swept; lists are scored with ``explorec.evaluation.evaluate_topk``
  (NDCG@10, ILD@10, coverage@10, novelty@10, Gini@10). Weight 0 is the EASE top-10 itself.
* The best operating point is the largest ILD gain whose NDCG@10 loss is at most 2 % (relative),
  with a paired t-test / Wilcoxon of per-user NDCG@10 against the base.

Writes ``bench/results/rerank_tradeoff.json`` and ``docs/benchmarks/diversity_<dataset>.png``.

Run:  python bench/rerank_tradeoff.py [--datasets movielens-latest-small amazon-scientific]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance
from explorec.data.interactions import Split
from explorec.data.registry import load_dataset
from explorec.data.splits import leave_one_out, random_split
from explorec.encoders import item_vectors
from explorec.evaluation import evaluate, paired_test
from explorec.evaluation.tradeoff import (
    TradeoffCurve,
    best_operating_point,
    rerank_lists,
    save_figure,
    tradeoff_curve,
    tradeoff_figure,
)
from explorec.models.registry import make_model
from explorec.rerank import DPP, MMR, Calibration, FairExposure, RerankContext, top_candidates
from explorec.rerank.calibration import kl_calibration, user_distribution

ROOT = Path(__file__).resolve().parents[1]
MMR_WEIGHTS = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 0.9]
DPP_WEIGHTS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0]
CAL_WEIGHTS = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]
FAIR_SHARES = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3]
EASE_GRID = {
    "movielens-latest-small": [100.0, 250.0, 500.0, 1000.0],
    "amazon-scientific": [25.0, 50.0, 100.0],
}


def get_split(name: str, data_dir: str | None) -> tuple[Any, Split, str]:
    """``NAME`` (shipped split, else chronological leave-one-out) or ``NAME:random`` (80/10/10 per user)."""
    dataset, _, method = name.partition(":")
    data = load_dataset(dataset, data_dir=data_dir)
    if method == "random":
        return data, random_split(data.interactions, seed=0), "random 80/10/10 per user, seed 0"
    if data.split is not None:
        return data, data.split, "shipped leave-one-out"
    return data, leave_one_out(data.interactions), "chronological leave-one-out"


def fit_base(name: str, split: Split) -> tuple[Any, float, list[dict[str, float]]]:
    trials = []
    for l2 in EASE_GRID.get(name.partition(":")[0], [250.0]):
        model = make_model("ease", l2=l2).fit(split.train)
        ndcg = evaluate(model, split.valid, history=split.train, k=(10,)).metrics["ndcg@10"]
        trials.append({"l2": l2, "valid_ndcg@10": ndcg})
        print(f"  EASE l2={l2:g}: valid ndcg@10 {ndcg:.4f}", flush=True)
    best = max(trials, key=lambda t: t["valid_ndcg@10"])["l2"]
    return make_model("ease", l2=best).fit(split.train), best, trials


def miscalibration(top: np.ndarray, histories: list[np.ndarray], categories: Any) -> float:
    """Mean Steck C_KL between each user's history and top-list category distributions."""
    values = []
    for row, hist in zip(top, histories, strict=True):
        p = user_distribution(hist, categories)
        q = user_distribution(row[row >= 0], categories)
        if p is None or q is None:
            continue
        values.append(float(kl_calibration(p, q)))
    return float(np.mean(values))


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    data, split, split_name = get_split(name, args.data_dir)
    print(f"{name}: {split.summary()} ({split_name})", flush=True)
    model, l2, trials = fit_base(name, split)
    history = split.test_history
    users = np.unique(split.test.user)
    vectors = item_vectors(data.catalog)
    scores = model.score(users, history=history)
    csr = history.to_csr()[users]
    seen = np.zeros(scores.shape, dtype=bool)
    seen[np.repeat(np.arange(users.size), np.diff(csr.indptr)), csr.indices] = True
    histories = [csr.indices[csr.indptr[r] : csr.indptr[r + 1]] for r in range(users.size)]
    # the protocol's masking: a test item that is also in the history (a repeat) stays rankable
    row_of = np.full(split.test.n_users, -1)
    row_of[users] = np.arange(users.size)
    seen[row_of[split.test.user], split.test.item] = False
    candidates = top_candidates(scores, args.candidates, masked=seen)
    full = evaluate(model, split.test, history=history, k=(10,), item_vectors=vectors)
    print(f"  base EASE(l2={l2:g}) full ranking: {json.dumps(full.metrics)}", flush=True)

    common: dict[str, Any] = {"k": 10, "item_vectors": vectors, "keep_per_user": True}
    curves: list[TradeoffCurve] = []
    for label, make, weights in (
        ("MMR", lambda w: MMR(diversity=w), MMR_WEIGHTS),
        ("DPP", lambda w: DPP(diversity=w), DPP_WEIGHTS),
    ):
        curve = tradeoff_curve(
            candidates,
            users,
            split.test,
            history=history,
            make_reranker=make,
            weights=weights,
            name=label,
            parameter="diversity",
            **common,
        )
        curves.append(curve)
        for p in curve.points:
            m = p.metrics
            print(
                f"  {label} {p.weight:<5g} ndcg@10 {m['ndcg@10']:.4f}  ILD {m['diversity@10']:.4f}  "
                f"cov {m['coverage@10']:.4f}  nov {m['novelty@10']:.3f}  gini {m['gini@10']:.4f}  "
                f"({p.seconds:.1f} s)",
                flush=True,
            )
    assert np.isclose(curves[0].points[0].metrics["ndcg@10"], full.metrics["ndcg@10"]), "weight 0 != base"

    out: dict[str, Any] = {
        "split": split_name,
        "summary": split.summary(),
        "n_items": int(split.train.n_items),
        "n_test_users": int(users.size),
        "base": {"model": "ease", "l2": l2, "tuning": trials, "full_ranking": full.metrics},
        "curves": [c.to_dict() for c in curves],
        "best": {},
    }
    for curve in curves:
        base_ndcg = curve.points[0].per_user["ndcg@10"]
        for max_loss in (0.02, 0.05):
            best = best_operating_point(curve, max_loss=max_loss)
            point = next(p for p in curve.points if p.weight == best["weight"])
            test = paired_test(point.per_user["ndcg@10"], base_ndcg)
            best.update(
                coverage=point.metrics["coverage@10"],
                coverage_base=curve.points[0].metrics["coverage@10"],
                ndcg_t_pvalue=test["t_pvalue"],
                ndcg_wilcoxon_pvalue=test["wilcoxon_pvalue"],
            )
            out["best"][f"{curve.name}@loss<={max_loss}"] = best
            print(
                f"  best {curve.name} (NDCG loss <= {max_loss:.0%}): weight {best['weight']:g}, "
                f"ILD {best['beyond_change']:+.1%}, NDCG {best['accuracy_change']:+.2%} "
                f"(paired t p={test['t_pvalue']:.3g}), coverage {best['coverage_base']:.4f} -> "
                f"{best['coverage']:.4f}",
                flush=True,
            )

    # calibration (genres) and exposure fairness (popularity buckets)
    ctx = RerankContext.from_data(split.train, data.catalog, n_popularity_buckets=3)
    extra: list[TradeoffCurve] = []
    if ctx.item_categories is not None:
        cal = tradeoff_curve(
            candidates,
            users,
            split.test,
            history=history,
            make_reranker=lambda w: Calibration(weight=w),
            weights=CAL_WEIGHTS,
            name="Calibration",
            parameter="lambda",
            context=ctx,
            histories=histories,
            **common,
        )
        for p in cal.points:
            top = rerank_lists(candidates, Calibration(weight=p.weight), 10, context=ctx, histories=histories)
            p.metrics["miscalibration@10"] = miscalibration(top, histories, ctx.item_categories)
            print(
                f"  Calibration {p.weight:<4g} ndcg@10 {p.metrics['ndcg@10']:.4f}  "
                f"C_KL {p.metrics['miscalibration@10']:.4f}  ILD {p.metrics['diversity@10']:.4f}",
                flush=True,
            )
        extra.append(cal)
    fair = tradeoff_curve(
        candidates,
        users,
        split.test,
        history=history,
        make_reranker=lambda w: FairExposure(max_share=w),
        weights=FAIR_SHARES,
        name="Fair exposure (3 popularity buckets)",
        parameter="max_share",
        context=ctx,
        **common,
    )
    assert ctx.item_groups is not None
    for p in fair.points:
        top = rerank_lists(candidates, FairExposure(max_share=p.weight), 10, context=ctx)
        head = ctx.item_groups[top[top >= 0]] == 0
        p.metrics["head_share@10"] = float(head.mean())
        print(
            f"  Fair max_share {p.weight:<4g} ndcg@10 {p.metrics['ndcg@10']:.4f}  head share "
            f"{p.metrics['head_share@10']:.3f}  gini {p.metrics['gini@10']:.4f}  "
            f"cov {p.metrics['coverage@10']:.4f}",
            flush=True,
        )
    extra.append(fair)
    out["calibration_fairness"] = [c.to_dict() for c in extra]

    caption, fig = tradeoff_figure(curves, title=f"{name}: EASE top-{args.candidates} re-ranked")
    png = ROOT / "docs" / "benchmarks" / f"diversity_{name.replace(':', '_')}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, png, dpi=args.dpi)
    out["figure"] = str(png.relative_to(ROOT))
    out["figure_caption"] = caption
    out["wall_seconds"] = time.perf_counter() - started
    print(f"  wrote {png} ({png.stat().st_size // 1024} KiB); {out['wall_seconds']:.0f} s", flush=True)
    return out


def main() -> int:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["amazon-scientific", "movielens-latest-small", "movielens-latest-small:random"],
    )
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--dpi", type=int, default=70)
    parser.add_argument("--append", action="store_true", help="keep other datasets already in --out")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "rerank_tradeoff.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = {
        "candidates": args.candidates,
        "k": 10,
        "base": "EASE (l2 by valid NDCG@10)",
        "vectors": "all-MiniLM-L6-v2 item text embeddings (explorec.encoders.item_vectors)",
        "mmr_weights": MMR_WEIGHTS,
        "dpp_weights": DPP_WEIGHTS,
        "machine": "2-core shared CPU, no GPU (other workers running)",
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print("settings:", json.dumps(settings), flush=True)
    path = Path(args.out)
    results: dict[str, Any] = {"settings": settings, "datasets": {}}
    if args.append and path.is_file():
        results["datasets"] = json.loads(path.read_text()).get("datasets", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        # each dataset its own record: with --append the file mixes runs of several commits
        results["datasets"][name] = {**run_dataset(name, args), "provenance": prov.finish()}
        results["provenance"] = prov.finish()
        path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
