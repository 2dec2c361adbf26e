"""Train one RecBole model on the split explorec wrote; runs inside bench/peers/.venv-recbole only.

``python worker_recbole.py JOB.json`` (started by ``compare_recbole.py``, never by hand). JOB names the
atomic files (``<data_path>/<dataset>/<dataset>.{train,valid,test}.inter``, RecBole's
``benchmark_filename`` layout, so RecBole re-splits nothing), the model, RecBole settings, and an
``.npz`` with each test user's history (train + valid, chronological, explorec item indices).

It writes JSON with the time of every training and validation epoch (wall and process CPU seconds),
RecBole's own test metrics (its protocol: for sequential models it does not mask history items), and,
in ``top``, each test user's top-K list in explorec item indices with every history item masked, for
``compare_recbole.py`` to score with explorec's metrics. With ``"timing_only": true`` it trains the
given number of epochs without validation or test (for interleaved timing rounds). With
``"time_budget_seconds"``, training stops before an epoch that would end past the budget (projected
from the slowest train + validation epoch so far); the best validated checkpoint is then restored as
after early stopping, and ``stopped_by`` says which of the two ended the run.

Imports nothing from explorec: this environment has RecBole's pins (NumPy 1.23), not the project's.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.data.interaction import Interaction
from recbole.utils import get_model, get_trainer, init_logger, init_seed


class TimeBudgetSpent(Exception):
    """Raised before a training epoch that would end past the job's time budget."""


