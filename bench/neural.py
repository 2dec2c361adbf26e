"""Neural models (SASRec, two-tower) by full ranking on real data, with ablations and timings.

Experiments (``python bench/neural.py EXPERIMENT [options]``):

* ``scientific``: ``amazon-scientific`` with its shipped leave-one-out split. SASRec with ID, text and
  ID+text items, plus the objective ablations (contrastive, adversarial) and the two-tower model.
  Early stopping on valid NDCG@10 (history = train), test with history = train + valid.
* ``compare``: ``--dataset movielens-latest-small``, ``movielens-100k`` or ``amazon-beauty``,
  leave-one-out by time (``explorec.data.splits.leave_one_out``): SASRec and two-tower against
  popularity / item-kNN / EASE, with paired t-test and Wilcoxon tests on per-user NDCG@10
  (``explorec.evaluation.significance``).
* ``s3rec``: ``--dataset amazon-beauty``, ``amazon-sports`` or ``amazon-toys`` with the shipped S3-Rec
  leave-one-out split (issue 15): SASRec with sampled softmax (the eSASRec benchmark's configuration)
  and its variants, each over ``--seeds``, against popularity / item-kNN / EASE. The summary gives mean
  ± sd over seeds and paired tests of every seed (and of the seed-averaged per-user NDCG@10) against the
  baseline with the best *validation* NDCG@10.
* ``threads``: seconds per SASRec epoch on Scientific with 1 and 2 torch threads, side by side.
* ``speed``: time to accuracy on Scientific. SASRec (ID items) is trained while the *test* NDCG@10 is
  measured after every epoch (a measurement only: nothing is selected on it), to find the training
  time at which it first matches RecBole's SASRec. RecBole's number is never typed in here: it is read
  from the results file that ``bench/peers/compare_recbole.py`` wrote when it ran RecBole on this same split
  (``--peer-results``, default ``bench/results/peers_recbole_amazon-scientific_sasrec.json``).

``--runs a,b,c`` picks named runs of an experiment (default: all). Each run prints its settings with its
numbers and is merged into ``bench/results/neural_<experiment>[_<dataset>].json`` (so runs can be
spread over several invocations). Item text vectors come from ``explorec.encoders.item_vectors``,
cached outside the repository (``~/.cache/explorec/embeddings``). Every results file carries the
provenance record of ``bench/_provenance.py`` (each merged run its own).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import platform
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _provenance import Provenance
from explorec.data.interactions import Catalog, Dataset, Split
from explorec.data.registry import load_dataset
from explorec.data.splits import leave_one_out
from explorec.evaluation import evaluate
from explorec.evaluation.significance import paired_test
from explorec.models.base import Recommender
from explorec.models.registry import make_model
from explorec.models.torch_base import TorchRecommender

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
K = (10, 20, 50)
MACHINE = "2-core shared CPU, no GPU (about 7 other workers running; timings are noisy)"

SASREC: dict[str, Any] = {
    "dim": 64,
    "n_layers": 2,
    "n_heads": 2,
    "max_len": 50,
    "dropout": 0.5,
    "attn_dropout": 0.2,
    "lr": 2e-3,
    "batch_size": 128,
    "epochs": 200,
    "patience": 5,
    "weight_decay": 0.0,
    "progress": False,
    "device": "cpu",
}
TWO_TOWER: dict[str, Any] = {
    "dim": 64,
    "hidden": 128,
    "max_len": 50,
    "dropout": 0.1,
    "temperature": 0.05,
    "lr": 1e-3,
    "batch_size": 1024,
    "epochs": 200,
    "patience": 5,
    "progress": False,
    "device": "cpu",
}

#: experiment -> run name -> (model name, params)
RUNS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "scientific": {
        # baselines with the settings bench/baselines.py picked on this split's validation part
        "popularity": ("popularity", {}),
        "itemknn": ("itemknn", {"k": 400, "shrinkage": 50.0, "progress": False}),
        "ease": ("ease", {"l2": 50.0}),
        "sasrec-id": ("sasrec", {**SASREC, "item_input": "id"}),
        "sasrec-text": ("sasrec", {**SASREC, "item_input": "text"}),
        "sasrec-id+text": ("sasrec", {**SASREC, "item_input": "id+text"}),
        "sasrec-id+text+cl": ("sasrec", {**SASREC, "item_input": "id+text", "cl_weight": 0.1}),
        "sasrec-id+text+adv": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 0.5, "adv_epsilon": 0.1},
        ),
        "sasrec-id+cl": ("sasrec", {**SASREC, "item_input": "id", "cl_weight": 0.1}),
        "sasrec-id+adv": ("sasrec", {**SASREC, "item_input": "id", "adv_weight": 0.5, "adv_epsilon": 0.1}),
        "two-tower-id": ("two-tower", {**TWO_TOWER, "item_input": "id"}),
        "two-tower-id+text": ("two-tower", {**TWO_TOWER, "item_input": "id+text"}),
        # a small grid around the adversarial setting; the pick is made on valid NDCG@10 only
        "sasrec-id+text+adv-w1-e0.1": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 1.0, "adv_epsilon": 0.1},
        ),
        "sasrec-id+text+adv-w0.5-e0.3": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 0.5, "adv_epsilon": 0.3},
        ),
        "sasrec-id+text+adv-w1-e0.3": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 1.0, "adv_epsilon": 0.3},
        ),
        "sasrec-id+text+adv-w1-e0.6": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 1.0, "adv_epsilon": 0.6},
        ),
        "sasrec-id+text+adv-w1-e1": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 1.0, "adv_epsilon": 1.0},
        ),
        "sasrec-id+text+adv-w2-e0.3": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 2.0, "adv_epsilon": 0.3},
        ),
        "sasrec-id+text+adv-d128": (
            "sasrec",
            {**SASREC, "item_input": "id+text", "adv_weight": 0.5, "adv_epsilon": 0.1, "dim": 128},
        ),
    },
    "compare": {
        "popularity": ("popularity", {}),
        "itemknn": ("itemknn", {"k": 200, "shrinkage": 10.0, "progress": False}),
        "ease": ("ease", {"l2": 500.0}),
        "sasrec-id": ("sasrec", {**SASREC, "item_input": "id"}),
        "sasrec-id+text": ("sasrec", {**SASREC, "item_input": "id+text"}),
        "two-tower-id": ("two-tower", {**TWO_TOWER, "item_input": "id"}),
        "two-tower-id+text": ("two-tower", {**TWO_TOWER, "item_input": "id+text"}),
        # the adversarial setting picked on amazon-scientific's validation part, carried over unchanged
        "sasrec-id+adv": ("sasrec", {**SASREC, "item_input": "id", "adv_weight": 1.0, "adv_epsilon": 0.6}),
        "sasrec-id+genre": (
            "sasrec",
            {**SASREC, "item_input": "id", "category_attribute": "genre", "category_weight": 0.5},
        ),
    },
}
#: SASRec with sampled softmax as the eSASRec benchmark (RecSys 2025, blondered/transformer_benchmark)
#: published it for the S3-Rec splits: one block, one head, dim 64, dropout 0.2, max length 50, 256
#: uniform negatives, lr 1e-3, up to 200 epochs, patience 50. Their epoch budget does not fit this
#: shared CPU (an epoch of Beauty costs 3 CPU-s but ~23 s of wall time at load 12, and one full-ranking
#: validation of 22k users ~75 s): batches of 256 at lr 2e-3 (half the steps per epoch, the lr scaled
#: with the batch), validation every 5 epochs, patience 4 validations (20 epochs), at most 150 epochs.
SASREC_SS: dict[str, Any] = {
    "dim": 64,
    "n_layers": 1,
    "n_heads": 1,
    "max_len": 50,
    "dropout": 0.2,
    "attn_dropout": 0.2,
    "loss": "sampled",
    "n_negatives": 256,
    "negative_sharing": "position",
    "lr": 2e-3,
    "batch_size": 256,
    "epochs": 150,
    "patience": 4,
    "validate_every": 5,
    "weight_decay": 0.0,
    "progress": False,
    "device": "cpu",
}
#: the cheap objective: 2,048 negatives shared by the batch
SASREC_SS_BATCH2048: dict[str, Any] = {**SASREC_SS, "negative_sharing": "batch", "n_negatives": 2048}
#: the fourth session's pick on Beauty's and Toys' validation: two blocks, dropout 0.5, random batches
SASREC_SS_RANDOM_2B: dict[str, Any] = {
    **SASREC_SS_BATCH2048,
    "n_layers": 2,
    "dropout": 0.5,
    "attn_dropout": 0.5,
    "batching": "random",
}
RUNS["s3rec"] = {
    "popularity": ("popularity", {}),
    "itemknn": ("itemknn", {"k": 200, "shrinkage": 10.0, "progress": False}),
    "ease": ("ease", {"l2": 500.0}),
    "sasrec-ss": ("sasrec", SASREC_SS),
    # the variants compared on amazon-beauty's validation part to pick the configuration
    # 256 negatives shared by the whole batch (the code before negative_sharing existed)
    "sasrec-ss-batch": ("sasrec", {**SASREC_SS, "negative_sharing": "batch"}),
    # a larger shared set: each position sees 2,048 negatives at a fraction of the per-position cost
    "sasrec-ss-batch2048": ("sasrec", SASREC_SS_BATCH2048),
    # the same for a fixed 20 epochs (a budget set by the clock of a loaded machine, not by any test
    # result), validated once at the end: a test figure when the early-stopped run cannot finish
    "sasrec-ss-batch2048-e20": (
        "sasrec",
        {
            **SASREC_SS_BATCH2048,
            "epochs": 20,
            "validate_every": 20,
            "patience": 1,
        },
    ),
    # SASRec's own Beauty regularisation (Kang & McAuley: two blocks, dropout 0.5) on the cheap
    # objective above, which peaked at epoch 30 on Beauty's validation part and then overfitted
    "sasrec-ss-batch2048-2b-d0.5": (
        "sasrec",
        {
            **SASREC_SS_BATCH2048,
            "n_layers": 2,
            "dropout": 0.5,
            "attn_dropout": 0.5,
        },
    ),
    # the picked configuration with the adversarial setting picked on amazon-scientific's validation
    # part (issue 4: weight 1, epsilon 0.6), about 2.5x the CPU per epoch
    "sasrec-ss-batch2048-2b-d0.5-adv": (
        "sasrec",
        {
            **SASREC_SS_BATCH2048,
            "n_layers": 2,
            "dropout": 0.5,
            "attn_dropout": 0.5,
            "adv_weight": 1.0,
            "adv_epsilon": 0.6,
        },
    ),
    # the size the eSASRec benchmark's S3-Rec configurations actually ran (configs/paper/loo/*.yaml:
    # n_factors 256; its README table says 64) with RecTools' feed-forward width (1 x dim)
    "sasrec-ss-batch2048-d256": (
        "sasrec",
        {**SASREC_SS_BATCH2048, "dim": 256, "ffn_mult": 1},
    ),
    # 256 negatives per sequence, shared by its positions (negative_sharing="sequence"): as cheap as
    # the shared 2,048 (one batched product) with 256 x batch_size distinct negatives per batch
    "sasrec-ss-seq256-2b-d0.5": (
        "sasrec",
        {**SASREC_SS, "negative_sharing": "sequence", "n_layers": 2, "dropout": 0.5, "attn_dropout": 0.5},
    ),
    "sasrec-ss-seq256": ("sasrec", {**SASREC_SS, "negative_sharing": "sequence"}),
    # 2,048 per sequence: the logits of the shared 2,048 ([positions, 2,048]) from 2,048 x batch_size draws
    "sasrec-ss-seq2048-2b-d0.5": (
        "sasrec",
        {
            **SASREC_SS,
            "negative_sharing": "sequence",
            "n_negatives": 2048,
            "n_layers": 2,
            "dropout": 0.5,
            "attn_dropout": 0.5,
        },
    ),
    # the block layout and initialisation of SASRec's authors, which RecTools (and so the eSASRec
    # benchmark) keeps: residuals from the normalised input, ReLU feed-forward of width 1 x dim,
    # Xavier-normal matrices (the item table starts near zero)
    "sasrec-ss-batch2048-kang": (
        "sasrec",
        {**SASREC_SS_BATCH2048, "block": "sasrec", "init": "xavier", "ffn_mult": 1},
    ),
    "sasrec-ss-batch2048-2b-d0.5-kang": (
        "sasrec",
        {
            **SASREC_SS_BATCH2048,
            "n_layers": 2,
            "dropout": 0.5,
            "attn_dropout": 0.5,
            "block": "sasrec",
            "init": "xavier",
            "ffn_mult": 1,
        },
    ),
    # plain shuffled batches (RecTools' order): every position weighs the same in the loss, where the
    # length-bucketed batches weigh every sequence about the same
    "sasrec-ss-batch2048-random": ("sasrec", {**SASREC_SS_BATCH2048, "batching": "random"}),
    "sasrec-ss-batch2048-2b-d0.5-random": ("sasrec", SASREC_SS_RANDOM_2B),
    # the pick with twice the shared negatives: the full softmax (all 12,101 of Beauty's items) beat the
    # shared 2,048 on validation under length buckets, but costs ~3x the CPU per epoch on random batches
    "sasrec-ss-batch4096-2b-d0.5-random": ("sasrec", {**SASREC_SS_RANDOM_2B, "n_negatives": 4096}),
    # the same with each item's S3-Rec attributes (category and brand ids) added to its ID embedding as
    # the mean of their learned embeddings: rare items borrow from the frequent ones sharing a brand
    "sasrec-ss-batch4096-2b-d0.5-random-attr": (
        "sasrec",
        {**SASREC_SS_RANDOM_2B, "n_negatives": 4096, "item_input": "id+attributes"},
    ),
    # Sports, seventh session: the attribute run above with twice the shared negatives, and with twice the
    # width (Sports has 1.5x Beauty's items and 1.6x its users; the eSASRec benchmark ran dim 256)
    "sasrec-ss-batch8192-2b-d0.5-random-attr": (
        "sasrec",
        {**SASREC_SS_RANDOM_2B, "n_negatives": 8192, "item_input": "id+attributes"},
    ),
    "sasrec-ss-batch4096-2b-d0.5-random-attr-d128": (
        "sasrec",
        {**SASREC_SS_RANDOM_2B, "n_negatives": 4096, "item_input": "id+attributes", "dim": 128},
    ),
    # the pick (random batches) with the adversarial setting picked on amazon-scientific's validation part
    "sasrec-ss-batch2048-2b-d0.5-random-adv": (
        "sasrec",
        {**SASREC_SS_RANDOM_2B, "adv_weight": 1.0, "adv_epsilon": 0.6},
    ),
    # RecTools' SASRec as the eSASRec benchmark ran it: the authors' block and Xavier init (above) and
    # no key-padding mask, so every position also attends to the zeroed left padding (pad_attention="sink")
    "sasrec-ss-batch2048-rt": (
        "sasrec",
        {**SASREC_SS_BATCH2048, "block": "sasrec", "init": "xavier", "ffn_mult": 1, "pad_attention": "sink"},
    ),
    "sasrec-ss-batch2048-sink": ("sasrec", {**SASREC_SS_BATCH2048, "pad_attention": "sink"}),
    # the two-block configuration on random batches, with RecTools' feed-forward width (1 x dim): the
    # feed-forward layer over the padded positions is most of a random batch's cost
    "sasrec-ss-batch2048-2b-d0.5-random-f1": ("sasrec", {**SASREC_SS_RANDOM_2B, "ffn_mult": 1}),
    # length buckets (cheap) with every position weighing the same (as the random batches above)
    "sasrec-ss-batch2048-pw": ("sasrec", {**SASREC_SS_BATCH2048, "weighting": "position"}),
    "sasrec-ss-batch2048-2b-d0.5-pw": (
        "sasrec",
        {**SASREC_SS_BATCH2048, "n_layers": 2, "dropout": 0.5, "attn_dropout": 0.5, "weighting": "position"},
    ),
    "sasrec-ss-d0.3": ("sasrec", {**SASREC_SS, "dropout": 0.3}),
    "sasrec-ss-neg1024": ("sasrec", {**SASREC_SS, "n_negatives": 1024}),
    "sasrec-ss-2b": ("sasrec", {**SASREC_SS, "n_layers": 2, "n_heads": 2}),
    "sasrec-full-1b": ("sasrec", {**SASREC_SS, "loss": "full"}),
    # the pick's regularisation and random batches with the full softmax over every item, which beat the
    # shared 2,048 on Beauty's validation part under length buckets (issue 4: 0.0618 against 0.0600)
    "sasrec-full-2b-d0.5-random": (
        "sasrec",
        {
            **SASREC_SS,
            "loss": "full",
            "n_layers": 2,
            "dropout": 0.5,
            "attn_dropout": 0.5,
            "batching": "random",
        },
    ),
    "sasrec-ss-published": ("sasrec", {**SASREC_SS, "batch_size": 128, "lr": 1e-3}),
}
S3REC_DATASETS = ("amazon-beauty", "amazon-sports", "amazon-toys")
#: dataset -> model -> settings that replace the defaults above. MovieLens has few (610 or 943) users with
#: long sequences: smaller batches give enough optimiser steps per epoch, less dropout suits the denser
#: data, and its few validation users make valid NDCG@10 noisy, hence more patience.
MOVIELENS_OVERRIDES: dict[str, dict[str, Any]] = {
    "sasrec": {"batch_size": 32, "dropout": 0.2, "max_len": 100, "patience": 10},
    "two-tower": {"batch_size": 256, "patience": 10},
}
OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "movielens-latest-small": MOVIELENS_OVERRIDES,
    "movielens-100k": MOVIELENS_OVERRIDES,
}
#: per-user NDCG@10 of every run, kept outside the repository for the significance tests
PER_USER_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "explorec" / "bench-neural"


def load(name: str, split_method: str) -> tuple[Dataset, Split]:
    data = load_dataset(name)
    if "genres" in data.catalog.fields:
        # the first listed genre, as a categorical attribute for the multi-task run
        first = np.array(
            [str(g).split(",")[0].split("|")[0].strip() for g in data.catalog.field("genres")], dtype=object
        )
        catalog = Catalog(
            data.catalog.item_ids, data.catalog.fields, {**data.catalog.attributes, "genre": first}
        )
        data = Dataset(data.name, data.interactions, catalog, data.user_features, data.split, data.source)
    if split_method == "shipped":
        if data.split is None:
            raise SystemExit(f"{name} ships no split")
        return data, data.split
    return data, leave_one_out(data.interactions)


def run_one(
    model_name: str,
    params: dict[str, Any],
    split: Split,
    catalog: Catalog,
    threads: int | None,
    *,
    with_valid: bool = False,
) -> tuple[dict[str, Any], Recommender, Any]:
    """Fit (early stopping on valid for neural models), test with history = train + valid."""
    if threads is not None and model_name in ("sasrec", "two-tower"):
        params = {**params, "num_threads": threads}
    model = make_model(model_name, **params)
    start = time.perf_counter()
    if isinstance(model, TorchRecommender):
        model.fit(split.train, catalog, valid=split.valid)
    else:
        model.fit(split.train, catalog)
    fit_seconds = time.perf_counter() - start
    valid_ndcg = None
    if with_valid and not isinstance(model, TorchRecommender):
        # the neural models report their restored best epoch's valid NDCG@10; the same for the
        # baselines, to compare validation-to-test drops
        valid_ndcg = float(evaluate(model, split.valid, history=split.train, k=(10,)).metrics["ndcg@10"])
    result = evaluate(model, split.test, history=split.test_history, k=K)
    out: dict[str, Any] = {
        "model": model_name,
        "params": params,
        "metrics": {
            k: float(v) for k, v in result.metrics.items() if k.split("@")[0] in ("ndcg", "recall", "mrr")
        },
        "n_test_users": int(result.users.size),
        "fit_seconds": fit_seconds,
        "eval_seconds": float(result.seconds),
    }
    if valid_ndcg is not None:
        out["valid_ndcg@10"] = valid_ndcg
    if isinstance(model, TorchRecommender):
        hist = model.history_
        best = hist.best_epoch
        out |= {
            "epochs_run": len(hist.epochs),
            "best_epoch": best,
            "best_valid_ndcg@10": hist.best_metric,
            "seconds_per_epoch": hist.seconds_per_epoch,
            "cpu_seconds_per_epoch": float(np.median([e.cpu_seconds for e in hist.epochs])),
            "valid_seconds_per_epoch": float(np.median([e.valid_seconds for e in hist.epochs])),
            "train_seconds_to_best": float(sum(e.seconds for e in hist.epochs[:best])),
            "wall_seconds_to_best": float(sum(e.seconds + e.valid_seconds for e in hist.epochs[:best])),
            "curve": [
                {
                    "epoch": e.epoch,
                    "loss": round(e.loss, 4),
                    "valid_ndcg@10": e.metric,
                    "s": round(e.seconds, 2),
                }
                for e in hist.epochs
            ],
        }
    return out, model, result


def save(path: Path, settings: dict[str, Any], runs: dict[str, Any], prov: Provenance) -> None:
    """Merge ``runs`` into the results file (earlier runs and significance tests are kept).

    Runs are merged from several invocations, so each new run carries its own provenance record, and
    the top-level one is that of the latest invocation.
    """
    with locked(path):
        _save(path, settings, runs, prov)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``path``: runs of one dataset may finish in parallel processes."""
    PER_USER_DIR.mkdir(parents=True, exist_ok=True)
    with (PER_USER_DIR / f"{path.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _save(path: Path, settings: dict[str, Any], runs: dict[str, Any], prov: Provenance) -> None:
    old = json.loads(path.read_text()) if path.is_file() else {}
    record = prov.finish()
    runs = {name: {**res, "provenance": record} for name, res in runs.items()}
    doc = {
        "settings": settings,
        "machine": machine(),
        "provenance": record,
        "runs": {**old.get("runs", {}), **runs},
    }
    if "significance" in old:
        doc["significance"] = old["significance"]
    path.write_text(json.dumps(doc, indent=2, default=float))


def machine() -> dict[str, Any]:
    return {
        "description": MACHINE,
        "cpu_count": os.cpu_count(),
        "processor": platform.machine(),
        "torch": torch.__version__,
        "torch_threads_default": torch.get_num_threads(),
    }


def describe(name: str, res: dict[str, Any]) -> str:
    m = res["metrics"]
    line = (
        f"{name:<22} ndcg@10 {m['ndcg@10']:.4f} recall@10 {m['recall@10']:.4f} "
        f"ndcg@50 {m['ndcg@50']:.4f} fit {res['fit_seconds']:.0f}s"
    )
    if "epochs_run" in res:
        line += (
            f" | {res['epochs_run']} epochs (best {res['best_epoch']}, "
            f"valid {res['best_valid_ndcg@10']:.4f}),"
            f" {res['seconds_per_epoch']:.1f} s/epoch (cpu {res['cpu_seconds_per_epoch']:.1f} s),"
            f" {res['train_seconds_to_best']:.0f}s train to best"
        )
    return line


def experiment_runs(
    experiment: str, dataset: str, split: Split, catalog: Catalog, args: argparse.Namespace, prov: Provenance
) -> None:
    table = RUNS[experiment]
    names = args.runs.split(",") if args.runs else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"--runs: unknown run(s) {unknown} for {experiment}; known: {sorted(table)}")
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [None]
    suffix = "" if experiment == "scientific" else f"_{dataset}"
    path = RESULTS / f"neural_{experiment}{suffix}.json"
    settings = {
        "dataset": dataset,
        "split": split.name,
        "split_summary": split.summary(),
        "n_items": split.train.n_items,
        "protocol": "full ranking over all items, history masked; test history = train + valid",
        "early_stopping": (
            "valid NDCG@10 (history = train), best epoch restored; patience counts validations "
            "(5 unless a run's params say otherwise), validation every `validate_every` epochs"
        ),
        "k": list(K),
    }
    cache = PER_USER_DIR / path.stem
    cache.mkdir(parents=True, exist_ok=True)
    for base in [] if args.summary_only else names:
        model_name, params = table[base]
        params = {**params, **OVERRIDES.get(dataset, {}).get(model_name, {})}
        neural = model_name in ("sasrec", "two-tower")
        for seed in seeds if neural else [None]:
            name = base if seed is None else f"{base}-s{seed}"
            run_params = params if seed is None else {**params, "seed": seed}
            res, _, result = run_one(
                model_name, run_params, split, catalog, args.threads, with_valid=experiment == "s3rec"
            )
            np.save(cache / f"{name}.npy", result.per_user["ndcg@10"])
            print(describe(name, res), flush=True)
            save(path, settings, {name: res}, prov)
    if experiment == "s3rec":
        seed_summary(path, cache)
    else:
        significance(path, cache)


