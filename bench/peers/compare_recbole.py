"""RecBole (SASRec, BPR, LightGCN) side by side with explorec, on explorec's split, in one run.

``python bench/peers/compare_recbole.py --dataset amazon-scientific`` (after
``bash bench/peers/install.sh recbole``). Steps, all in one invocation:

1. The split is the one ``bench/neural.py`` uses (amazon-scientific and the S3-Rec sequences
   ``amazon-beauty`` / ``amazon-sports`` / ``amazon-toys``: their shipped leave-one-out split; MovieLens:
   ``leave_one_out`` by time). It is written as RecBole atomic files in its
   ``benchmark_filename`` layout under ``runs/peers/recbole/<results name>/`` (ignored by git; never
   into the repo):
   sequences (``user_id item_id_list item_id``, every training target with its preceding items,
   capped at the model's ``max_len``) for SASRec, plain ``user_id item_id`` rows for BPR and LightGCN.
   RecBole re-splits nothing.
2. ``--timing-rounds`` rounds, interleaved so that load changes hit both alike: explorec's SASRec trains
   ``--timing-epochs`` epochs, then RecBole's SASRec trains as many, same architecture size and
   sequence length, one torch thread each. Seconds and process CPU seconds per epoch.
3. Accuracy: each RecBole model trains with early stopping on valid NDCG@10 (``--epochs`` at most,
   ``--patience``), best epoch restored, in its own environment (``worker_recbole.py``); its top-K lists
   for the test users, every train + valid item masked, are scored with explorec's metrics; RecBole's
   own test metrics (its protocol; for SASRec it masks no history) are kept beside them. explorec's
   SASRec (``bench/neural.py``'s settings) and EASE / item-kNN run on the same split, and paired tests
   compare per-user NDCG@10.

RecBole runs with its own default hyper-parameters for each model (``recbole/properties/model/``)
except the sequence length (set to explorec's ``max_len``), the epochs budget and the patience; the
JSON lists them. On the S3-Rec datasets its SASRec instead takes the settings of explorec's
``--explorec-sasrec`` run of ``bench/neural.py s3rec`` (default ``sasrec-full-1b``: blocks, heads, size,
feed-forward size ``ffn_mult`` x dim, dropouts, learning rate, batch size, full softmax = RecBole's
``CE``), so the epoch times compare one model trained two ways. Writes
``bench/results/peers_recbole_<dataset>.json`` with the provenance record of ``bench/_provenance.py``
(RecBole's versions included).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: _provenance and neural
from _common import (
    RESULTS,
    WORK,
    K,
    load_topk,
    peer_versions,
    run_worker,
    save,
    score_lists,
    test_users,
    write_histories,
)

from _provenance import Provenance
from explorec.data.interactions import Split
from explorec.evaluation.significance import paired_test
from explorec.models.registry import make_model
from neural import OVERRIDES, RUNS, S3REC_DATASETS, load, run_one

RECBOLE_MODELS = {"sasrec": "SASRec", "bpr": "BPR", "lightgcn": "LightGCN"}
#: settings reported in the JSON (RecBole's defaults unless set below)
REPORT = {
    "SASRec": [
        "n_layers",
        "n_heads",
        "hidden_size",
        "inner_size",
        "hidden_dropout_prob",
        "attn_dropout_prob",
        "loss_type",
        "learning_rate",
        "train_batch_size",
        "MAX_ITEM_LIST_LENGTH",
        "epochs",
        "stopping_step",
        "eval_step",
    ],
    "BPR": ["embedding_size", "learning_rate", "train_batch_size", "epochs", "stopping_step", "eval_step"],
    "LightGCN": [
        "embedding_size",
        "n_layers",
        "reg_weight",
        "learning_rate",
        "train_batch_size",
        "epochs",
        "stopping_step",
        "eval_step",
    ],
}


def _seq_line(user: int, prefix: np.ndarray, target: int) -> str:
    return f"{user}\t{' '.join(map(str, prefix))}\t{target}\n"


def write_sequences(split: Split, folder: Path, name: str, max_len: int) -> dict[str, int]:
    """RecBole's sequential benchmark files: each target with the items before it (at most max_len)."""
    folder.mkdir(parents=True, exist_ok=True)
    train_seqs = split.train.sequences()
    valid_seqs = split.valid.sequences()
    test_seqs = split.test.sequences()
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    counts = {}
    for part in ("train", "valid", "test"):
        lines = [header]
        for u in range(split.train.n_users):
            s = train_seqs[u]
            if part == "train":
                lines += [_seq_line(u, s[max(0, t - max_len) : t], int(s[t])) for t in range(1, s.size)]
            elif part == "valid":
                for v in valid_seqs[u]:
                    if s.size:
                        lines.append(_seq_line(u, s[-max_len:], int(v)))
            else:
                before = np.concatenate([s, valid_seqs[u]])
                for t in test_seqs[u]:
                    if before.size:
                        lines.append(_seq_line(u, before[-max_len:], int(t)))
        (folder / f"{name}.{part}.inter").write_text("".join(lines))
        counts[part] = len(lines) - 1
    return counts


