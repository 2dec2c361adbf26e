"""implicit (ALS, BPR) side by side with explorec's item-kNN and EASE, on the same split, in one run.

``python bench/peers/compare_implicit.py`` (after ``bash bench/peers/install.sh implicit``). For each
dataset of ``bench/baselines.py`` (movielens-100k: random 80/10/10 per user, seed 0; amazon-scientific:
its shipped leave-one-out split), in one invocation:

1. explorec's item-kNN and EASE are tuned on valid NDCG@10 exactly as ``bench/baselines.py`` does
   (its grids and code), then fitted on train and tested with history = train + valid.
2. implicit's ALS and BPR, in their own environment (``worker_implicit.py``), fit on the same train
   rows for every point of a small grid (``GRIDS``); each point's lists for the valid users (history =
   train) and the test users (history = train + valid, filtered) are scored by explorec's metrics
   (``explorec.evaluation.evaluate_topk``). The point with the best valid NDCG@10 is reported on test;
   nothing is picked on test.
3. ``--timing-rounds`` interleaved rounds time the fits of the chosen settings: explorec item-kNN, EASE,
   then implicit ALS, BPR, round after round, one thread each.

Writes ``bench/results/peers_implicit.json`` with the provenance record of ``bench/_provenance.py``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _provenance and baselines
from _common import RESULTS, WORK, K, peer_versions, run_worker, save, score_lists

from _provenance import Provenance
from baselines import DATASETS, load_split, tune
from explorec.data.interactions import Split
from explorec.evaluation import evaluate
from explorec.evaluation.significance import paired_test
from explorec.models.registry import make_model

GRIDS: dict[str, list[dict[str, Any]]] = {
    "als": [
        {"factors": f, "regularization": r, "alpha": a, "iterations": 15}
        for f, r, a in itertools.product((32, 64, 128), (0.01, 0.1, 1.0), (1.0, 10.0))
    ],
    "bpr": [
        {"factors": f, "learning_rate": lr, "regularization": 0.01, "iterations": 100}
        for f, lr in itertools.product((32, 64, 128), (0.003, 0.01))
    ],
}


def write_matrices(path: Path, split: Split) -> dict[str, np.ndarray]:
    """Train matrix and, per part, the users and their history matrix, as CSR parts in one .npz."""
    parts = {
        "train": split.train.to_csr(),
        "valid": split.train.to_csr(),  # valid lists: history = train
        "test": split.test_history.to_csr(),  # test lists: history = train + valid
    }
    users = {"valid": np.unique(split.valid.user), "test": np.unique(split.test.user)}
    arrays: dict[str, np.ndarray] = {}
    for name, m in parts.items():
        arrays |= {f"{name}_data": m.data, f"{name}_indices": m.indices, f"{name}_indptr": m.indptr}
    arrays |= {f"{p}_users": u.astype(np.int64) for p, u in users.items()}
    np.savez(path, **arrays)
    return users


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    label, split, how = load_split(name, args.data_dir or os.environ.get("EXPLOREC_DATA_DIR", ""))
    print(f"\n== {label}: {split.summary()} n_items {split.train.n_items}", flush=True)
    work = WORK / "implicit" / name
    work.mkdir(parents=True, exist_ok=True)
    users = write_matrices(work / "matrices.npz", split)
    out: dict[str, Any] = {"label": label, "split": how, "summary": split.summary(), "runs": {}, "tuning": {}}
    per_user: dict[str, np.ndarray] = {}
    chosen: dict[str, dict[str, Any]] = {}

    for model_name in ("itemknn", "ease"):
        params, trials = tune(model_name, split)
        start = time.perf_counter()
        model = make_model(model_name, **params).fit(split.train)
        fit_s = time.perf_counter() - start
        result = evaluate(model, split.test, history=split.test_history, k=K)
        if not np.array_equal(result.users, users["test"]):
            raise SystemExit(f"{name}: explorec's evaluated users differ from the users handed to implicit")
        per_user[f"explorec-{model_name}"] = np.asarray(result.per_user["ndcg@10"], dtype=np.float64)
        out["tuning"][f"explorec-{model_name}"] = {"grid": trials, "chosen": params}
        out["runs"][f"explorec-{model_name}"] = {
            "library": "explorec",
            "params": params,
            "metrics": {
                k: float(v) for k, v in result.metrics.items() if k.split("@")[0] in ("ndcg", "recall", "mrr")
            },
            "fit_seconds": fit_s,
        }
        chosen[model_name] = params

    configs = [{"model": m, "params": p} for m in ("als", "bpr") for p in GRIDS[m]]
    job = {
        "matrices": str(work / "matrices.npz"),
        "n_users": split.train.n_users,
        "n_items": split.train.n_items,
        "parts": ["valid", "test"],
        "configs": configs,
        "k": max(K),
        "top_prefix": str(work / "top_"),
    }
    res = run_worker("implicit", "worker_implicit.py", job, work / "grid")
    for peer_model in ("als", "bpr"):
        rows = [r for r in res["configs"] if r["model"] == peer_model]
        trials = []
        for r in rows:
            with np.load(r["top"]) as f:
                top_valid, top_test = f["top_valid"], f["top_test"]
            valid_metrics, _ = score_lists(
                f"implicit-{peer_model}", top_valid, users["valid"], split.valid, split.train
            )
            trials.append(
                {"params": r["params"], "valid_ndcg@10": valid_metrics["ndcg@10"], "row": r, "top": top_test}
            )
            print(
                f"  tune implicit-{peer_model} {r['params']} valid ndcg@10 {valid_metrics['ndcg@10']:.4f}",
                flush=True,
            )
        best = max(trials, key=lambda t: t["valid_ndcg@10"])
        metrics, pu = score_lists(
            f"implicit-{peer_model}", best["top"], users["test"], split.test, split.test_history
        )
        key = f"implicit-{peer_model}"
        per_user[key] = pu
        out["tuning"][key] = {
            "grid": [{"params": t["params"], "valid_ndcg@10": t["valid_ndcg@10"]} for t in trials],
            "chosen": best["params"],
        }
        out["runs"][key] = {
            "library": "implicit",
            "params": best["params"],
            "metrics": metrics,
            "fit_seconds": best["row"]["fits"][0]["seconds"],
            "test_recommend_seconds": best["row"]["test_recommend_seconds"],
            "user_factors": "recomputed from train + valid" if peer_model == "als" else "from train only",
        }
        chosen[peer_model] = best["params"]
    for key, run in out["runs"].items():
        print(
            f"  test {key:<18} ndcg@10 {run['metrics']['ndcg@10']:.4f} "
            f"recall@10 {run['metrics']['recall@10']:.4f}"
        )

    # interleaved fit timing of the chosen settings
    timing: dict[str, list[dict[str, float]]] = {k: [] for k in ("itemknn", "ease", "als", "bpr")}
    for _ in range(args.timing_rounds):
        for model_name in ("itemknn", "ease"):
            start, c0 = time.perf_counter(), time.process_time()
            make_model(model_name, **chosen[model_name]).fit(split.train)
            timing[model_name].append(
                {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - c0}
            )
        tjob = {
            **job,
            "configs": [{"model": m, "params": chosen[m]} for m in ("als", "bpr")],
            "timing_only": True,
        }
        tres = run_worker("implicit", "worker_implicit.py", tjob, work / "timing")
        for r in tres["configs"]:
            timing[r["model"]] += r["fits"]
    out["fit_timing"] = {
        m: {
            "median_seconds": statistics.median(t["seconds"] for t in rows),
            "median_cpu_seconds": statistics.median(t["cpu_seconds"] for t in rows),
            "all": rows,
        }
        for m, rows in timing.items()
        if rows
    }
    print("  fit seconds (median):", {m: round(v["median_seconds"], 3) for m, v in out["fit_timing"].items()})
    out["significance"] = {
        f"{a} vs {b}": paired_test(per_user[a], per_user[b])
        for a in per_user
        for b in per_user
        if a.startswith("explorec") and b.startswith("implicit")
    }
    return out


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=None, help="datasets folder (default $EXPLOREC_DATA_DIR)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--timing-rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "peers_implicit.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    prov.add_peer("implicit", peer_versions("implicit", ("implicit", "numpy", "scipy")))
    doc: dict[str, Any] = {
        "settings": {
            "protocol": "full ranking over all items, history masked (test history = train + valid), "
            "explorec.evaluation metrics for both libraries",
            "selection": "grid point with the best valid NDCG@10 (fit on train, history = train)",
            "implicit_grids": GRIDS,
            "args": {k: str(v) for k, v in vars(args).items()},
        },
        "datasets": {},
    }
    for name in args.datasets:
        doc["datasets"][name] = run_dataset(name, args)
        doc["provenance"] = prov.finish()
        save(args.out, doc)
    print(
        json.dumps(
            {
                n: {k: r["metrics"]["ndcg@10"] for k, r in d["runs"].items()}
                for n, d in doc["datasets"].items()
            }
        )
    )


if __name__ == "__main__":
    main()
