"""What differential privacy costs: NDCG@10 of SASRec (and the two-tower model) trained with DP-SGD.

``python bench/dp.py [--datasets a,b] [--models sasrec] [--epsilons 1,4,8,inf] [--seeds 0,1,2]``

For each dataset, model, ε and seed: fit on the training part with a fixed, small number of epochs
(no early stopping, under DP or not, so every ε trains for the same planned steps), then test NDCG@10 /
Recall@10 by full ranking with history = train + valid (``explorec.evaluation.evaluate``). δ = 1 / n_users
(the users with a training example: the privacy units). ε = inf is the ordinary, non-private training
path with the same hyper-parameters (every training window of every user, no clipping, no noise);
under DP each user is one example (their most recent ``max_len + 1`` training items), clipped to
``dp_max_grad_norm`` and noised as the accountant requires (``explorec.models.privacy``).

Datasets: ``movielens-latest-small`` (leave-one-out by time, as ``bench/neural.py compare``) and
``amazon-scientific`` (its shipped leave-one-out split). Results are merged run by run into
``bench/results/dp_<dataset>.json`` (so an interrupted sweep keeps what it finished, and ``--resume``
skips the runs already there), with the provenance record of ``bench/_provenance.py``; the table
(mean ± std over the seeds, from every ``dp_<dataset>.json``, beside the popularity ranking) is printed
and written to ``bench/results/dp_summary.json``, and the plot NDCG@10 vs ε (error
bars: std over seeds) is written to ``bench/results/dp_ndcg_vs_epsilon.png`` and
``docs/benchmarks/dp_ndcg_vs_epsilon.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _provenance import Provenance
from explorec.data.interactions import Split
from explorec.data.registry import load_dataset
from explorec.data.splits import leave_one_out
from explorec.evaluation import evaluate
from explorec.models.registry import make_model
from explorec.models.torch_base import TorchRecommender

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _stem(dataset: str, profile: str) -> str:
    """``dp_<dataset>`` for the first ("small") sweep, whose files kept their names; else
    ``dp_<profile>_<dataset>``."""
    return f"dp_{dataset}" if profile == "small" else f"dp_{profile}_{dataset}"


#: one results file per dataset (datasets can run side by side), merged for the table and the plot
def out_path(dataset: str, part: str = "", profile: str = "small") -> Path:
    return RESULTS / f"{_stem(dataset, profile)}{'_' + part if part else ''}.json"


PLOT = "dp_ndcg_vs_epsilon.png"


def _sasrec(dim: int, max_len: int, batch_size: int, epochs: int) -> dict[str, Any]:
    """SASRec's settings in every sweep: one layer, one head, dropout 0.2, AdamW lr 0.01, C = 1."""
    return {
        "dim": dim,
        "n_layers": 1,
        "n_heads": 1,
        "max_len": max_len,
        "dropout": 0.2,
        "attn_dropout": 0.2,
        "lr": 1e-2,
        "batch_size": batch_size,
        "epochs": epochs,
        "dp_max_grad_norm": 1.0,
    }


def _two_tower(max_len: int, batch_size: int, epochs: int) -> dict[str, Any]:
    return {
        "dim": 16,
        "hidden": 32,
        "max_len": max_len,
        "lr": 1e-2,
        "batch_size": batch_size,
        "epochs": epochs,
        "temperature": 0.1,
        "dp_max_grad_norm": 1.0,
    }


#: fixed settings per dataset and model, sized so that the 24-run sweep fits a 2-core machine shared by
#: eight jobs (load average 30+ when it was sized: a niced process got about 5 % of a core): a small
#: SASRec (one layer, 16 dimensions), 3 epochs (movielens) and 1 epoch (amazon), the same for every ε
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "movielens-latest-small": {"sasrec": _sasrec(16, 20, 64, 3), "two-tower": _two_tower(20, 64, 3)},
    "amazon-scientific": {"sasrec": _sasrec(16, 10, 128, 1), "two-tower": _two_tower(10, 128, 1)},
}

#: a model that learns (sized on an idle 2-core machine, 2026-12-01): 32 dimensions, 10 epochs for
#: every ε. Without DP it reaches 0.066 NDCG@10 on amazon-scientific (against 0.018 for "small", which
#: is no better than the popularity ranking), so the gap to ε = ∞ is the price of privacy, not of
#: under-training. One DP epoch costs ~30 CPU s on amazon-scientific (8,442 users), ~4 on movielens.
TRAINED: dict[str, dict[str, dict[str, Any]]] = {
    "movielens-latest-small": {"sasrec": _sasrec(32, 20, 128, 10)},
    "amazon-scientific": {"sasrec": _sasrec(32, 20, 512, 10)},
}

#: ``--profile``: "small" is the first, under-trained sweep (its results files keep their names)
PROFILES: dict[str, dict[str, dict[str, dict[str, Any]]]] = {"small": SETTINGS, "trained": TRAINED}


def load_split(name: str) -> Split:
    data = load_dataset(name)
    return data.split if data.split is not None else leave_one_out(data.interactions)


