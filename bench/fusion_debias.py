"""Model fusion against its best single component, and popularity debiasing's accuracy cost and tail gain.

Protocol, per dataset (``amazon-scientific``: shipped leave-one-out split; ``movielens-latest-small``:
every rating an interaction, chronological leave-one-out). Every model is fitted on train and
evaluated by full ranking on test with history = train + valid (masked).

**Fusion.** Components: EASE (``l2`` as in ``bench/rerank_tradeoff.py``) and TextKNN (zero-shot
all-MiniLM-L6-v2 text profile). Fusions: weighted (per-user min-max, weight of EASE picked on
valid from a grid), reciprocal rank (k = 60, equal weights), learned (logistic stacking fitted on
the validation interactions with ``LearnedFusion.fit_with_validation``; components fitted on train).
Each fusion is compared with the better component by a paired t-test and Wilcoxon test over per-user
NDCG@10; NDCG@10 is also broken down by history length (cold users have short histories).

**Debiasing.** Inference-time ``PopularityDebias`` (z-score transform) over the base EASE's top
``--debias-candidates`` unseen items at several strengths, and training-time ``EASEIPW`` at several
``eta``. Reported: NDCG@10, Recall@10, coverage@10, Gini@10, ARP@10 and the tail share (share of
recommended items outside the 20 % most popular training items), with a paired test against EASE.

Writes ``bench/results/fusion_debias.json``.

Run:  python bench/fusion_debias.py [--datasets amazon-scientific movielens-latest-small]
"""

from __future__ import annotations

import argparse
import itertools
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
from explorec.data.interactions import Catalog, Split
from explorec.data.registry import load_dataset
from explorec.data.splits import leave_one_out
from explorec.evaluation import EvaluationResult, evaluate, evaluate_topk, paired_test
from explorec.models.base import Recommender
from explorec.models.fusion import LearnedFusion
from explorec.models.registry import make_model
from explorec.rerank import PopularityDebias, RerankContext, apply_rerankers

ROOT = Path(__file__).resolve().parents[1]
EASE_L2 = {"amazon-scientific": 50.0, "movielens-latest-small": 100.0}  # as tuned in rerank_tradeoff
STRENGTHS = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0]
ETAS = [0.0, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0]
WEIGHT_GRID = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
METRICS = ("ndcg@10", "recall@10", "coverage@10", "gini@10", "arp@10", "novelty@10")


def get_split(name: str, data_dir: str) -> tuple[Split, Catalog]:
    data = load_dataset(name, data_dir=data_dir)
    split = data.split if data.split is not None else leave_one_out(data.interactions)
    return split, data.catalog


def tail_share(result: EvaluationResult, tail: np.ndarray) -> float:
    top = result.top_items[:, :10]
    valid = top >= 0
    return float(tail[top[valid]].mean())


def summary(result: EvaluationResult, tail: np.ndarray) -> dict[str, float]:
    out = {m: float(result.metrics[m]) for m in METRICS}
    out["tail_share@10"] = tail_share(result, tail)
    return out


def versus(a: EvaluationResult, b: EvaluationResult) -> dict[str, Any]:
    test = paired_test(a.per_user["ndcg@10"], b.per_user["ndcg@10"])
    return {k: test[k] for k in ("mean_a", "mean_b", "mean_diff", "t_pvalue", "wilcoxon_pvalue", "n")}


def by_history_length(results: dict[str, EvaluationResult], history_len: np.ndarray) -> dict[str, Any]:
    edges = [1, 3, 6, 11, 21, 10**9]
    rows: dict[str, Any] = {}
    for lo, hi in itertools.pairwise(edges):
        label = f"{lo}-{hi - 1}" if hi < 10**9 else f">={lo}"
        any_result = next(iter(results.values()))
        mask = (history_len[any_result.users] >= lo) & (history_len[any_result.users] < hi)
        if mask.sum() == 0:
            continue
        rows[label] = {"users": int(mask.sum())}
        for name, r in results.items():
            rows[label][name] = float(r.per_user["ndcg@10"][mask].mean())
    return rows


