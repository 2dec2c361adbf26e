"""Simulated users over HTTP: greedy against an exploring policy in a live service's experiment.

Starts a real ``explorec serve`` process on 127.0.0.1 (SQLite store in a temporary folder, the
packaged all-MiniLM-L6-v2 encoder unless ``--encoder`` says otherwise, no re-ranker), then runs
``explorec simulate --service`` against it for each dataset: the simulator's ground-truth click
model, arrivals, position bias and release schedule, every request through the API. Records, per
variant, clicks per 1,000 impressions with Wilson intervals, cold-item exposure, and the service's
off-policy estimate of each variant from the other variant's log next to its on-policy click rate.

    python bench/service_simulate.py --datasets movielens-latest-small,amazon-scientific --steps 3000

Writes ``bench/results/service_simulate.json`` (one entry per dataset, exploring policy and control
exploration share, each with its provenance; the entries of other settings are kept). The control is
greedy with ``--control-exploration`` (default 0.1) of its slates a uniformly random ordering of its
candidates (exact mixture propensities), so that its log supports an off-policy estimate of the
exploring variant.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _provenance import Provenance
from _service import CLI, SERVICE_ENV, free_port, start_serve, wait_ready


def run_one(dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="explorec-simulate-"))
    port = free_port()
    config = folder / "explorec.toml"
    settings = {
        "encoder": args.encoder,
        "policy": "greedy",
        "rerank": "none",
        "n_candidates": 100,
        "history_length": 50,
        "rate_limit": "1000000/minute",
        "access_log": False,
    }
    lines = [f'database_url = "sqlite:///{folder / "explorec.db"}"', f"port = {port}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    config.write_text("\n".join(lines) + "\n")
    proc, key, log = start_serve(config, folder)
    base = f"http://127.0.0.1:{port}"
    out = folder / "run"
    started = time.perf_counter()
    try:
        wait_ready(base, proc, timeout=300)
        command = [
            *CLI, "simulate", "--dataset", dataset, "--service", base, "--api-key", key,
            "--steps", str(args.steps), "--max-items", str(args.max_items), "--k", str(args.k),
            "--explore-policy", args.explore_policy, "--out", str(out),
            "--control-exploration", str(args.control_exploration),
        ]  # fmt: skip
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        subprocess.run(command, check=True, env=SERVICE_ENV)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    summary: dict[str, Any] = json.loads((out / "service.json").read_text())
    summary["settings"] = {
        **settings,
        "steps": args.steps,
        "max_items": args.max_items,
        "k": args.k,
        "explore_policy": args.explore_policy,
        "control_exploration": args.control_exploration,
    }
    summary["wall_s"] = time.perf_counter() - started
    return summary


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="movielens-latest-small")
    parser.add_argument("--steps", type=int, default=3000, help="simulated users (slates) per dataset")
    parser.add_argument("--max-items", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--explore-policy", default="ts")
    parser.add_argument(
        "--control-exploration",
        type=float,
        default=0.1,
        help="share of the greedy control's slates that are uniformly random (0: pure greedy)",
    )
    parser.add_argument("--encoder", default="default", help="service encoder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "service_simulate.json"))
    args = parser.parse_args()
    path = Path(args.out)
    # runs of other datasets already in the file are kept: each run carries its own provenance
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        run = run_one(dataset, args)
        run["provenance"] = prov.finish()
        # one entry per (dataset, exploring policy, control exploration): runs of other settings stay
        key = f"{dataset} {args.explore_policy} control-random-slates={args.control_exploration:g}"
        results["runs"][key] = run
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        print(f"{dataset}: wrote {path}", flush=True)


if __name__ == "__main__":
    main()
