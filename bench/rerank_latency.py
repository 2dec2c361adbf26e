"""Microbenchmark: DPP and MMR re-ranking latency for k = 10 from 100, 500 and 1,000 candidates.

Each call is timed on its own (``time.perf_counter_ns`` around one ``rerank``), many times, after a
warm-up; the median and the 99th percentile are reported. "end-to-end" is the public
``Reranker.rerank`` call, kernel build included: gathering the candidates' 384-d vectors from the
catalogue matrix, normalising them, the kernel rows the greedy needs (one mat-vec per pick; the full
N x N similarity is never formed for k << N) and the greedy itself. "core" times ``greedy_map`` alone
on already-gathered unit vectors.

Run:  python bench/rerank_latency.py [--threads 1] [--repeats 2000]

The machine is a shared 2-core CPU: other jobs run beside this one, so single runs are noisy; the
median is the number to quote, p99 shows the interference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from _provenance import Provenance


def main() -> int:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (default 1: one request, one core)"
    )
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls per setting (default 2000)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--n-items", type=int, default=20_000, help="catalogue size the vectors come from")
    parser.add_argument("--out", default="bench/results/rerank_latency.json")
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    from explorec.rerank import DPP, MMR, greedy_map
    from explorec.rerank.base import relevance, unit_rows
    from explorec.rerank.dpp import dpp_alpha
    from explorec.types import ScoredItems

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(args.n_items, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def timed(fn: object, repeats: int) -> dict[str, float]:
        call = fn  # type: ignore[assignment]
        for _ in range(min(50, repeats)):
            call()  # type: ignore[operator]
        ns = np.empty(repeats)
        for r in range(repeats):
            t0 = time.perf_counter_ns()
            call()  # type: ignore[operator]
            ns[r] = time.perf_counter_ns() - t0
        us = ns / 1e3
        return {
            "median_us": float(np.median(us)),
            "p99_us": float(np.percentile(us, 99)),
            "mean_us": float(us.mean()),
            "repeats": repeats,
        }

    settings = {
        "k": args.k,
        "dim": args.dim,
        "n_items": args.n_items,
        "blas_threads": args.threads,
        "repeats": args.repeats,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": "2-core shared CPU, no GPU",
    }
    print("settings:", json.dumps(settings))
    rows = []
    for n in (100, 500, 1000):
        items = rng.choice(args.n_items, n, replace=False).astype(np.int64)
        scores = rng.normal(size=n).astype(np.float32)
        cands = ScoredItems(items, scores)
        order = np.argsort(-scores, kind="stable")
        unit = unit_rows(vectors[items[order]], "bench")
        quality = np.exp(dpp_alpha(0.3) * (relevance(scores[order].astype(np.float64)) - 1.0))
        cases = {
            "DPP end-to-end": lambda c=cands: DPP(diversity=0.3).rerank(c, args.k, item_vectors=vectors),
            "DPP core (greedy_map)": lambda u=unit, q=quality: greedy_map(u, q, args.k),
            "DPP window=5 end-to-end": lambda c=cands: DPP(diversity=0.3, window=5).rerank(
                c, args.k, item_vectors=vectors
            ),
            "MMR end-to-end": lambda c=cands: MMR(diversity=0.3).rerank(c, args.k, item_vectors=vectors),
        }
        for name, fn in cases.items():
            result = timed(fn, args.repeats)
            rows.append({"method": name, "n_candidates": n, **result})
            print(
                f"{name:<26} N={n:>5} k={args.k}: median {result['median_us']:8.1f} us   "
                f"p99 {result['p99_us']:8.1f} us"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": settings, "results": rows, "provenance": prov.finish()}, indent=2))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