def main() -> None:
    job: dict[str, Any] = json.loads(open(sys.argv[1]).read())
    torch.set_num_threads(int(job.get("threads", 1)))
    sequential = job["model"] in ("SASRec",)
    base: dict[str, Any] = {
        "data_path": job["data_path"],
        "benchmark_filename": ["train", "valid", "test"],
        "use_gpu": False,
        "show_progress": False,
        "log_wandb": False,
        "checkpoint_dir": "saved",
        "seed": 2020,
        "reproducibility": True,
        "worker": 0,
        "metrics": ["Recall", "NDCG", "MRR"],
        "topk": [10, 20, 50],
        "valid_metric": "NDCG@10",
        "eval_args": {"mode": "full", "order": "TO" if sequential else "RO", "group_by": "user"},
        "eval_batch_size": 4096,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
    }
    if sequential:
        base |= {
            "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
            "alias_of_item_id": ["item_id_list"],
            "train_neg_sample_args": None,
        }
    else:
        base |= {"load_col": {"inter": ["user_id", "item_id"]}}
    config = Config(model=job["model"], dataset=job["dataset"], config_dict={**base, **job["config"]})
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    t0 = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    prepare_seconds = time.perf_counter() - t0
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    epochs: list[dict[str, Any]] = []
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch
    budget = job.get("time_budget_seconds")

    def timed_train(data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
        if budget is not None and epochs:
            slowest = max(e["seconds"] + e.get("valid_seconds", 0.0) for e in epochs)
            if time.perf_counter() - fit_start + slowest > float(budget):
                raise TimeBudgetSpent
        w, c = time.perf_counter(), time.process_time()
        loss = train_epoch(data, epoch_idx, *args, **kwargs)
        total = sum(float(x) for x in loss) if isinstance(loss, tuple) else float(loss)
        epochs.append(
            {
                "epoch": epoch_idx + 1,
                "seconds": time.perf_counter() - w,
                "cpu_seconds": time.process_time() - c,
                "loss": total,
            }
        )
        print(f"epoch {epoch_idx + 1}: {epochs[-1]['seconds']:.1f} s, loss {total:.4f}", flush=True)
        return loss

    def timed_valid(data: Any, show_progress: bool = False) -> Any:
        w = time.perf_counter()
        score, result = valid_epoch(data, show_progress=show_progress)
        epochs[-1] |= {"valid_seconds": time.perf_counter() - w, "valid_ndcg@10": float(score)}
        print(f"  valid NDCG@10 {score:.4f}", flush=True)
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
    out: dict[str, Any] = {
        "model": job["model"],
        "config": {k: config[k] for k in job["config_report"] if k in config},
        "n_items_recbole": int(dataset.item_num - 1),
        "n_users_recbole": int(dataset.user_num - 1),
        "train_rows": len(train_data.dataset),
        "prepare_seconds": prepare_seconds,
    }
    fit_start = time.perf_counter()
    if job.get("timing_only"):
        trainer.fit(train_data, None, saved=False, show_progress=False)
        out |= {"epochs": epochs, "fit_seconds": time.perf_counter() - fit_start}
        open(job["out"], "w").write(json.dumps(out, indent=1))
        return
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    except TimeBudgetSpent:
        # the best checkpoint so far is on disk (saved=True writes it on every improvement)
        stopped_by = f"time budget ({budget} s)"
        print(f"time budget spent after {len(epochs)} epochs", flush=True)
    else:
        stopped_by = "early stopping" if len(epochs) < int(config["epochs"]) else "epochs cap"
    fit_seconds = time.perf_counter() - fit_start
    own = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    valid_scores = [e.get("valid_ndcg@10", -1.0) for e in epochs]
    best = int(np.argmax(valid_scores)) + 1
    out |= {
        "epochs": epochs,
        "epochs_run": len(epochs),
        "best_epoch": best,
        "best_valid_ndcg@10": max(valid_scores),
        "fit_seconds": fit_seconds,
        "stopped_by": stopped_by,
        "time_budget_seconds": budget,
        "recbole_own_test_metrics": {k: float(v) for k, v in own.items()},
    }
    top = explorec_protocol_lists(
        job, trainer.model, dataset, sequential, int(config["MAX_ITEM_LIST_LENGTH"])
    )
    np.savez(job["top_out"], top=top)
    open(job["out"], "w").write(json.dumps(out, indent=1))


@torch.no_grad()
def explorec_protocol_lists(
    job: dict[str, Any], model: Any, dataset: Any, sequential: bool, max_len: int
) -> np.ndarray:
    """Top-K in explorec item indices per test user, every history item (train + valid) masked."""
    model.eval()
    n_items = int(job["n_items"])
    k = int(job["k"])
    tokens = dataset.field2id_token["item_id"]  # RecBole id -> token (= explorec item index); 0 is [PAD]
    explorec_of = np.array([int(t) for t in tokens[1:]], dtype=np.int64)
    with np.load(job["histories"]) as f:
        users, indptr, items = f["users"], f["indptr"], f["items"]
    top = np.full((users.size, k), -1, dtype=np.int64)
    batch = 512
    for start in range(0, users.size, batch):
        rows = range(start, min(start + batch, users.size))
        if sequential:
            seqs = [items[indptr[r] : indptr[r + 1]][-max_len:] for r in rows]
            ids = torch.zeros((len(seqs), max_len), dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, : s.size] = torch.as_tensor(dataset.token2id("item_id", [str(x) for x in s]))
            lengths = torch.as_tensor([s.size for s in seqs], dtype=torch.long)
            inter = Interaction({model.ITEM_SEQ: ids, model.ITEM_SEQ_LEN: lengths})
        else:
            uids = dataset.token2id("user_id", [str(u) for u in users[start : start + len(rows)]])
            inter = Interaction({model.USER_ID: torch.as_tensor(uids, dtype=torch.long)})
        scores = model.full_sort_predict(inter).view(len(rows), -1).numpy()
        full = np.full((len(rows), n_items), -np.inf, dtype=np.float32)
        full[:, explorec_of] = scores[:, 1:]
        for i, r in enumerate(rows):
            full[i, items[indptr[r] : indptr[r + 1]]] = -np.inf
        # ties: the lower explorec item index first (explorec's rule), via a stable sort on -score
        order = np.argsort(-full, axis=1, kind="stable")[:, :k]
        picked = np.take_along_axis(full, order, axis=1)
        top[start : start + len(rows)] = np.where(np.isfinite(picked), order, -1)
    return top


if __name__ == "__main__":
    main()