def fusion_part(name: str, split: Split, catalog: Catalog, l2: float) -> dict[str, Any]:
    history = split.test_history
    ease_spec = ["ease", {"l2": l2}]
    text_spec = ["textknn", {}]
    results: dict[str, EvaluationResult] = {}
    seconds: dict[str, float] = {}

    def run(label: str, model: Recommender, fit: Any) -> None:
        t0 = time.perf_counter()
        fit(model)
        results[label] = evaluate(model, split.test, history=history, k=(10,))
        seconds[label] = time.perf_counter() - t0
        print(
            f"  {label:<22} ndcg@10 {results[label].metrics['ndcg@10']:.4f}  ({seconds[label]:.0f} s)",
            flush=True,
        )

    run("EASE", make_model("ease", l2=l2), lambda m: m.fit(split.train, catalog))
    run("TextKNN", make_model("textknn"), lambda m: m.fit(split.train, catalog))
    # the weighted fusion's EASE weight, by validation NDCG@10 (fit on train, history = train)
    valid_scores = {}
    for w in WEIGHT_GRID:
        model = make_model("fusion-weighted", components=[ease_spec, text_spec], weights=[w, 1 - w])
        model.fit(split.train, catalog)
        valid_scores[w] = evaluate(model, split.valid, history=split.train, k=(10,)).metrics["ndcg@10"]
    best_w = max(valid_scores, key=lambda w: valid_scores[w])
    print(f"  weighted fusion: EASE weight by valid NDCG@10 {valid_scores} -> {best_w}", flush=True)
    run(
        f"Weighted (w={best_w:g})",
        make_model("fusion-weighted", components=[ease_spec, text_spec], weights=[best_w, 1 - best_w]),
        lambda m: m.fit(split.train, catalog),
    )
    run(
        "RRF",
        make_model("fusion-rrf", components=[ease_spec, text_spec]),
        lambda m: m.fit(split.train, catalog),
    )
    learned = LearnedFusion(components=[ease_spec, text_spec], n_candidates=100)
    run("Learned", learned, lambda m: m.fit_with_validation(split.train, split.valid, catalog))
    coef = dict(zip(learned.feature_names(), learned.coef_.tolist(), strict=True))
    print(
        f"  learned fusion coefficients: {json.dumps({k: round(v, 3) for k, v in coef.items()})}", flush=True
    )

    best_single = max(("EASE", "TextKNN"), key=lambda n: results[n].metrics["ndcg@10"])
    tests = {}
    for label in results:
        if label in ("EASE", "TextKNN"):
            continue
        tests[label] = versus(results[label], results[best_single])
        t = tests[label]
        print(
            f"  {label} vs {best_single}: ndcg@10 {t['mean_a']:.4f} vs {t['mean_b']:.4f} "
            f"({t['mean_diff'] / t['mean_b']:+.1%}), paired t p={t['t_pvalue']:.3g}, "
            f"Wilcoxon p={t['wilcoxon_pvalue']:.3g}",
            flush=True,
        )
    history_len = history.user_counts()
    breakdown = by_history_length(results, history_len)
    for label, row in breakdown.items():
        print(
            f"  history {label:>6}: "
            + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
            flush=True,
        )
    return {
        "components": [ease_spec, text_spec],
        "weighted_valid_grid": valid_scores,
        "metrics": {k: r.metrics for k, r in results.items()},
        "seconds": seconds,
        "best_single": best_single,
        "paired_vs_best_single": tests,
        "learned_coefficients": coef,
        "ndcg_by_history_length": breakdown,
    }


