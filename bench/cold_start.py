"""Cold start with a language model: cold items, warm leave-one-out, few-shot users, cross-domain.

Parts (``--part``, repeatable; default all):

``cold``    cold-item split (``explorec.data.splits.cold_item_split``, 20 % of the interacted items held
            out of training entirely, half of them for validation, half for test) on amazon-scientific
            and movielens-latest-small: Recall@10 / NDCG@10 by full ranking over all items of textknn,
            lm-adapter, popularity and itemknn (the last two cannot score cold items).
``warm``    amazon-scientific's shipped leave-one-out split, full ranking: lm-adapter (+ context models).
``fewshot`` few-shot users (k = 1, 3, 5) on amazon-scientific and movielens-latest-small, inductive:
            models are fitted once on the other users, the few-shot users' k interactions are
            their history at recommendation time (``few_shot(..., refit=False)``).
``tuned-fit`` one fit of ``textknn-tuned`` (the fine-tuned text kNN, ``explorec.models.textknn_tuned``) on
            amazon-scientific's cold-item split: configuration ``--tuned-config`` of ``TUNED_CONFIGS``,
            ``--seed``; early-stopped on the cold validation items, the model saved under
            ``$EXPLOREC_BENCH_MODELS``, validation NDCG@10 for each zero-shot mix of ``zero_shot_grid()``
            (the profile score at each weight of ``ZERO_SHOT_GRID``; the kernel score at each weight of
            ``KERNEL_WEIGHTS`` and temperature of ``KERNEL_TEMPERATURES``) written to
            ``cold_start_tuned-fit_<config>_seed<seed>.json``. The test part is not read.
``tuned``   the configuration and zero-shot mix with the best seed-0 validation NDCG@10 among the
            ``tuned-fit`` files, its three seeds (0, 1, 2) loaded and evaluated on test once each
            (mean ± sd), beside the two zero-shot models (textknn's profile, and its kernel scoring
            at the temperature picked on validation) and the picked configuration untrained (the
            same zero-shot mix without fine-tuning), with paired tests over users against all three.
``diagnose`` why fine-tuning loses cold items: for textknn and the lm-adapter with and without ID
            embeddings (small, 8 epochs), the share of warm items in the top 10 and NDCG@10 when only
            cold items are ranked.
``cross``   lm-adapter trained on amazon-scientific (the ``warm`` model), transferred to
            movielens-latest-small zero-shot and with 10 % of its training users, vs textknn, popularity
            and an adapter trained from scratch on the same 10 %.

Every model reads item vectors of all-MiniLM-L6-v2 from the embedding cache (``~/.cache/explorec``).
Writes ``bench/results/cold_start_<part>.json`` and prints a table per part.

    python bench/cold_start.py --part cold --part warm
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results"
MODEL_DIR = Path(
    os.environ.get("EXPLOREC_BENCH_MODELS", Path.home() / ".cache" / "explorec" / "bench-models")
)
ANCHORS = {
    "cold:amazon-scientific": "Recformer paper (own preprocessing, cold test items): "
    "NDCG@10 0.052 Recformer, "
    "0.044 UniSRec, 0.021 SASRec",
    # RecBole is run, not quoted: bench/peers/compare_recbole.py measures it on this same split
    "warm:amazon-scientific": "same split: RecBole SASRec in "
    "bench/results/peers_recbole_amazon-scientific_sasrec.json; "
    "VQ-Rec (published) 0.0645 / 0.1238",
}


#: configurations of ``textknn-tuned`` compared on validation (``--part tuned-fit --tuned-config NAME``)
TUNED_CONFIGS: dict[str, dict[str, Any]] = {
    "query": {},
    "query-t0.1": {"temperature": 0.1},
    # early stopping reads the mixed score, so the epoch is picked for the mix that serves
    "query-mix0.4": {"zero_shot_weight": 0.4},
    # as query-mix0.4, with the kernel form of the zero-shot score (textknn's scoring="kernel")
    "query-kernel0.7": {"zero_shot_weight": 0.7, "zero_shot": "kernel"},
}
#: zero_shot_weight values of the profile score read on validation for every fitted configuration
ZERO_SHOT_GRID = (0.0, 0.2, 0.4, 0.6)
#: weights and temperatures of the kernel score read on validation (a weight of 1 would be the
#: zero-shot model alone, which is the baseline, not a fine-tuned model)
KERNEL_WEIGHTS = (0.3, 0.5, 0.7, 0.85)
KERNEL_TEMPERATURES = (0.02, 0.05, 0.1, 0.2)


def zero_shot_grid() -> list[tuple[str, dict[str, Any]]]:
    """``(key, settings)`` of every zero-shot mix read on validation.

    ``"0.4"`` is the profile score at weight 0.4 (the key of the first files), ``"kernel|0.05|0.7"``
    the kernel at temperature 0.05 and weight 0.7.
    """
    grid = [(str(w), {"zero_shot": "profile", "zero_shot_weight": w}) for w in ZERO_SHOT_GRID]
    # 0.05 and 0.1: where the zero-shot kernel itself is best on validation (part tuned records all four)
    for tau in KERNEL_TEMPERATURES[1:3]:
        for w in KERNEL_WEIGHTS:
            mix = {"zero_shot": "kernel", "kernel_temperature": tau, "zero_shot_weight": w}
            grid.append((f"kernel|{tau}|{w}", mix))
    return grid


def grid_settings(key: str) -> dict[str, Any]:
    """The model settings behind a key of ``zero_shot_grid`` (also the profile-only keys of old files)."""
    if key.startswith("kernel|"):
        _, tau, weight = key.split("|")
        return {"zero_shot": "kernel", "kernel_temperature": float(tau), "zero_shot_weight": float(weight)}
    return {"zero_shot": "profile", "zero_shot_weight": float(key)}


TUNED_SEEDS = (0, 1, 2)


def tuned_params(config: str, seed: int) -> dict[str, Any]:
    """The textknn-tuned settings of one benchmark run."""
    return {
        "template": "amazon-scientific",
        "epochs": 15,
        "patience": 3,
        "progress": False,
        "num_threads": 1,
        "seed": seed,
        **TUNED_CONFIGS[config],
    }


def adapter_params(threads: int, **overrides: Any) -> dict[str, Any]:
    """The lm-adapter settings used throughout the benchmark, with ``--threads`` torch threads."""
    return {"epochs": 40, "patience": 5, "progress": False, "num_threads": threads, **overrides}


def factories(template: str | None, adapter: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    from explorec.models.adapter import LMAdapter
    from explorec.models.itemknn import ItemKNN
    from explorec.models.popularity import Popularity
    from explorec.models.textknn import TextKNN

    return {
        "popularity": Popularity,
        "itemknn": lambda: ItemKNN(progress=False),
        "textknn": lambda: TextKNN(template=template),
        "lm-adapter": lambda: LMAdapter(template=template, **adapter),
    }


def _fit(model: Any, train: Any, catalog: Any, valid: Any) -> float:
    start = time.perf_counter()
    if "valid" in model.fit.__code__.co_varnames and valid is not None and len(valid):
        model.fit(train, catalog, valid=valid)
    else:
        model.fit(train, catalog)
    return time.perf_counter() - start


def _row(name: str, model: Any, split: Any, fit_seconds: float, **extra: Any) -> dict[str, Any]:
    from explorec.evaluation import evaluate

    result = evaluate(model, split.test, history=split.test_history, k=(10,))
    m = result.metrics
    row = {
        "model": name,
        "recall@10": round(m["recall@10"], 4),
        "ndcg@10": round(m["ndcg@10"], 4),
        "hit@10": round(m["hit@10"], 4),
        "coverage@10": round(m.get("coverage@10", float("nan")), 4),
        "test_users": int(result.users.size),
        "fit_seconds": round(fit_seconds, 1),
        "eval_seconds": round(result.seconds, 1),
        **extra,
    }
    if hasattr(model, "history_"):
        row["best_epoch"] = model.history_.best_epoch
        row["epochs_run"] = len(model.history_.epochs)
    print("   ", json.dumps(row), flush=True)
    return row


def load(name: str, data_dir: str) -> Any:
    from explorec.data.registry import load_dataset

    return load_dataset(name, data_dir=data_dir)


# ---------------------------------------------------------------------------- parts
def part_cold(args: argparse.Namespace) -> dict[str, Any]:
    from explorec.data.splits import cold_item_split

    out: dict[str, Any] = {}
    for name in args.datasets:
        data = load(name, args.data_dir)
        split = cold_item_split(data.interactions, item_fraction=0.2, seed=args.seed)
        print(f"== cold-item split of {name}: {split.summary()}", flush=True)
        rows = []
        for model_name, make in factories(name, adapter_params(args.threads)).items():
            if model_name not in args.models:
                continue
            model = make()
            seconds = _fit(model, split.train, data.catalog, split.valid)
            rows.append(_row(model_name, model, split, seconds))
        out[name] = {"split": split.summary(), "rows": rows, "anchor": ANCHORS.get(f"cold:{name}", "")}
    return out


def part_warm(args: argparse.Namespace) -> dict[str, Any]:
    data = load("amazon-scientific", args.data_dir)
    split = data.split
    print(f"== amazon-scientific shipped leave-one-out: {split.summary()}", flush=True)
    rows = []
    for model_name, make in factories("amazon-scientific", adapter_params(args.threads, epochs=30)).items():
        if model_name not in args.models:
            continue
        model = make()
        seconds = _fit(model, split.train, data.catalog, split.valid)
        rows.append(_row(model_name, model, split, seconds))
        if model_name == "lm-adapter":
            model.save(MODEL_DIR / "lm-adapter-amazon-scientific")
    return {
        "amazon-scientific": {
            "split": split.summary(),
            "rows": rows,
            "anchor": ANCHORS["warm:amazon-scientific"],
        }
    }


def part_fewshot(args: argparse.Namespace) -> dict[str, Any]:
    from explorec.evaluation.transfer import few_shot

    out: dict[str, Any] = {}
    for name in args.datasets:
        data = load(name, args.data_dir)
        # few epochs: CPU time on the shared 2-core machine is scarce (see docs/benchmarks/language_model.md)
        made = factories(name, adapter_params(args.threads, epochs=5))
        chosen = {k: v for k, v in made.items() if k in args.models}
        # inductive: every model is fitted once on the other users; the few-shot users are unseen and
        # their k interactions are their history at recommendation time
        rows = few_shot(data, chosen, ks=(1, 3, 5), test_user_fraction=0.2, seed=args.seed, refit=False)
        out[name] = [r.to_dict() for r in rows]
        for r in rows:
            print("   ", json.dumps(r.to_dict()), flush=True)
    plot_fewshot(out)
    return out


def plot_fewshot(out: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(out), figsize=(4.2 * len(out), 3.2), squeeze=False)
    for ax, (name, rows) in zip(axes[0], out.items(), strict=True):
        colours = {"lm-adapter": "C0", "textknn": "C1", "itemknn": "C2", "popularity": "C7"}
        for model in sorted(dict.fromkeys(r["model"] for r in rows), key=lambda m: list(colours).index(m)):
            pts = sorted((r["k"], r["ndcg@10"]) for r in rows if r["model"] == model)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=model, color=colours[model])
        ax.set_title(f"few-shot users: {name}", fontsize=9)
        ax.set_xlabel("training interactions per few-shot user (k)")
        ax.set_ylabel("NDCG@10")
        ax.set_xticks([1, 3, 5])
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(__file__).parents[1] / "docs" / "benchmarks" / "language_model_fewshot.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"plot written to {path}")


def part_cross(args: argparse.Namespace) -> dict[str, Any]:
    from explorec.evaluation.transfer import FitOnTarget, TransferFromSource, cross_domain
    from explorec.models.adapter import LMAdapter
    from explorec.models.base import Recommender
    from explorec.models.popularity import Popularity
    from explorec.models.textknn import TextKNN

    source = load("amazon-scientific", args.data_dir)
    target = load(args.target, args.data_dir)
    saved = MODEL_DIR / "lm-adapter-amazon-scientific"
    # the source adapter: the saved ``warm`` model when there is one, else 5 epochs on amazon-scientific
    transfer = TransferFromSource(
        lambda: LMAdapter(template="amazon-scientific", **adapter_params(args.threads, epochs=5)),
        epochs=5,
        transfer_params={"template": args.target},
    )
    if (saved / "CURRENT").is_file():  # a folder of saved versions (explorec.persist)
        transfer._source_model, transfer._source_name = Recommender.load(saved), source.name
        print(f"source adapter loaded from {saved}", flush=True)
    strategies = {
        "lm-adapter (from amazon-scientific)": transfer,
        "textknn": FitOnTarget(lambda: TextKNN(template=args.target)),
        "popularity": FitOnTarget(Popularity),
    }
    rows = cross_domain(source, target, strategies, target_shares=(0.0, 0.1), seed=args.seed)
    scratch = cross_domain(
        source,
        target,
        {
            "lm-adapter (target share only)": FitOnTarget(
                lambda: LMAdapter(template=args.target, **adapter_params(args.threads, epochs=10))
            )
        },
        target_shares=(0.1,),
        seed=args.seed,
    )
    out = [r.to_dict() for r in [*rows, *scratch]]
    for r in out:
        print("   ", json.dumps(r), flush=True)
    return {f"amazon-scientific->{args.target}": out}


def _cold_split(args: argparse.Namespace) -> tuple[Any, Any]:
    from explorec.data.splits import cold_item_split

    data = load("amazon-scientific", args.data_dir)
    return data, cold_item_split(data.interactions, item_fraction=0.2, seed=0)


def _tuned_dir(config: str, seed: int) -> Path:
    return MODEL_DIR / f"textknn-tuned-cold-{config}-seed{seed}"


def part_tuned_fit(args: argparse.Namespace) -> dict[str, Any]:
    from explorec.evaluation import evaluate
    from explorec.models.textknn_tuned import TunedTextKNN

    data, split = _cold_split(args)
    model = TunedTextKNN(**tuned_params(args.tuned_config, args.seed))
    seconds = _fit(model, split.train, data.catalog, split.valid)
    model.save(_tuned_dir(args.tuned_config, args.seed))
    valid = {}
    for key, settings in zero_shot_grid():
        for name, value in settings.items():  # a scoring-time mix: no refit needed to read it
            setattr(model, name, value)
        result = evaluate(model, split.valid, history=split.train, k=(10,))
        valid[key] = round(result.metrics["ndcg@10"], 4)
    history = model.history_
    row = {
        "config": args.tuned_config,
        "seed": args.seed,
        "params": tuned_params(args.tuned_config, args.seed),
        "valid_ndcg@10_by_zero_shot_weight": valid,
        "valid_curve": [None if m is None else round(m, 4) for m in history.metrics],
        "best_epoch": history.best_epoch,
        "epochs_run": len(history.epochs),
        "fit_seconds": round(seconds, 1),
        "seconds_per_epoch": round(history.seconds_per_epoch, 1),
        "cpu_seconds_per_epoch": round(float(np.median([e.cpu_seconds for e in history.epochs])), 1),
    }
    print("   ", json.dumps(row), flush=True)
    return row


def _per_user(model: Any, split: Any) -> Any:
    from explorec.evaluation import evaluate

    return evaluate(model, split.test, history=split.test_history, k=(10,))


def part_tuned(args: argparse.Namespace) -> dict[str, Any]:
    from explorec.evaluation import evaluate, paired_test
    from explorec.models.base import Recommender
    from explorec.models.textknn import TextKNN
    from explorec.models.textknn_tuned import TunedTextKNN

    fits = {}
    for config in TUNED_CONFIGS:
        path = RESULTS / f"cold_start_tuned-fit_{config}_seed0.json"
        if path.is_file():
            fits[config] = json.loads(path.read_text())["results"]
    if not fits:
        raise SystemExit("no cold_start_tuned-fit_*_seed0.json: run --part tuned-fit first")
    grid = {
        (config, key): v
        for config, row in fits.items()
        for key, v in row["valid_ndcg@10_by_zero_shot_weight"].items()
    }
    config, key = max(grid, key=lambda c_k: grid[c_k])
    settings = grid_settings(key)
    print(f"== picked on validation: {config}, {settings} (NDCG@10 {grid[(config, key)]})")
    data, split = _cold_split(args)
    textknn = _per_user(TextKNN(template="amazon-scientific").fit(split.train, data.catalog), split)
    # the zero-shot kernel baseline: its temperature picked on validation, like everything else
    kernel_valid = {}
    for tau in KERNEL_TEMPERATURES:
        zero = TextKNN(template="amazon-scientific", scoring="kernel", kernel_temperature=tau)
        zero.fit(split.train, data.catalog)
        valid = evaluate(zero, split.valid, history=split.train, k=(10,))
        kernel_valid[str(tau)] = round(valid.metrics["ndcg@10"], 4)
    tau_best = float(max(kernel_valid, key=lambda t: kernel_valid[t]))
    print(f"== textknn kernel, validation NDCG@10 by temperature: {kernel_valid}; picked {tau_best}")
    kernel = _per_user(
        TextKNN(template="amazon-scientific", scoring="kernel", kernel_temperature=tau_best).fit(
            split.train, data.catalog
        ),
        split,
    )
    assert np.array_equal(kernel.users, textknn.users)
    # the picked configuration untrained (epochs=0: the query map at the identity), i.e. the same
    # zero-shot mix without fine-tuning: what the training itself adds is measured against it
    untrained_model = TunedTextKNN(**{**tuned_params(config, 0), **settings, "epochs": 0})
    untrained_model.fit(split.train, data.catalog)
    untrained_valid = evaluate(untrained_model, split.valid, history=split.train, k=(10,)).metrics["ndcg@10"]
    untrained = _per_user(untrained_model, split)
    warm = split.train.item_counts() > 0
    baselines = {"textknn": textknn, "textknn_kernel": kernel, "untrained": untrained}
    runs, per_user = [], []
    for seed in TUNED_SEEDS:
        folder = _tuned_dir(config, seed)
        if not (folder / "CURRENT").is_file():
            raise SystemExit(f"{folder} missing: run --part tuned-fit --tuned-config {config} --seed {seed}")
        model = Recommender.load(folder)
        for name, value in settings.items():
            setattr(model, name, value)
        result = _per_user(model, split)
        assert np.array_equal(result.users, textknn.users)
        top = result.top_items[:, :10]
        run: dict[str, Any] = {
            "seed": seed,
            "ndcg@10": round(result.metrics["ndcg@10"], 4),
            "recall@10": round(result.metrics["recall@10"], 4),
            "warm_share_top10": round(float(warm[top[top >= 0]].mean()), 3),
            "best_epoch": model.history_.best_epoch,
        }
        for name, base in baselines.items():
            test = paired_test(result.per_user["ndcg@10"], base.per_user["ndcg@10"])
            run[f"vs_{name}"] = {k: test[k] for k in ("mean_diff", "t_pvalue", "wilcoxon_pvalue", "n")}
        runs.append(run)
        per_user.append(result.per_user["ndcg@10"])
        print("   ", json.dumps(runs[-1]), flush=True)
    ndcg = np.array([r["ndcg@10"] for r in runs])
    recall = np.array([r["recall@10"] for r in runs])
    mean_user = np.mean(per_user, axis=0)  # per-user NDCG averaged over the three seeds
    kernel_top = kernel.top_items[:, :10]
    out: dict[str, Any] = {
        "picked": {"config": config, **settings, "valid_ndcg@10": grid[(config, key)]},
        "valid_grid": {f"{c}|{k}": v for (c, k), v in grid.items()},
        "runs": runs,
        "ndcg@10_mean": round(float(ndcg.mean()), 4),
        "ndcg@10_sd": round(float(ndcg.std(ddof=1)), 4),
        "recall@10_mean": round(float(recall.mean()), 4),
        "recall@10_sd": round(float(recall.std(ddof=1)), 4),
        "textknn": {k: round(textknn.metrics[k], 4) for k in ("ndcg@10", "recall@10")},
        "textknn_kernel": {
            **{k: round(kernel.metrics[k], 4) for k in ("ndcg@10", "recall@10")},
            "kernel_temperature": tau_best,
            "valid_ndcg@10_by_temperature": kernel_valid,
            "warm_share_top10": round(float(warm[kernel_top[kernel_top >= 0]].mean()), 3),
        },
        "untrained": {
            **{k: round(untrained.metrics[k], 4) for k in ("ndcg@10", "recall@10")},
            "valid_ndcg@10": round(untrained_valid, 4),
        },
        "split": split.summary(),
    }
    for name, base in baselines.items():
        pooled = paired_test(mean_user, base.per_user["ndcg@10"])
        out[f"seed_mean_vs_{name}"] = {
            k: pooled[k] for k in ("mean_a", "mean_b", "mean_diff", "t_pvalue", "wilcoxon_pvalue", "n")
        }
    return out


def part_diagnose(args: argparse.Namespace) -> dict[str, Any]:
    from explorec.evaluation import evaluate
    from explorec.models.adapter import LMAdapter
    from explorec.models.textknn import TextKNN
    from explorec.ranking import full_ranking_ndcg

    data, split = _cold_split(args)
    warm = split.train.item_counts() > 0
    cold = np.zeros(split.train.n_items, dtype=bool)
    cold[split.cold_items] = True
    history = split.test_history
    seen = history.to_csr()

    def row(name: str, model: Any) -> dict[str, Any]:
        result = evaluate(model, split.test, history=history, k=(10,))
        top = result.top_items[:, :10]
        # ranking only the cold test items: the warm items (never a test item here) are masked as seen
        cold_only = full_ranking_ndcg(
            lambda u: np.where(cold[None, :], model.score(u, history=history), -np.inf).astype(np.float32),
            split.test.user,
            split.test.item,
            seen,
            10,
        )
        out = {
            "model": name,
            "ndcg@10": round(result.metrics["ndcg@10"], 4),
            "warm_share_top10": round(float(warm[top[top >= 0]].mean()), 3),
            "cold_only_ndcg@10": round(cold_only, 4),
        }
        print("   ", json.dumps(out), flush=True)
        return out

    rows = [row("textknn", TextKNN(template="amazon-scientific").fit(split.train, data.catalog))]
    small = {"dim": 64, "n_layers": 1, "epochs": 8, "patience": 3, "progress": False, "num_threads": 1}
    for name, extra in (("lm-adapter (ID + text)", {}), ("lm-adapter (text only)", {"use_id": False})):
        model = LMAdapter(template="amazon-scientific", **small, **extra)
        model.fit(split.train, data.catalog, valid=split.valid)
        rows.append(row(name, model))
    return {
        "rows": rows,
        "catalogue_warm_share": round(float(warm.mean()), 3),
        "adapter_settings": small,
        "split": split.summary(),
    }


def part_plot(args: argparse.Namespace) -> dict[str, Any]:
    """Re-draw the few-shot plot from every ``cold_start_fewshot*.json`` (partial runs merged)."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(RESULTS.glob("cold_start_fewshot*.json")):
        for name, rows in json.loads(path.read_text())["results"].items():
            merged.setdefault(name, []).extend(rows)
    plot_fewshot(merged)
    return {"merged_from": sorted(p.name for p in RESULTS.glob("cold_start_fewshot*.json"))}


