"""What safe, atomic persistence costs, and what masking every consumed item changes.

1. **Save / verify / load.** For each (dataset, model): fit once, then ``--repeats`` times save a new
   version (temporary folder, manifest of SHA-256 hashes, fsync, rename, pointer switch), verify the
   manifest alone, and load (verify + parse + rebuild). Medians of wall time; the version's size.
2. **Consumed items recommended back.** movielens-latest-small with ``--min-rating 4`` and a
   leave-one-out split, every user, k=10: the share of slots holding a movie the user rated (any
   rating, held-out ones included) when ``recommend`` masks all known interactions (``all``, the
   default) and when it masks only the training part (``train``, the former behaviour).

Prints the settings with the numbers and writes ``bench/results/persistence.json``.

Run: ``python bench/persistence.py [--data-dir /path/to/datasets --repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance
from explorec.data.preprocessing import binarize
from explorec.data.registry import load_dataset
from explorec.data.splits import make_split
from explorec.models.base import Recommender
from explorec.models.registry import make_model
from explorec.persist import verify_manifest
from explorec.pipeline import recommend

CASES = (
    ("movielens-100k", "itemknn", {"progress": False}),
    ("movielens-100k", "ease", {}),
    ("movielens-latest-small", "itemknn", {"progress": False}),
)


def _median_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def save_load(data_dir: str, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for name, model_name, params in CASES:
        dataset = load_dataset(name, data_dir=data_dir)
        split = make_split(dataset, "leave-one-out")
        model = make_model(model_name, **params).fit(split.train, dataset.catalog)
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
            target = Path(tmp) / "model"
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                version = model.save(target, catalog=dataset.catalog, seen=dataset.interactions)
                times.append(time.perf_counter() - start)
            save_s = statistics.median(times)
            size = sum(p.stat().st_size for p in version.rglob("*") if p.is_file())
            verify_s = _median_seconds(lambda v=version: verify_manifest(v), repeats)
            load_s = _median_seconds(lambda t=target: Recommender.load(t), repeats)
        row = {
            "dataset": name,
            "model": model_name,
            "n_items": split.train.n_items,
            "version_mb": round(size / 1e6, 2),
            "save_s": round(save_s, 3),
            "verify_s": round(verify_s, 3),
            "load_s": round(load_s, 3),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def consumed_back(data_dir: str) -> list[dict[str, Any]]:
    raw = load_dataset("movielens-latest-small", data_dir=data_dir)
    data, _ = binarize(raw.interactions, threshold=4.0)
    split = make_split(data, "leave-one-out")
    # every rating of every user, over the binarised vocabularies (binarize keeps them)
    known = raw.interactions
    users = np.arange(split.train.n_users)
    rows = []
    for model_name in ("popularity", "itemknn"):
        params = {"progress": False} if model_name == "itemknn" else {}
        model = make_model(model_name, **params).fit(split.train)
        consumed = known.to_csr()
        for mode in ("all", "train"):
            slates = recommend(model, users, k=10, seen=known if mode == "all" else None)
            hits = sum(int(consumed[u, s.items].sum()) for u, s in zip(users, slates, strict=True))
            slots = sum(len(s) for s in slates)
            row = {"model": model_name, "exclude_seen": mode, "slots": slots, "consumed": hits,
                   "share": round(hits / slots, 4)}  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "../shared/datasets"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results/persistence.json")
    args = parser.parse_args()
    payload = {
        "settings": {"repeats": args.repeats, "split": "leave-one-out", "k": 10, "min_rating": 4.0},
        "save_load": save_load(args.data_dir, args.repeats),
        "consumed_back": consumed_back(args.data_dir),
    }
    payload["provenance"] = prov.finish()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
