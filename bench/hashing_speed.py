"""The hashing encoder before and after its vectorisation (issue 16): CPU time, profile, identical vectors.

The encoder before is read from git (``--before``, the commit preceding the change) and loaded as a
module, so both implementations run in one process on the same texts: the amazon-scientific item
texts, then ``--n`` texts recombined from them (``bench/ray_backend.py``'s ``recombined_texts``). Each
is timed by ``time.process_time`` (CPU of this process), the new one with a fresh encoder ("cold": its
feature tables empty) and again ("warm"); the old one is profiled with cProfile (top functions by own
time). The vectors must be bit-identical.

    OMP_NUM_THREADS=1 nice -n 10 python bench/hashing_speed.py

Writes ``bench/results/hashing_speed.json`` with provenance.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

from _provenance import ROOT, Provenance
from ray_backend import recombined_texts

RESULTS = Path(__file__).parent / "results"


def old_encoder_module(commit: str) -> types.ModuleType:
    """``explorec.encoders.hashing`` as it was at ``commit``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:src/explorec/encoders/hashing.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("hashing_before")
    exec(compile(source, f"{commit}:hashing.py", "exec"), module.__dict__)
    return module


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--before", default="78648d1", help="commit of the feature-by-feature encoder")
    parser.add_argument("--n", type=int, default=20_000, help="recombined texts timed")
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()

    from explorec.data.registry import load_dataset
    from explorec.encoders import HashingEncoder, item_texts

    base = item_texts(load_dataset("amazon-scientific", data_dir=args.data_dir).catalog, "amazon-scientific")
    old = old_encoder_module(args.before)
    out: dict[str, Any] = {"settings": vars(args), "sets": {}}
    for name, texts in (("amazon-scientific items", base), ("recombined", recombined_texts(base, args.n))):
        start = time.process_time()
        before = old.HashingEncoder(dim=args.dim).encode(texts)
        old_cpu = time.process_time() - start
        encoder = HashingEncoder(dim=args.dim)
        start = time.process_time()
        cold = encoder.encode(texts)
        cold_cpu = time.process_time() - start
        start = time.process_time()
        warm = encoder.encode(texts)
        warm_cpu = time.process_time() - start
        n = len(texts)
        out["sets"][name] = {
            "n_texts": n,
            "before_texts_per_cpu_second": round(n / old_cpu, 1),
            "after_cold_texts_per_cpu_second": round(n / cold_cpu, 1),
            "after_warm_texts_per_cpu_second": round(n / warm_cpu, 1),
            "speedup_cold": round(old_cpu / cold_cpu, 2),
            "speedup_warm": round(old_cpu / warm_cpu, 2),
            "bit_identical": bool((before == cold).all() and (before == warm).all()),
            "sha256_before": hashlib.sha256(before.tobytes()).hexdigest(),
            "sha256_after": hashlib.sha256(cold.tobytes()).hexdigest(),
            "load_average": os.getloadavg()[0],
        }
        print(name, json.dumps(out["sets"][name]), flush=True)
    profile = cProfile.Profile()
    profile.runcall(old.HashingEncoder(dim=args.dim).encode, base)
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:6]  # type: ignore[attr-defined]
    out["profile_before"] = {
        "total_seconds_under_profiler": round(total, 2),
        "top_own_time": [
            {"function": f"{Path(f).name}:{line}({fn})", "calls": calls, "own_seconds": round(tt, 3)}
            for (f, line, fn), (_, calls, tt, _, _) in rows
        ],
    }
    out["provenance"] = prov.finish()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hashing_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["profile_before"], indent=2))


if __name__ == "__main__":
    sys.exit(main())
