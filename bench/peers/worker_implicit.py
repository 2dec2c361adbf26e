"""Fit implicit's ALS / BPR on the split explorec wrote; runs inside bench/peers/.venv-implicit only.

``python worker_implicit.py JOB.json`` (started by ``compare_implicit.py``, never by hand). JOB names an
``.npz`` with the train matrix (users x items, CSR parts, explorec indices) and, per evaluation part
(``valid``: history = train; ``test``: history = train + valid), the users and their history matrix,
plus a list of configurations. For each configuration it fits on train (timed) and writes each part's
top-K lists with every history item filtered out (``filter_already_liked_items``). ALS recomputes the
user factors from the part's history (``recalculate_user``), as explorec's fold-in models read it;
implicit's BPR cannot, so its user factors come from train alone. With ``"timing_only": true`` it only
fits, ``repeats`` times per configuration.

Imports nothing from explorec (its own environment).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking


def make(model: str, params: dict[str, Any]) -> Any:
    common = {"random_state": 0, "num_threads": 1}
    if model == "als":
        return AlternatingLeastSquares(**params, **common)
    if model == "bpr":
        return BayesianPersonalizedRanking(**params, **common)
    raise SystemExit(f"unknown implicit model {model!r}; allowed: als, bpr")


def csr(f: Any, prefix: str, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((f[f"{prefix}_data"], f[f"{prefix}_indices"], f[f"{prefix}_indptr"]), shape=shape)


def main() -> None:
    job: dict[str, Any] = json.loads(open(sys.argv[1]).read())
    shape = (int(job["n_users"]), int(job["n_items"]))
    with np.load(job["matrices"]) as f:
        train = csr(f, "train", shape)
        parts = {p: (f[f"{p}_users"], csr(f, p, shape)) for p in job["parts"]}
    k = int(job["k"])
    out: list[dict[str, Any]] = []
    for i, cfg in enumerate(job["configs"]):
        fits = []
        for _ in range(int(job.get("repeats", 1))):
            model = make(cfg["model"], cfg["params"])
            start = time.perf_counter()
            c0 = time.process_time()
            model.fit(train, show_progress=False)
            fits.append({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - c0})
        row: dict[str, Any] = {**cfg, "fits": fits}
        if not job.get("timing_only"):
            lists = {}
            for part, (users, history) in parts.items():
                start = time.perf_counter()
                ids, _ = model.recommend(
                    users,
                    history[users],
                    N=k,
                    filter_already_liked_items=True,
                    recalculate_user=cfg["model"] == "als",
                )
                row[f"{part}_recommend_seconds"] = time.perf_counter() - start
                lists[f"top_{part}"] = np.asarray(ids, dtype=np.int64)
            path = f"{job['top_prefix']}{i}.npz"
            np.savez(path, **lists)
            row["top"] = path
        out.append(row)
        print(f"{cfg}: fit {np.median([f['seconds'] for f in fits]):.2f} s", flush=True)
    open(job["out"], "w").write(json.dumps({"configs": out}, indent=1))


if __name__ == "__main__":
    main()
