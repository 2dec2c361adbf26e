"""Non-neural baselines (popularity, item-kNN, EASE) by full ranking on two real datasets.

* ``movielens-100k``: every rating is an interaction (implicit feedback, as RecBole's default);
  random per-user 80/10/10 split with seed 0 (``explorec.data.splits.random_split``).
* ``amazon-scientific``: its shipped chronological leave-one-out split.

For each dataset the item-kNN ``k``/``shrinkage`` and EASE ``l2`` are picked from a small grid by
NDCG@10 on the validation part (fit on train, history = train). The chosen model is then fitted on
train and evaluated on test with history = train + valid (masked, and read by the fold-in models).
Wall time = fit + evaluate, median over ``--repeats`` runs. Prints the settings with the numbers and
writes ``bench/results/baselines.json``.

Run: ``python bench/baselines.py [--data-dir /work/shared/datasets] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from _provenance import Provenance
from explorec.data.interactions import Split
from explorec.data.registry import load_dataset
from explorec.data.splits import random_split
from explorec.evaluation import evaluate
from explorec.models.registry import make_model

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("movielens-100k", "amazon-scientific")
METRICS = ("recall@10", "ndcg@10", "mrr@10", "coverage@10")
GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "itemknn": [
        {"k": k, "shrinkage": s, "progress": False}
        for k, s in itertools.product((20, 50, 100, 200, 400), (0.0, 10.0, 50.0, 200.0))
    ],
    "ease": [{"l2": l2} for l2 in (10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0)],
}


def tune(name: str, split: Split) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Grid point with the best validation NDCG@10 (fit on train, history = train)."""
    trials = []
    for params in GRIDS[name]:
        model = make_model(name, **params).fit(split.train)
        result = evaluate(model, split.valid, history=split.train, k=(10,))
        trials.append({"params": params, "valid_ndcg@10": result.metrics["ndcg@10"]})
        print(f"  tune {name:<10} {params!s:<55} valid ndcg@10 {result.metrics['ndcg@10']:.4f}", flush=True)
    best = max(trials, key=lambda t: t["valid_ndcg@10"])
    return dict(best["params"]), trials


def final(name: str, params: dict[str, Any], split: Split, repeats: int) -> dict[str, Any]:
    """Fit on train, evaluate on test (history = train + valid); timings are medians over repeats."""
    history = split.test_history
    fits, evals, walls = [], [], []
    metrics: dict[str, float] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        model = make_model(name, **params).fit(split.train)
        fitted = time.perf_counter()
        result = evaluate(model, split.test, history=history, k=(10,))
        done = time.perf_counter()
        fits.append(fitted - start)
        evals.append(done - fitted)
        walls.append(done - start)
        metrics = {key: float(result.metrics[key]) for key in METRICS}
    return {
        "params": params,
        "metrics": metrics,
        "n_test_users": int(result.users.size),
        "evaluation_settings": result.to_dict()["settings"],
        "fit_seconds": statistics.median(fits),
        "evaluate_seconds": statistics.median(evals),
        "wall_seconds": statistics.median(walls),
    }


def run_dataset(label: str, split: Split, repeats: int) -> dict[str, Any]:
    print(f"\n== {label}: {split.summary()}  n_users={split.train.n_users} n_items={split.train.n_items}")
    out: dict[str, Any] = {"split": split.name, "summary": split.summary(), "n_items": split.train.n_items}
    out["tuning"], out["results"] = {}, {}
    for name in GRIDS:
        params, trials = tune(name, split) if len(GRIDS[name]) > 1 else (GRIDS[name][0], [])
        out["tuning"][name] = {"grid": trials, "chosen": params}
        out["results"][name] = final(name, params, split, repeats)
        row = out["results"][name]
        print(
            f"  test {name:<10} "
            + " ".join(f"{m} {row['metrics'][m]:.4f}" for m in METRICS)
            + f"  fit {row['fit_seconds']:.2f} s + eval {row['evaluate_seconds']:.2f} s",
            flush=True,
        )
    return out


def machine() -> dict[str, Any]:
    return {
        "description": "2-core shared CPU, no GPU (about 7 other workers running; timings are noisy)",
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| dataset | model | chosen params | Recall@10 | NDCG@10 | MRR@10 | Coverage@10 | fit + eval (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, data in results["datasets"].items():
        for name, row in data["results"].items():
            params = ", ".join(f"{k}={v:g}" for k, v in row["params"].items() if k != "progress") or "-"
            m = row["metrics"]
            lines.append(
                f"| {label} | {name} | {params} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} | "
                f"{m['mrr@10']:.4f} | {m['coverage@10']:.4f} | "
                f"{row['fit_seconds']:.2f} + {row['evaluate_seconds']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "baselines.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = {
        "k": 10,
        "protocol": "full ranking over all items, history masked",
        "selection": "grid point with the best valid NDCG@10 (fit on train, history = train)",
        "final": "fit on train; test with history = train + valid",
        "grids": GRIDS,
        "repeats": args.repeats,
        "timing": "median wall seconds of fit and of evaluate over the repeats",
    }
    print("settings:", json.dumps(settings, default=str))
    print("machine:", json.dumps(machine()))
    started = time.perf_counter()
    datasets: dict[str, Any] = {}
    results = {"settings": settings, "machine": machine(), "datasets": datasets}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        label, split, split_settings = load_split(name, args.data_dir)
        datasets[name] = run_dataset(label, split, args.repeats)
        datasets[name]["split_settings"] = split_settings
        results["total_seconds"] = time.perf_counter() - started
        results["provenance"] = prov.finish()
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")  # after each dataset
    print("\n" + markdown(results))
    print(f"\nwrote {out} in {results['total_seconds']:.0f} s")


def load_split(name: str, data_dir: str) -> tuple[str, Split, str]:
    """(label, split, how it was made) for one benchmark dataset."""
    dataset = load_dataset(name, data_dir=data_dir)
    if name == "movielens-100k":
        split = random_split(dataset.interactions, ratios=(0.8, 0.1, 0.1), seed=0)
        how = "random_split(ratios=(0.8, 0.1, 0.1), seed=0); every rating is an interaction"
        return "movielens-100k (random 80/10/10, seed 0)", split, how
    if dataset.split is None:
        raise SystemExit(f"{name} came without its shipped split")
    return f"{name} (shipped split)", dataset.split, "shipped chronological leave-one-out split"


if __name__ == "__main__":
    main()