BASELINES = ("popularity", "itemknn", "ease")


def seed_summary(path: Path, cache: Path) -> None:
    """Mean ± sd over seeds per configuration, and paired tests against the best baseline.

    The best baseline is the one with the highest *validation* NDCG@10 (picked like everything else).
    Each seed is tested on its own, and the per-user NDCG@10 averaged over the seeds is tested too.
    """
    with locked(path):
        _seed_summary(path, cache)


def _seed_summary(path: Path, cache: Path) -> None:
    doc = json.loads(path.read_text())
    runs = doc["runs"]
    base = [b for b in BASELINES if b in runs and "valid_ndcg@10" in runs[b]]
    best = max(base, key=lambda b: runs[b]["valid_ndcg@10"]) if base else None
    groups: dict[str, list[str]] = {}
    for name in runs:
        if name not in BASELINES:
            groups.setdefault(re.sub(r"-s\d+$", "", name), []).append(name)
    previous: dict[str, Any] = doc.get("summary", {})
    if previous.get("best_baseline_by_valid") != best:
        previous = {}
    summary: dict[str, Any] = {"best_baseline_by_valid": best}
    for config, members in sorted(groups.items()):
        members.sort()

        def stat(key: str, members: list[str] = members) -> dict[str, float]:
            vals = np.array(
                [float(runs[m][key] if key in runs[m] else runs[m]["metrics"][key]) for m in members]
            )
            return {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0}

        row: dict[str, Any] = {"runs": members, "n_seeds": len(members)}
        for key in ("ndcg@10", "recall@10", "ndcg@50"):
            row[key] = stat(key)
        for key in (
            "best_valid_ndcg@10",
            "seconds_per_epoch",
            "cpu_seconds_per_epoch",
            "best_epoch",
            "train_seconds_to_best",
            "wall_seconds_to_best",
            "fit_seconds",
        ):
            if all(key in runs[m] for m in members):
                row[key] = stat(key)
        # the per-user caches live outside the repository (PER_USER_DIR): a seed whose cache is gone
        # (another machine) keeps the test recorded when its cache existed, and the seed-mean test is
        # recomputed only when every seed's cache is there
        old = previous.get(config, {})
        tests: dict[str, Any] = dict(old.get(f"vs {best}", {}))
        seed_mean = old.get(f"seed-mean vs {best}") if old.get("runs") == members else None
        have_ref = best is not None and (cache / f"{best}.npy").is_file()
        if have_ref:
            ref = np.load(cache / f"{best}.npy")
            per = {m: np.load(cache / f"{m}.npy") for m in members if (cache / f"{m}.npy").is_file()}
            tests.update({m: paired_test(v, ref) for m, v in per.items() if v.size == ref.size})
            if len(per) == len(members):
                seed_mean = paired_test(np.mean(list(per.values()), axis=0), ref)
        if have_ref or f"vs {best}" in old:
            row[f"vs {best}"] = {m: tests[m] for m in members if m in tests}
        if seed_mean is not None:
            row[f"seed-mean vs {best}"] = seed_mean
        summary[config] = row
        print(
            f"{config:<22} n={len(members)} ndcg@10 {row['ndcg@10']['mean']:.4f} ± {row['ndcg@10']['sd']:.4f}"
            + (f" valid {row['best_valid_ndcg@10']['mean']:.4f}" if "best_valid_ndcg@10" in row else ""),
            flush=True,
        )
    doc["summary"] = summary
    path.write_text(json.dumps(doc, indent=2, default=float))


