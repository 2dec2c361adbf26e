"""The side-by-side table of the randomised-swap runs of bench/simulate.py (docs/benchmarks/exploration.md).

The runs were split over three processes, one per swap share (each with plain greedy, the baseline
of "vs greedy"), on the same worlds and seeds:

    COMMON="--datasets amazon-scientific --ground-truths svd --seeds 3
            --policies oracle,greedy,ucb,ts,linucb-hybrid"
    python bench/simulate.py $COMMON --swap-shares 0 --name simulate_swaps_0
    python bench/simulate.py $COMMON --swap-shares 0,0.1 --unswapped greedy --name simulate_swaps_0.1
    python bench/simulate.py $COMMON --swap-shares 0,0.25 --unswapped greedy --name simulate_swaps_0.25

This script reads their JSONs and prints the Markdown table: clicks (mean ± sd over seeds), the change
against greedy without swaps, cold-item impressions, items shown, and the error of the last
position-curve estimate against the world's (largest and mean absolute over the positions), plus the
estimate at the last position. Run:  python bench/simulate_swaps_table.py [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FILES = ("simulate_swaps_0", "simulate_swaps_0.1", "simulate_swaps_0.25")
POLICIES = ("greedy", "ucb", "ts", "linucb-hybrid")
LABELS = {"greedy": "greedy", "ucb": "UCB", "ts": "Bernoulli TS", "linucb-hybrid": "LinUCB hybrid"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default="bench/results")
    parser.add_argument("--dataset", default="amazon-scientific")
    parser.add_argument("--ground-truth", default="svd")
    args = parser.parse_args()
    runs: dict[str, dict[int, dict[str, object]]] = {}
    truth = None
    for name in FILES:
        data = json.loads((Path(args.results) / f"{name}.json").read_text())
        entry = data["datasets"][args.dataset][args.ground_truth]
        truth = np.array(entry["settings"]["true_examination"])
        for run in entry["runs"]:
            # plain greedy runs in every file on the same world and seed: the copies are identical
            runs.setdefault(str(run["policy"]), {})[int(run["seed"])] = run
    assert truth is not None
    greedy = float(np.mean([r["clicks"] for r in runs["greedy"].values()]))
    print(
        "| policy | swap share | clicks | vs greedy | cold impressions | items shown "
        "| curve error, largest | curve error, mean | last position (truth "
        f"{truth[-1]:.2f}) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for policy in POLICIES:
        for share in ("0", "0.1", "0.25"):
            label = policy if share == "0" else f"{policy}+swap{share}"
            if label not in runs:
                continue
            rs = [runs[label][s] for s in sorted(runs[label])]
            clicks = np.array([float(r["clicks"]) for r in rs])  # type: ignore[arg-type]
            est = np.array([r["examination_estimate"] for r in rs], dtype=np.float64)
            err = np.abs(est - truth)  # [seeds, positions]
            vs = "" if label == "greedy" else f"{clicks.mean() / greedy - 1:+.1%}"
            print(
                f"| {LABELS[policy]} | {share} | {clicks.mean():.1f} ± {clicks.std(ddof=1):.1f} | {vs} "
                f"| {np.mean([float(r['cold_impressions']) for r in rs]):.0f} "  # type: ignore[arg-type]
                f"| {np.mean([float(r['coverage_items']) for r in rs]):.0f} "  # type: ignore[arg-type]
                f"| {err.max(axis=1).mean():.2f} | {err.mean(axis=1).mean():.3f} "
                f"| {est[:, -1].mean():.2f} |"
            )


if __name__ == "__main__":
    main()