PARTS = {
    "cold": part_cold,
    "warm": part_warm,
    "fewshot": part_fewshot,
    "cross": part_cross,
    "tuned-fit": part_tuned_fit,
    "tuned": part_tuned,
    "diagnose": part_diagnose,
    "plot": part_plot,
}


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", action="append", choices=sorted(PARTS), default=[])
    parser.add_argument("--datasets", nargs="+", default=["amazon-scientific", "movielens-latest-small"])
    parser.add_argument("--models", nargs="+", default=["popularity", "itemknn", "textknn", "lm-adapter"])
    parser.add_argument("--target", default="movielens-latest-small", help="cross-domain target dataset")
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 on a shared machine)")
    parser.add_argument("--tuned-config", choices=sorted(TUNED_CONFIGS), default="query")
    parser.add_argument("--suffix", default="", help="appended to the result file name (partial runs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    default_parts = [p for p in PARTS if p not in ("plot", "tuned-fit", "tuned", "diagnose")]
    for part in args.part or default_parts:
        start = time.perf_counter()
        print(f"#### part {part}", flush=True)
        payload = {
            "part": part,
            "settings": {
                "datasets": args.datasets,
                "models": args.models,
                "seed": args.seed,
                "adapter": adapter_params(args.threads),
                "text_model": "all-MiniLM-L6-v2 (frozen), default templates per dataset",
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs, no GPU",
            },
            "results": PARTS[part](args),
        }
        payload["wall_seconds"] = round(time.perf_counter() - start, 1)
        payload["provenance"] = prov.finish()
        if part == "plot":
            continue
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = f"{part}_{args.tuned_config}_seed{args.seed}" if part == "tuned-fit" else part
        (RESULTS / f"cold_start_{name}{args.suffix}.json").write_text(json.dumps(payload, indent=2) + "\n")
        print(f"#### part {part} done in {payload['wall_seconds']} s", flush=True)


if __name__ == "__main__":
    main()