def debias_part(name: str, split: Split, l2: float, n_candidates: int) -> dict[str, Any]:
    history = split.test_history
    counts = split.train.item_counts()
    n_head = int(np.ceil(0.2 * counts.size))
    head = np.zeros(counts.size, dtype=bool)
    head[np.argsort(-counts, kind="stable")[:n_head]] = True
    tail = ~head
    base = make_model("ease", l2=l2).fit(split.train)
    base_result = evaluate(base, split.test, history=history, k=(10,))
    out: dict[str, Any] = {"head_items": n_head, "inference": [], "training": []}

    users = base_result.users
    scores = base.score(users, history=history)
    csr = history.to_csr()[users]
    seen = csr.toarray() > 0
    # the protocol's masking: a test item that is also in the history (a repeat) stays rankable
    row_of = np.full(split.test.n_users, -1)
    row_of[users] = np.arange(users.size)
    seen[row_of[split.test.user], split.test.item] = False
    ctx = RerankContext(item_popularity=counts.astype(np.float64))
    for strength in STRENGTHS:
        t0 = time.perf_counter()
        lists = apply_rerankers(
            scores,
            PopularityDebias(strength=strength),
            10,
            context=ctx,
            masked=seen,
            n_candidates=n_candidates,
        )
        top = np.full((users.size, 10), -1, dtype=np.int64)
        for row, s in enumerate(lists):
            top[row, : len(s)] = s.items
        result = evaluate_topk(top, users, split.test, history=history, k=(10,), n_items=counts.size)
        row = {"strength": strength, **summary(result, tail), "vs_base": versus(result, base_result)}
        row["seconds"] = time.perf_counter() - t0
        out["inference"].append(row)
        print(_line(f"pop-debias {strength:<4g}", row), flush=True)
    for eta in ETAS:
        t0 = time.perf_counter()
        model = make_model("ease-ipw", l2=l2, eta=eta).fit(split.train)
        result = evaluate(model, split.test, history=history, k=(10,))
        row = {"eta": eta, **summary(result, tail), "vs_base": versus(result, base_result)}
        row["seconds"] = time.perf_counter() - t0
        out["training"].append(row)
        print(_line(f"ease-ipw eta {eta:<4g}", row), flush=True)
    return out


def _line(label: str, row: dict[str, Any]) -> str:
    v = row["vs_base"]
    return (
        f"  {label:<20} ndcg@10 {row['ndcg@10']:.4f} "
        f"({v['mean_diff'] / v['mean_b']:+.1%}, p={v['t_pvalue']:.2g})"
        f"  recall {row['recall@10']:.4f}  cov {row['coverage@10']:.4f}  gini {row['gini@10']:.4f}"
        f"  arp {row['arp@10']:.1f}  tail {row['tail_share@10']:.3f}"
    )


def main() -> int:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["amazon-scientific", "movielens-latest-small"])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--debias-candidates", type=int, default=1000)
    parser.add_argument("--skip-fusion", action="store_true")
    parser.add_argument(
        "--append", action="store_true", help="merge into --out (keeps other datasets and parts)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fusion_debias.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = {
        "ease_l2": EASE_L2,
        "pop_debias_strengths": STRENGTHS,
        "pop_debias_method": "zscore",
        "debias_candidates": args.debias_candidates,
        "ipw_etas": ETAS,
        "ipw_min_propensity": 0.05,
        "fusion_components": "EASE + TextKNN (all-MiniLM-L6-v2)",
        "tail": "items outside the 20 % most popular training items",
        "machine": "2-core shared CPU, no GPU (other workers running)",
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print("settings:", json.dumps(settings), flush=True)
    results: dict[str, Any] = {"settings": settings, "datasets": {}}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.append and path.is_file():
        results["datasets"] = json.loads(path.read_text()).get("datasets", {})
    for name in args.datasets:
        t0 = time.perf_counter()
        split, catalog = get_split(name, args.data_dir)
        l2 = EASE_L2.get(name, 250.0)
        print(f"{name}: {split.summary()}", flush=True)
        entry: dict[str, Any] = {**results["datasets"].get(name, {}), "summary": split.summary()}
        if not args.skip_fusion:
            entry["fusion"] = fusion_part(name, split, catalog, l2)
        entry["debias"] = debias_part(name, split, l2, args.debias_candidates)
        entry["wall_seconds"] = time.perf_counter() - t0
        # each dataset its own record: with --append the file mixes runs of several commits
        entry["provenance"] = prov.finish()
        results["datasets"][name] = entry
        results["provenance"] = prov.finish()
        path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
