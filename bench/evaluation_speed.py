"""How much the full-ranking evaluation costs on top of the model's own scoring.

A 10k users x 10k items problem: 20 history items and 1-5 test items per user, scores from a rank-32
matrix factorisation (one small matmul per batch, so scoring is cheap and the protocol's own cost
shows). Prints the settings with the numbers and writes ``bench/results/evaluation_speed.json``.

Run: ``python bench/evaluation_speed.py [--users 10000 --items 10000 --repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from _provenance import Provenance
from explorec.data.interactions import Catalog, Interactions
from explorec.evaluation import evaluate
from explorec.models.base import Recommender
from explorec.ranking import _by_keys, rank_top_k


class LowRank(Recommender):
    """Fixed random user/item factors: ``score = U[users] @ V.T``."""

    name = "bench-lowrank"

    def __init__(self, *, dim: int = 32, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        rng = np.random.default_rng(self.seed)
        self.user_factors_ = rng.standard_normal((train.n_users, self.dim)).astype(np.float32)
        self.item_factors_ = rng.standard_normal((train.n_items, self.dim)).astype(np.float32)

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        return self.user_factors_[users] @ self.item_factors_.T


def problem(n_users: int, n_items: int, seed: int = 0) -> tuple[Interactions, Interactions]:
    rng = np.random.default_rng(seed)
    uids = [f"u{u}" for u in range(n_users)]
    iids = [f"i{i}" for i in range(n_items)]
    hist_u = np.repeat(np.arange(n_users), 20)
    hist_i = rng.integers(0, n_items, hist_u.size)
    n_test = rng.integers(1, 6, n_users)
    test_u = np.repeat(np.arange(n_users), n_test)
    test_i = rng.integers(0, n_items, test_u.size)
    history = Interactions.from_arrays(hist_u, hist_i, user_ids=uids, item_ids=iids)
    test = Interactions.from_arrays(test_u, test_i, user_ids=uids, item_ids=iids)
    return history, test


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results/evaluation_speed.json")
    args = parser.parse_args()
    history, test = problem(args.users, args.items)
    model = LowRank().fit(history)
    users = np.unique(test.user)
    k = (10, 20, 50)
    vectors = np.random.default_rng(1).standard_normal((args.items, 64)).astype(np.float32)

    timings: dict[str, list[float]] = {
        "score_only": [],
        "score+argsort_full": [],
        "score+argpartition_plain": [],
        "score+keys_only": [],
        "score+rank_top_k": [],
        "evaluate": [],
        "evaluate+diversity": [],
    }
    for _ in range(args.repeats):
        # side by side in one run, each over the same batches
        labels = ("score_only", "score+argsort_full", "score+argpartition_plain", "score+keys_only")
        for label in (*labels, "score+rank_top_k"):
            start = time.perf_counter()
            for s in range(0, users.size, args.batch_size):
                scores = model.score(users[s : s + args.batch_size], history=history)
                if label == "score+argsort_full":
                    np.argsort(-scores, axis=1, kind="stable")[:, :50]
                elif label == "score+argpartition_plain":
                    part = np.argpartition(-scores, 50, axis=1)[:, :50]
                    np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, 1), 1), 1)
                elif label == "score+keys_only":  # deterministic keys on every row (no fast path)
                    _by_keys(scores, np.broadcast_to(np.arange(scores.shape[1]), scores.shape), 50)
                elif label == "score+rank_top_k":
                    rank_top_k(scores, 50)
            timings[label].append(time.perf_counter() - start)
        start = time.perf_counter()
        result = evaluate(model, test, history=history, k=k, batch_size=args.batch_size)
        timings["evaluate"].append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluate(model, test, history=history, k=k, batch_size=args.batch_size, item_vectors=vectors)
        timings["evaluate+diversity"].append(time.perf_counter() - start)

    medians = {key: statistics.median(values) for key, values in timings.items()}
    settings = {
        "n_users": args.users,
        "n_items": args.items,
        "eval_users": int(users.size),
        "test_rows": len(test),
        "history_rows": len(history),
        "k": list(k),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "machine": f"2-core shared CPU, no GPU ({platform.processor() or 'x86_64'})",
        "numpy": np.__version__,
    }
    print("settings:", json.dumps(settings))
    for key, value in medians.items():
        print(
            f"{key:>26}: median {value:.3f} s over {args.repeats} runs  {[round(v, 3) for v in timings[key]]}"
        )
    overhead = medians["evaluate"] - medians["score_only"]
    print(f"evaluation overhead over scoring: {overhead:.3f} s; ndcg@10={result.metrics['ndcg@10']:.5f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "settings": settings,
                "median_seconds": medians,
                "runs": timings,
                "provenance": prov.finish(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
