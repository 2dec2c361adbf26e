"""Exploration policies in the online-loop simulator on MovieLens latest-small and Amazon Scientific.

For each dataset and seed: a ground-truth click model is fitted on all interactions of the 1000 most
popular items (rank-32 SVD, per-user standardised, calibrated to a mean CTR of 1% and 30% for each
user's 10 best items); 20% of those items are held back and released over the first half of the
horizon; the recommender (fold-in PureSVD, refitted every 250 steps on what it knows plus the clicks
it caused) starts from the earliest half of each user's interactions with the other items; one user
per step sees a slate of 10 with position bias ``(j + 1) ** -0.5``. Policies get the recommender's
100 best-scored candidates plus the 20 newest items; linear policies get features from the
language-model item vectors (all-MiniLM-L6-v2 over the item text, PCA to 16 dims).

Policy settings were chosen on seed 100 (not reported); the numbers come from seeds 0..S-1.

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/simulate.py [--data-dir DIR] [--steps 3000] [--seeds 3]
Writes bench/results/simulate.json and bench/results/simulate_<dataset>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from _provenance import Provenance
from explorec.cli.simulate import format_table, summarise
from explorec.data.registry import load_dataset
from explorec.encoders import item_vectors
from explorec.evaluation.simulator import Simulator, plot_results, simulation_policy

DATASETS = ("movielens-latest-small", "amazon-scientific")
POLICIES = ("oracle", "greedy", "eps-greedy", "ucb", "ts", "lints", "linucb", "linucb-hybrid", "budget")


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "../shared/datasets"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    names = args.policies.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    start = time.perf_counter()
    for dataset_name in args.datasets.split(","):
        t0 = time.perf_counter()
        dataset = load_dataset(dataset_name, data_dir=args.data_dir)
        vectors = item_vectors(dataset.catalog)
        results = []
        for seed in range(args.seeds):
            sim = Simulator(
                dataset.interactions, item_vectors=vectors, n_steps=args.steps, arrival="random", seed=seed
            )
            for name in names:
                results.append(sim.run(simulation_policy(name, sim, seed=seed)))
        table = summarise(results, names)
        png = plot_results(
            [r for r in results if r.policy != "oracle"],
            out / f"simulate_{dataset_name}.png",
            title=f"{dataset_name}: {args.steps} steps, {args.seeds} seeds (mean, min-max band)",
        )
        settings = {
            "max_items": sim.max_items,
            "k": sim.k,
            "n_candidates": sim.n_candidates,
            "n_fresh": sim.n_fresh,
            "cold_fraction": sim.cold_fraction,
            "arrival": sim.arrival,
            "arrival_end": sim.arrival_end,
            "observed_fraction": sim.observed_fraction,
            "refit_every": sim.refit_every,
            "position_decay": sim.position_decay,
            "policies": {n: simulation_policy(n, sim).get_params() for n in names},
        }
        report[dataset_name] = {
            "summary": table,
            "runs": [r.summary() for r in results],
            "settings": settings,
            "seconds": time.perf_counter() - t0,
            "plot": str(png),
        }
        print(f"\n{dataset_name}: {args.steps} steps x {args.seeds} seeds ({time.perf_counter() - t0:.0f}s)")
        print(format_table(table))
        greedy = next(r for r in table if r["policy"] == "greedy")
        best = max(
            (r for r in table if r["policy"] not in ("greedy", "oracle")), key=lambda r: r["clicks_mean"]
        )
        print(
            f"best exploring policy: {best['policy']} {best['vs_greedy']:+.1%} clicks vs greedy; cold "
            f"impressions {best['cold_impressions_mean']:.0f} vs {greedy['cold_impressions_mean']:.0f}"
        )
    payload = {
        "settings": vars(args),
        "machine": "2-core shared CPU, no GPU",
        "seconds": time.perf_counter() - start,
        "datasets": report,
        "provenance": prov.finish(),
    }
    (out / "simulate.json").write_text(json.dumps(payload, indent=2, default=_json))
    print(f"\nwrote {out / 'simulate.json'} ({payload['seconds']:.0f}s)")


def _json(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