def significance(path: Path, cache: Path) -> None:
    """Paired t-test and Wilcoxon test on per-user NDCG@10 for every pair of runs measured so far."""
    per_user = {p.stem: np.load(p) for p in sorted(cache.glob("*.npy"))}
    sig = {}
    for a in per_user:
        for b in per_user:
            if a < b and per_user[a].size == per_user[b].size:
                s = sig[f"{a} vs {b}"] = paired_test(per_user[a], per_user[b])
                print(
                    f"  {a} vs {b}: diff {s['mean_diff']:+.4f} t-p {s['t_pvalue']:.2g} "
                    f"wilcoxon-p {s['wilcoxon_pvalue']:.2g}",
                    flush=True,
                )
    with locked(path):  # another process may be merging a run into the same file
        doc = json.loads(path.read_text())
        doc["significance"] = sig
        path.write_text(json.dumps(doc, indent=2, default=float))


def threads_experiment(split: Split, catalog: Catalog, epochs: int, prov: Provenance) -> None:
    """Seconds per epoch with 1 vs 2 threads, interleaved so that load changes hit both alike."""
    rows: dict[str, list[float]] = {"1": [], "2": []}
    for _ in range(2):
        for threads in (1, 2):
            params = {**SASREC, "item_input": "id", "epochs": epochs, "num_threads": threads}
            model = make_model("sasrec", **params)
            model.fit(split.train, catalog)
            per_epoch = [e.seconds for e in model.history_.epochs[1:]]  # type: ignore[attr-defined]
            rows[str(threads)].extend(per_epoch)
            print(f"threads {threads}: epochs {[round(s, 2) for s in per_epoch]}", flush=True)
    out = {k: {"median_seconds_per_epoch": float(np.median(v)), "epochs": v} for k, v in rows.items()}
    print({k: round(v["median_seconds_per_epoch"], 2) for k, v in out.items()})
    (RESULTS / "neural_threads.json").write_text(
        json.dumps(
            {
                "settings": {"model": "sasrec-id", **SASREC, "epochs": epochs},
                "machine": machine(),
                "threads": out,
                "provenance": prov.finish(),
            },
            indent=2,
        )
    )