def run_one(
    dataset: str, model_name: str, epsilon: float, seed: int, split: Split, profile: str = "small"
) -> dict[str, Any]:
    params = {
        **PROFILES[profile][dataset][model_name],
        "seed": seed,
        "device": "cpu",
        "num_threads": 1,
        "progress": False,
        "dp_epsilon": None if math.isinf(epsilon) else epsilon,
    }
    model = make_model(model_name, **params)
    assert isinstance(model, TorchRecommender)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(split.train)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    result = evaluate(model, split.test, history=split.test_history, k=[10])
    privacy = model.privacy_.to_dict() if model.privacy_ is not None else None
    return {
        "dataset": dataset,
        "model": model_name,
        "profile": profile,
        "epsilon": "inf" if math.isinf(epsilon) else epsilon,
        "seed": seed,
        "params": params,
        "ndcg@10": float(result.metrics["ndcg@10"]),
        "recall@10": float(result.metrics["recall@10"]),
        "n_test_users": int(result.users.size),
        "fit_seconds": fit_s,
        "fit_cpu_seconds": fit_cpu,
        "epochs": len(model.history_.epochs),
        "loss_curve": [round(e.loss, 4) for e in model.history_.epochs],
        "privacy": privacy,
    }


def key(run: dict[str, Any]) -> str:
    prefix = "" if run.get("profile", "small") == "small" else f"{run['profile']}/"
    return f"{prefix}{run['dataset']}/{run['model']}/eps={run['epsilon']}/seed={run['seed']}"


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std (over seeds, ddof=1) of NDCG@10 and Recall@10 per dataset, model and ε."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        profile = r.get("profile", "small")
        groups.setdefault((r["dataset"], r["model"], profile, str(r["epsilon"])), []).append(r)
    out = []
    for (dataset, model, profile, eps), rows in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], _eps(kv[0][3]))
    ):
        nd = np.array([r["ndcg@10"] for r in rows])
        rc = np.array([r["recall@10"] for r in rows])
        spent = [r["privacy"]["epsilon"] for r in rows if r["privacy"]]
        sigma = [r["privacy"]["noise_multiplier"] for r in rows if r["privacy"]]
        out.append(
            {
                "dataset": dataset,
                "model": model,
                "profile": profile,
                "epsilon": eps,
                "seeds": [r["seed"] for r in rows],
                "ndcg@10_mean": float(nd.mean()),
                "ndcg@10_std": float(nd.std(ddof=1)) if nd.size > 1 else 0.0,
                "recall@10_mean": float(rc.mean()),
                "recall@10_std": float(rc.std(ddof=1)) if rc.size > 1 else 0.0,
                "epsilon_spent_max": max(spent) if spent else None,
                "noise_multiplier": sigma[0] if sigma else None,
                "delta": rows[0]["privacy"]["delta"] if rows[0]["privacy"] else None,
                "steps": rows[0]["privacy"]["steps"] if rows[0]["privacy"] else None,
                "fit_cpu_seconds_mean": float(np.mean([r["fit_cpu_seconds"] for r in rows])),
            }
        )
    return out


def _eps(text: str) -> float:
    return math.inf if text == "inf" else float(text)