def write_pairs(split: Split, folder: Path, name: str) -> dict[str, int]:
    """RecBole's general benchmark files: one (user, item) row per interaction of each part."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for part, data in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        rows = "".join(f"{u}\t{i}\n" for u, i in zip(data.user.tolist(), data.item.tolist(), strict=True))
        (folder / f"{name}.{part}.inter").write_text("user_id:token\titem_id:token\n" + rows)
        counts[part] = len(data)
    return counts


def same_settings(params: dict[str, Any]) -> dict[str, Any]:
    """RecBole SASRec settings for explorec's SASRec ``params`` (full softmax only: RecBole's ``CE``)."""
    full = make_model("sasrec", **params).get_params()  # the model's own defaults fill the rest
    if full["loss"] != "full":
        raise SystemExit(
            f"--explorec-sasrec: RecBole's SASRec has no sampled softmax; pick a run with loss 'full', "
            f"got {full['loss']!r}"
        )
    return {
        "n_layers": full["n_layers"],
        "n_heads": full["n_heads"],
        "hidden_size": full["dim"],
        "inner_size": full["ffn_mult"] * full["dim"],
        "hidden_dropout_prob": full["dropout"],
        "attn_dropout_prob": full["attn_dropout"],
        "loss_type": "CE",
        "learning_rate": full["lr"],
        "train_batch_size": full["batch_size"],
    }


def recbole_config(
    model: str, args: argparse.Namespace, max_len: int, matched: dict[str, Any] | None = None
) -> dict[str, Any]:
    if model == "SASRec":
        return {
            **(matched or {}),
            "MAX_ITEM_LIST_LENGTH": max_len,
            "epochs": args.epochs,
            "stopping_step": args.patience,
            "eval_step": 1,
        }
    # BPR / LightGCN learn slowly per epoch at RecBole's default learning rate: validate every
    # second epoch, so that the patience covers 2 x patience epochs
    return {"epochs": args.general_epochs, "stopping_step": args.patience, "eval_step": 2}


def explorec_sasrec_timing(split: Split, params: dict[str, Any], epochs: int) -> list[dict[str, float]]:
    model = make_model("sasrec", **{**params, "epochs": epochs, "num_threads": 1})
    model.fit(split.train)
    return [
        {"epoch": e.epoch, "seconds": e.seconds, "cpu_seconds": e.cpu_seconds}
        for e in model.history_.epochs  # type: ignore[attr-defined]
    ]


def per_epoch(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "median_seconds_per_epoch": statistics.median(r["seconds"] for r in rows),
        "median_cpu_seconds_per_epoch": statistics.median(r["cpu_seconds"] for r in rows),
        "n_epochs": len(rows),
    }


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="amazon-scientific")
    parser.add_argument(
        "--models", default="sasrec,bpr,lightgcn", help=f"RecBole models: {list(RECBOLE_MODELS)}"
    )
    parser.add_argument("--epochs", type=int, default=40, help="SASRec: most epochs (early stopping)")
    parser.add_argument("--general-epochs", type=int, default=100, help="BPR / LightGCN: most epochs")
    parser.add_argument("--patience", type=int, default=5, help="validations without gain before stopping")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="wall seconds per RecBole training run: stop before an epoch that would overrun it "
        "(best validated checkpoint restored; the JSON says whether early stopping or the budget ended it)",
    )
    parser.add_argument("--timing-rounds", type=int, default=2, help="interleaved SASRec timing rounds")
    parser.add_argument("--timing-epochs", type=int, default=2, help="epochs per library per round")
    parser.add_argument("--skip-accuracy", action="store_true", help="only the interleaved timing rounds")
    parser.add_argument(
        "--explorec-runs",
        default=None,
        help="bench/neural.py runs scored beside RecBole (default: the timed SASRec run, ease, itemknn)",
    )
    parser.add_argument(
        "--explorec-sasrec",
        default=None,
        help="bench/neural.py run whose SASRec is timed (default: sasrec-id; on the S3-Rec datasets "
        "sasrec-full-1b, whose settings RecBole's SASRec then takes too)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default bench/results/peers_recbole_<dataset>.json"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    prov.add_peer("recbole", peer_versions("recbole", ("recbole", "torch", "numpy", "scipy", "pandas")))
    out_path = args.out or RESULTS / f"peers_recbole_{args.dataset}.json"
    models = [RECBOLE_MODELS[m] for m in args.models.split(",") if m]

    s3rec = args.dataset in S3REC_DATASETS
    shipped = args.dataset == "amazon-scientific" or s3rec
    data, split = load(args.dataset, "shipped" if shipped else "loo")
    table = RUNS["scientific" if args.dataset == "amazon-scientific" else "s3rec" if s3rec else "compare"]
    timed = args.explorec_sasrec or ("sasrec-full-1b" if s3rec else "sasrec-id")
    if timed not in table or table[timed][0] != "sasrec":
        raise SystemExit(
            f"--explorec-sasrec: {timed!r} is not a SASRec run of bench/neural.py for {args.dataset}"
        )
    sasrec_params = {**table[timed][1], **OVERRIDES.get(args.dataset, {}).get("sasrec", {})}
    matched = same_settings(sasrec_params) if s3rec else None
    runs = args.explorec_runs if args.explorec_runs is not None else f"{timed},ease,itemknn"
    explorec_runs = [r for r in runs.split(",") if r]
    unknown = [r for r in explorec_runs if r not in table]
    if unknown:
        raise SystemExit(
            f"--explorec-runs: unknown run(s) {unknown} for {args.dataset}; known: {sorted(table)}"
        )
    max_len = int(sasrec_params["max_len"])
    print(f"{args.dataset}: {split.summary()} n_items {split.train.n_items}", flush=True)

    work = WORK / "recbole" / out_path.stem  # one folder per results file: runs can go side by side
    shutil.rmtree(work, ignore_errors=True)
    name = "explorec"
    files = {
        "sequential": write_sequences(split, work / "seq" / name, name, max_len),
        "general": write_pairs(split, work / "general" / name, name),
    }
    users = test_users(split)
    write_histories(work / "histories.npz", users, split.test_history)
    doc: dict[str, Any] = {
        "settings": {
            "dataset": args.dataset,
            "split": split.name,
            "split_summary": split.summary(),
            "n_items": split.train.n_items,
            "recbole_files": files,
            "protocol": "explorec full ranking over all items, train + valid masked, test history = train + "
            "valid; RecBole's lists are scored by explorec.evaluation.evaluate_topk",
            "args": vars(args) | {"out": str(out_path)},
            "explorec_sasrec": {"run": timed, **sasrec_params},
            "recbole_sasrec_matched": matched,
        },
        "timing": {},
        "runs": {},
    }

    def job(model: str, timing_only: bool = False, epochs: int | None = None) -> dict[str, Any]:
        cfg = recbole_config(model, args, max_len, matched)
        if epochs is not None:
            cfg["epochs"] = epochs
        return {
            "data_path": str(work / ("seq" if model == "SASRec" else "general")),
            "dataset": name,
            "model": model,
            "config": cfg,
            "config_report": REPORT[model],
            "histories": str(work / "histories.npz"),
            "top_out": str(work / f"top_{model}.npz"),
            "n_items": split.train.n_items,
            "k": max(K),
            "timing_only": timing_only,
            "time_budget_seconds": None if timing_only else args.time_budget,
            "threads": 1,
        }

    # 2. interleaved timing: explorec SASRec epochs, then RecBole SASRec epochs, round after round
    if "SASRec" in models and args.timing_rounds > 0:
        rows: dict[str, list[dict[str, Any]]] = {"explorec": [], "recbole": []}
        for r in range(args.timing_rounds):
            ex = explorec_sasrec_timing(split, sasrec_params, args.timing_epochs)
            rows["explorec"] += [{**e, "round": r} for e in ex]
            rb = run_worker(
                "recbole", "worker_recbole.py", job("SASRec", True, args.timing_epochs), work / "timing"
            )
            rows["recbole"] += [{**e, "round": r} for e in rb["epochs"]]
            print(
                f"round {r}: explorec {[round(e['seconds'], 1) for e in ex]} s/epoch, "
                f"RecBole {[round(e['seconds'], 1) for e in rb['epochs']]} s/epoch",
                flush=True,
            )
        doc["timing"] = {
            "what": "SASRec training seconds per epoch, one torch thread each, interleaved rounds",
            "explorec": {**per_epoch(rows["explorec"]), "epochs": rows["explorec"]},
            "recbole": {
                **per_epoch(rows["recbole"]),
                "epochs": rows["recbole"],
                "train_rows": rb["train_rows"],
            },
        }
        ratio = (
            doc["timing"]["recbole"]["median_seconds_per_epoch"]
            / doc["timing"]["explorec"]["median_seconds_per_epoch"]
        )
        doc["timing"]["recbole_over_explorec"] = ratio
        print(f"timing: RecBole / explorec seconds per epoch = {ratio:.1f}", flush=True)
        doc["provenance"] = prov.finish()
        save(out_path, doc)
    if args.skip_accuracy:
        return

    # 3. accuracy, each library with early stopping on valid, scored by explorec's metrics
    per_user: dict[str, np.ndarray] = {}
    for model in models:
        res = run_worker("recbole", "worker_recbole.py", job(model), work / model)
        top = load_topk(work / f"top_{model}.npz")
        metrics, pu = score_lists(f"recbole-{model.lower()}", top, users, split.test, split.test_history)
        key = f"recbole-{model.lower()}"
        per_user[key] = pu
        secs = [e["seconds"] for e in res["epochs"]]
        doc["runs"][key] = {
            "library": "recbole",
            **res,
            "metrics": metrics,
            "n_test_users": int(users.size),
            "seconds_per_epoch": statistics.median(secs),
            "cpu_seconds_per_epoch": statistics.median(e["cpu_seconds"] for e in res["epochs"]),
            "train_seconds_to_best": sum(secs[: res["best_epoch"]]),
            "budget": f"at most {res['config'].get('epochs')} epochs, stopping_step {args.patience}"
            + (f", {args.time_budget:.0f} wall seconds" if args.time_budget else ""),
        }
        print(
            f"{key:<18} ndcg@10 {metrics['ndcg@10']:.4f} recall@10 {metrics['recall@10']:.4f} "
            f"(RecBole's own: {res['recbole_own_test_metrics'].get('ndcg@10', float('nan')):.4f}) "
            f"{res['epochs_run']} epochs (best {res['best_epoch']}, stopped by {res['stopped_by']}), "
            f"{statistics.median(secs):.1f} s/epoch",
            flush=True,
        )
        doc["provenance"] = prov.finish()
        save(out_path, doc)
    for run in explorec_runs:
        model_name, params = table[run]
        params = {**params, **OVERRIDES.get(args.dataset, {}).get(model_name, {})}
        started = time.perf_counter()
        res, _, result = run_one(model_name, params, split, data.catalog, 1)
        if not np.array_equal(result.users, users):
            raise SystemExit(f"explorec {run}: evaluated users differ from RecBole's")
        per_user[f"explorec-{run}"] = np.asarray(result.per_user["ndcg@10"], dtype=np.float64)
        doc["runs"][f"explorec-{run}"] = {
            "library": "explorec",
            **res,
            "wall_seconds": time.perf_counter() - started,
        }
        print(
            f"explorec-{run:<9} ndcg@10 {res['metrics']['ndcg@10']:.4f} "
            f"recall@10 {res['metrics']['recall@10']:.4f}"
        )
        doc["provenance"] = prov.finish()
        save(out_path, doc)
    doc["significance"] = {
        f"{a} vs {b}": paired_test(per_user[a], per_user[b])
        for a in per_user
        for b in per_user
        if a.startswith("explorec") and b.startswith("recbole")
    }
    doc["provenance"] = prov.finish()
    save(out_path, doc)


if __name__ == "__main__":
    main()