def recbole_target(path: Path) -> dict[str, Any]:
    """RecBole SASRec's test result on this split, as ``bench/peers/compare_recbole.py`` measured it."""
    if not path.is_file():
        raise SystemExit(
            f"{path}: no RecBole results; first run "
            "`python bench/peers/compare_recbole.py --dataset amazon-scientific --models sasrec "
            "--out bench/results/peers_recbole_amazon-scientific_sasrec.json`"
        )
    doc = json.loads(path.read_text())
    try:
        run = doc["runs"]["recbole-sasrec"]
    except KeyError:
        raise SystemExit(f"{path}: no run 'recbole-sasrec' (runs: {sorted(doc.get('runs', {}))})") from None
    return {
        "source": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "commit": doc.get("provenance", {}).get("git", {}).get("commit"),
        "test_ndcg@10": run["metrics"]["ndcg@10"],
        "epochs_run": run.get("epochs_run"),
        "seconds_per_epoch": run.get("seconds_per_epoch"),
        "budget": run.get("budget"),
    }


def speed_experiment(
    split: Split, catalog: Catalog, threads: int | None, epochs: int, peer: Path, prov: Provenance
) -> None:
    """Training seconds until the test NDCG@10 first reaches that of RecBole's SASRec on this split."""
    recbole = recbole_target(peer)
    target = float(recbole["test_ndcg@10"])
    params = {**SASREC, "item_input": "id", "epochs": epochs, "patience": epochs, "num_threads": threads}
    model = make_model("sasrec", **params)
    assert isinstance(model, TorchRecommender)
    model.fit(split.train, catalog, valid=split.test, valid_history=split.test_history)
    curve, train_s, cpu_s, reached = [], 0.0, 0.0, None
    for e in model.history_.epochs:
        train_s += e.seconds
        cpu_s += e.cpu_seconds
        curve.append(
            {
                "epoch": e.epoch,
                "test_ndcg@10": e.metric,
                "train_s": round(train_s, 1),
                "cpu_s": round(cpu_s, 1),
            }
        )
        if reached is None and e.metric is not None and e.metric >= target:
            reached = {
                "epoch": e.epoch,
                "train_seconds": train_s,
                "cpu_seconds": cpu_s,
                "test_ndcg@10": e.metric,
            }
    print(f"reached RecBole's test NDCG@10 {target}: {reached}", flush=True)
    doc = {
        "settings": {
            **params,
            "measured": "test NDCG@10 after every epoch (history = train + valid); no selection",
        },
        "machine": machine(),
        "recbole_sasrec": recbole,
        "reached": reached,
        "curve": curve,
        "provenance": prov.finish(),
    }
    (RESULTS / "neural_speed.json").write_text(json.dumps(doc, indent=2))


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", choices=("scientific", "compare", "s3rec", "threads", "speed"))
    parser.add_argument("--dataset", default="movielens-latest-small")
    parser.add_argument("--runs", default="", help="comma-separated run names (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the neural models")
    parser.add_argument(
        "--summary-only", action="store_true", help="s3rec: only recompute the summary of the results file"
    )
    parser.add_argument(
        "--seeds", default="", help="comma-separated seeds for the neural runs (run names get -s<seed>)"
    )
    parser.add_argument("--epochs", type=int, default=4, help="epochs (threads: per measurement; speed: all)")
    parser.add_argument(
        "--peer-results",
        type=Path,
        default=RESULTS / "peers_recbole_amazon-scientific_sasrec.json",
        help="speed: the bench/peers/compare_recbole.py results whose SASRec test NDCG@10 is the target",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("explorec.models.training").setLevel(logging.INFO)  # one line per epoch
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    dataset = "amazon-scientific" if args.experiment not in ("compare", "s3rec") else args.dataset
    if args.experiment == "s3rec" and dataset not in S3REC_DATASETS:
        raise SystemExit(f"s3rec: --dataset must be one of {S3REC_DATASETS}, got {dataset!r}")
    shipped = dataset == "amazon-scientific" or args.experiment == "s3rec"
    data, split = load(dataset, "shipped" if shipped else "loo")
    print(f"{dataset}: {split.summary()} n_items {split.train.n_items}; machine: {MACHINE}", flush=True)
    if args.experiment == "threads":
        threads_experiment(split, data.catalog, args.epochs, prov)
    elif args.experiment == "speed":
        speed_experiment(split, data.catalog, args.threads, args.epochs, args.peer_results, prov)
    else:
        experiment_runs(args.experiment, dataset, split, data.catalog, args, prov)


if __name__ == "__main__":
    main()
