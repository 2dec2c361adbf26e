"""How fast the generated default dataset builds, and how much its text predicts behaviour.

Builds ``load_synthetic(seed=...)`` ``--repeats`` times (median wall time), then scores every item
for each test user by full ranking (history masked) with four fixed, unlearned scorers:

* ``random`` – uniform scores (seeded);
* ``popularity`` – training interaction counts;
* ``text`` – cosine between the item's text vector and the mean of the user's history vectors
  (``explorec.encoders.item_vectors``; MiniLM by default, or the hashing encoder);
* ``text+pop`` – ``text + 0.03 log(1 + popularity)``.

under two splits: ``leave-one-out`` (warm items) and ``catalog-arrival`` (the late-arriving items,
never seen in training). Hit@10 and NDCG@10 (one test item per user for leave-one-out; per test row
for catalog-arrival). Prints its settings with the numbers and writes
``bench/results/synthetic_signal.json`` (``synthetic_signal_hashing.json`` for the hashing encoder).
"encode_seconds" includes the embedding cache: a second run reads the vectors from it.

Run: ``python bench/synthetic_signal.py [--encoder minilm|hashing] [--repeats 5] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from _provenance import Provenance
from explorec.data.interactions import Split
from explorec.data.splits import catalog_arrival_split, leave_one_out
from explorec.data.synthetic import load_synthetic

ROOT = Path(__file__).resolve().parents[1]


def _score_split(
    split: Split, vectors: npt.NDArray[np.float32], seed: int, k: int = 10
) -> dict[str, dict[str, float]]:
    n_items = split.train.n_items
    history = split.test_history.sequences()
    popularity = np.bincount(split.train.item, minlength=n_items).astype(np.float64)
    rng = np.random.default_rng(seed)
    totals: dict[str, list[float]] = {}
    for name in ("random", "popularity", "text", "text+pop"):
        totals[f"{name}/hit"] = []
        totals[f"{name}/ndcg"] = []
    for user, item in zip(split.test.user, split.test.item, strict=True):
        seen = history[user]
        if seen.size == 0:
            continue
        text = vectors @ vectors[seen].mean(axis=0)
        scorers = {
            "random": rng.random(n_items),
            "popularity": popularity,
            "text": text.astype(np.float64),
            "text+pop": text + 0.03 * np.log1p(popularity),
        }
        for name, scores in scorers.items():
            s = scores.copy()
            s[seen] = -np.inf
            rank = int((s > s[item]).sum())  # 0-based rank of the test item (ties favour it)
            totals[f"{name}/hit"].append(float(rank < k))
            totals[f"{name}/ndcg"].append(1.0 / np.log2(rank + 2) if rank < k else 0.0)
    out: dict[str, dict[str, float]] = {}
    for key, values in totals.items():
        name, metric = key.split("/")
        out.setdefault(name, {})[f"{metric}@{k}"] = round(float(np.mean(values)), 4)
    return out


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", choices=["minilm", "hashing"], default="minilm")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=None, help="JSON path (default bench/results/synthetic_signal[_hashing].json)"
    )
    args = parser.parse_args()

    from explorec.encoders import HashingEncoder, item_vectors

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        dataset = load_synthetic(seed=args.seed)
        times.append(time.perf_counter() - start)
    data, catalog = dataset.interactions, dataset.catalog
    counts = np.sort(data.item_counts())[::-1]
    stats: dict[str, Any] = {
        "rows": len(data),
        "users": data.n_users,
        "items": data.n_items,
        "mean_history": round(len(data) / data.n_users, 2),
        "top10pct_item_share": round(float(counts[: data.n_items // 10].sum() / counts.sum()), 3),
        "items_without_rows": int((counts == 0).sum()),
    }

    start = time.perf_counter()
    encoder = HashingEncoder() if args.encoder == "hashing" else None
    vectors = item_vectors(catalog, encoder=encoder)
    encode_s = time.perf_counter() - start

    results = {
        "leave-one-out": _score_split(leave_one_out(data), vectors, args.seed),
        "catalog-arrival": _score_split(catalog_arrival_split(dataset), vectors, args.seed),
    }
    payload = {
        "settings": {
            "dataset": "load_synthetic defaults",
            "seed": args.seed,
            "encoder": args.encoder,
            "repeats": args.repeats,
            "machine": f"{platform.machine()} {os.cpu_count()} cores (shared), no GPU",
        },
        "build_seconds_median": round(statistics.median(times), 3),
        "build_seconds_all": [round(t, 3) for t in times],
        "encode_seconds": round(encode_s, 1),
        "data": stats,
        "results": results,
        "provenance": prov.finish(),
    }
    print(json.dumps(payload, indent=2))
    suffix = "" if args.encoder == "minilm" else f"_{args.encoder}"
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"synthetic_signal{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
