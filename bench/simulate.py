"""Exploration policies in the online-loop simulator on MovieLens latest-small and Amazon Scientific.

For each dataset, ground truth and seed: a ground-truth click model is fitted on all interactions of
the 1000 most popular items, either a rank-32 SVD (``svd``) or EASE's item-item regression (``ease``,
l2 = 500, another model family than the in-loop recommender), standardised per user and calibrated
to a mean CTR of 1% and 30% for each user's 10 best items; 20% of those items are held back and
released over the first half of the horizon; the recommender (fold-in PureSVD, refitted every 250
steps on what it knows plus the clicks it caused) starts from the earliest half of each user's
interactions with the other items; one user per step sees a slate of 10 with position bias
``(j + 1) ** -0.5``, which the policies never see: they start from a flat examination prior and get
the curve of a position-based click model refitted on the logged clicks at every refit. Policies get
the recommender's 100 best-scored candidates plus the 20 newest items; linear policies get features
from the language-model item vectors (all-MiniLM-L6-v2 over the item text, PCA to 16 dims).

Policy settings were chosen on seed 100 with the SVD ground truth and the true position curve, before
either change (not re-tuned); the numbers come from seeds 0..S-1.

``--swap-shares 0,0.1`` runs every policy (the oracle once) without and with randomised position
swaps in that share of slates (``Simulator(swap_share=...)``: the curve is then estimated from the
swaps, intervention harvesting), side by side on the same worlds; the swapped runs are named
``<policy>+swap<share>``, and "vs greedy" is always against greedy without swaps.

Run:  OMP_NUM_THREADS=1 .venv/bin/python bench/simulate.py [--data-dir DIR] [--steps 3000] [--seeds 3]
      [--ground-truths svd,ease] [--swap-shares 0] [--swap-scheme top] [--name simulate]
Writes bench/results/<name>.json and bench/results/<name>_<dataset>_<ground truth>.png.
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
GROUND_TRUTHS = ("svd", "ease")


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "../shared/datasets"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--ground-truths", default=",".join(GROUND_TRUTHS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--swap-shares", default="0", help="comma-separated swap shares (0: no swaps)")
    parser.add_argument("--swap-scheme", default="top", choices=("top", "pair"))
    parser.add_argument(
        "--unswapped",
        default=None,
        help="policies run without swaps when 0 is among the shares (default: all of --policies; "
        "e.g. greedy, the baseline of a swapped-only run split off to another process)",
    )
    parser.add_argument("--name", default="simulate", help="stem of the results JSON and plots")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    names = args.policies.split(",")
    shares = [float(v) for v in args.swap_shares.split(",")]
    unswapped = names if args.unswapped is None else args.unswapped.split(",")
    runs = [(share, name) for share in shares for name in names if _runs(share, name, unswapped)]
    labels = [name if share == 0 else f"{name}+swap{share:g}" for share, name in runs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, object]] = {}
    start = time.perf_counter()
    partial = out / f"{args.name}.partial.json"
    for dataset_name in args.datasets.split(","):
        dataset = load_dataset(dataset_name, data_dir=args.data_dir)
        vectors = item_vectors(dataset.catalog)
        report[dataset_name] = {}
        for truth in args.ground_truths.split(","):
            t0 = time.perf_counter()
            results = []
            for seed in range(args.seeds):
                for share in shares:
                    todo = [name for s, name in runs if s == share]
                    sim = Simulator(
                        dataset.interactions,
                        catalog=dataset.catalog,
                        item_vectors=vectors,
                        n_steps=args.steps,
                        arrival="random",
                        ground_truth=truth,
                        swap_share=share,
                        swap_scheme=args.swap_scheme,
                        seed=seed,
                    )
                    for name in todo:
                        results.append(sim.run(simulation_policy(name, sim, seed=seed)))
                        done = results[-1].summary()
                        print(
                            f"{dataset_name} {truth} seed {seed} {done['policy']}: "
                            f"{done['clicks']:.0f} clicks, curve error {done['examination_error']}",
                            flush=True,
                        )
                        # what is done so far survives a run stopped before the end (removed at the end)
                        partial.write_text(json.dumps([r.summary() for r in results], default=_json))
            table = summarise(results, labels)
            png = plot_results(
                [r for r in results if r.policy != "oracle"],
                out / f"{args.name}_{dataset_name}_{truth}.png",
                title=f"{dataset_name}, {truth} ground truth: {args.steps} steps, {args.seeds} seeds "
                "(mean, min-max band)",
            )
            best = max((r for r in table if r["policy"] != "oracle"), key=lambda r: r["clicks_mean"])
            settings = {
                "ground_truth": truth,
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
                "true_examination": sim.examination.tolist(),
                "examination_prior": list(sim.examination_prior),
                "swap_shares": shares,
                "swap_scheme": args.swap_scheme,
                "monotone_examination": sim.monotone_examination,
                "policies": {n: simulation_policy(n, sim).get_params() for n in names},
            }
            report[dataset_name][truth] = {
                "summary": table,
                "best": best["policy"],
                "runs": [r.summary() for r in results],
                "settings": settings,
                "seconds": time.perf_counter() - t0,
                "plot": str(png),
            }
            print(
                f"\n{dataset_name}, {truth} ground truth: {args.steps} steps x {args.seeds} seeds "
                f"({time.perf_counter() - t0:.0f}s)"
            )
            print(format_table(table))
            greedy = next((r for r in table if r["policy"] == "greedy"), None)
            vs = "" if best["vs_greedy"] is None else f" {best['vs_greedy']:+.1%} clicks vs greedy;"
            cold = "" if greedy is None else f" vs {greedy['cold_impressions_mean']:.0f} for greedy"
            print(
                f"best (most clicks): {best['policy']}{vs} cold impressions "
                f"{best['cold_impressions_mean']:.0f}{cold}",
                flush=True,
            )
    payload = {
        "settings": vars(args),
        "seconds": time.perf_counter() - start,
        "datasets": report,
        "provenance": prov.finish(),
    }
    path = out / f"{args.name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_json))
    partial.unlink(missing_ok=True)
    print(f"\nwrote {path} ({payload['seconds']:.0f}s)")


def _runs(share: float, name: str, unswapped: list[str]) -> bool:
    """Whether ``name`` runs at swap ``share``: unswapped ones as asked, the oracle never swapped."""
    return name in unswapped if share == 0 else name != "oracle"


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