def table(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | model | settings | ε | δ | σ | steps | NDCG@10 (mean ± std) | Recall@10 | seeds "
        "| fit CPU s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summary:
        delta = f"{s['delta']:.2g}" if s["delta"] else "–"
        sigma = f"{s['noise_multiplier']:.3g}" if s["noise_multiplier"] else "–"
        eps = (
            "∞ (no DP)"
            if s["epsilon"] == "inf"
            else f"{_eps(s['epsilon']):g} (spent {s['epsilon_spent_max']:.3g})"
        )
        lines.append(
            f"| {s['dataset']} | {s['model']} | {s['profile']} | {eps} | {delta} | {sigma} "
            f"| {s['steps'] or '–'} "
            f"| {s['ndcg@10_mean']:.4f} ± {s['ndcg@10_std']:.4f} "
            f"| {s['recall@10_mean']:.4f} ± {s['recall@10_std']:.4f} | {len(s['seeds'])} "
            f"| {s['fit_cpu_seconds_mean']:.0f} |"
        )
    return "\n".join(lines)


def popularity_reference(datasets: list[str]) -> dict[str, float]:
    """Test NDCG@10 of the (non-private) popularity ranking: the floor a private model should clear."""
    out = {}
    for dataset in datasets:
        split = load_split(dataset)
        model = make_model("popularity").fit(split.train)
        out[dataset] = float(
            evaluate(model, split.test, history=split.test_history, k=[10]).metrics["ndcg@10"]
        )
    return out


def plot(summary: list[dict[str, Any]], popularity: dict[str, float]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({s["dataset"] for s in summary})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        curves = {(s["model"], s["profile"]) for s in summary if s["dataset"] == dataset}
        for model, profile in sorted(curves):
            rows = [
                s
                for s in summary
                if s["dataset"] == dataset and s["model"] == model and s["profile"] == profile
            ]
            name = model if profile == "small" else f"{model} ({profile})"
            finite = [s for s in rows if s["epsilon"] != "inf"]
            xs = [_eps(s["epsilon"]) for s in finite]
            line = ax.errorbar(
                xs,
                [s["ndcg@10_mean"] for s in finite],
                yerr=[s["ndcg@10_std"] for s in finite],
                marker="o",
                capsize=3,
                label=f"{name}, DP-SGD",
            )
            for s in rows:
                if s["epsilon"] == "inf":  # the non-private reference: a band at mean ± std
                    colour = line[0].get_color()
                    ax.axhline(
                        s["ndcg@10_mean"], color=colour, linestyle="--", label=f"{name}, ε = ∞ (no DP)"
                    )
                    ax.axhspan(
                        s["ndcg@10_mean"] - s["ndcg@10_std"],
                        s["ndcg@10_mean"] + s["ndcg@10_std"],
                        color=colour,
                        alpha=0.12,
                    )
        if dataset in popularity:
            ax.axhline(popularity[dataset], color="grey", linestyle=":", label="popularity (no DP)")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks([1, 4, 8])
        ax.set_xticklabels(["1", "4", "8"])
        ax.set_xlabel("ε (per user), δ = 1/n_users")
        ax.set_ylabel("test NDCG@10")
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = RESULTS / PLOT
    fig.savefig(path, dpi=130)
    docs = ROOT / "docs" / "benchmarks" / PLOT
    shutil.copyfile(path, docs)
    return path


def save(path: Path, runs: dict[str, dict[str, Any]], prov: Provenance, profile: str) -> None:
    ordered = list(runs.values())
    summary = summarise(ordered)
    doc = {
        "settings": PROFILES[profile],
        "profile": profile,
        "protocol": "fixed epochs, no early stopping; test NDCG@10 by full ranking, history = train + valid",
        "delta": "1 / n_users (users with a training example)",
        "accountant": "opacus RDP",
        "summary": summary,
        "runs": ordered,
        "provenance": prov.finish(),
    }
    path.write_text(json.dumps(doc, indent=2))


def load_runs(path: Path) -> dict[str, dict[str, Any]]:
    return {key(r): r for r in json.loads(path.read_text())["runs"]} if path.is_file() else {}


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="movielens-latest-small,amazon-scientific")
    parser.add_argument("--models", default="sasrec")
    parser.add_argument("--epsilons", default="1,4,8,inf")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--resume", action="store_true", help="skip the runs already in the results files")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="trained",
        help="settings (SETTINGS or TRAINED); 'small' writes dp_<dataset>.json, "
        "the others dp_<profile>_<dataset>.json",
    )
    parser.add_argument("--plot-only", action="store_true", help="only redraw the table and the plot")
    parser.add_argument(
        "--part",
        default="",
        help="write dp_[<profile>_]<dataset>_<part>.json, to run a share of the sweep in parallel",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("explorec.models.privacy").setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    epsilons = [_eps(e) for e in args.epsilons.split(",")]
    for dataset in [] if args.plot_only else args.datasets.split(","):
        if any(m not in PROFILES[args.profile][dataset] for m in args.models.split(",")):
            parser.error(f"--profile {args.profile} has no settings for {args.models} on {dataset}")
        path = out_path(dataset, args.part, args.profile)
        runs = load_runs(path) if args.resume else {}
        split = load_split(dataset)
        print(f"{dataset}: {split.summary()}", flush=True)
        # seed-major order: an interrupted sweep still covers every ε
        for seed in (int(s) for s in args.seeds.split(",")):
            for model_name in args.models.split(","):
                for eps in epsilons:
                    probe = {"dataset": dataset, "model": model_name, "seed": seed, "profile": args.profile}
                    k = key({**probe, "epsilon": "inf" if math.isinf(eps) else eps})
                    if k in runs:
                        continue
                    res = run_one(dataset, model_name, eps, seed, split, args.profile)
                    spent = res["privacy"]["epsilon"] if res["privacy"] else math.inf
                    print(
                        f"{k}: ndcg@10 {res['ndcg@10']:.4f} recall@10 {res['recall@10']:.4f} "
                        f"(ε spent {spent:.3g}) fit {res['fit_seconds']:.0f}s, "
                        f"{res['fit_cpu_seconds']:.0f} CPU s",
                        flush=True,
                    )
                    runs[k] = res
                    save(path, runs, prov, args.profile)
    every: list[dict[str, Any]] = []
    for dataset in SETTINGS:
        for profile in PROFILES:
            for path in sorted(RESULTS.glob(f"{_stem(dataset, profile)}*.json")):
                every.extend(load_runs(path).values())
    summary = summarise(every)
    popularity = popularity_reference(sorted({r["dataset"] for r in every}))
    print(table(summary))
    print("popularity (no DP) NDCG@10: " + ", ".join(f"{d} {v:.4f}" for d, v in popularity.items()))
    (RESULTS / "dp_summary.json").write_text(
        json.dumps(
            {"summary": summary, "popularity_ndcg@10": popularity, "provenance": prov.finish()}, indent=2
        )
    )
    print(f"plot written to {plot(summary, popularity)}")


if __name__ == "__main__":
    main()
