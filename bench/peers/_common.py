"""What the peer comparisons share: the peer's environment, the split handed to it, and scoring its lists.

The drivers (``compare_recbole.py``, ``compare_implicit.py``) run in the project's environment. Each
peer runs in its own virtual environment (``bench/peers/.venv-<peer>``, made by ``install.sh``; never a
project dependency) through a worker script that imports nothing from explorec. A driver writes the
split explorec uses into a folder under ``runs/peers/`` (ignored by git), the worker trains the peer on
exactly those rows and writes its ranked top-K lists for the test users, and the driver scores those
lists with explorec's own metrics (``explorec.evaluation.evaluate_topk``), so that both libraries are
measured on the same rows by the same code. Every history item (train + valid) is masked from a
peer's lists by the worker, as explorec's full-ranking protocol masks it; the driver checks that.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Interactions, Split
from explorec.errors import DataError
from explorec.evaluation import evaluate_topk

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "runs" / "peers"  # ignored by git: peers' input files, checkpoints and logs
K = (10, 20, 50)


def peer_python(peer: str) -> Path:
    """The interpreter of the peer's own environment; a clear error when it was not installed."""
    python = HERE / f".venv-{peer}" / "bin" / "python"
    if not python.is_file():
        raise SystemExit(f"{python}: no {peer} environment; run `bash bench/peers/install.sh {peer}` first")
    return python


def peer_versions(peer: str, modules: tuple[str, ...]) -> dict[str, str]:
    """Versions of the peer's libraries, as its own environment reports them."""
    code = (
        "import importlib.metadata as m, json, platform; "
        f"print(json.dumps({{'python': platform.python_version(), "
        f"**{{n: m.version(n) for n in {list(modules)!r}}}}}))"
    )
    out = subprocess.run([str(peer_python(peer)), "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


def run_worker(peer: str, worker: str, job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run ``worker`` in the peer's environment on ``job``; returns the JSON the worker wrote.

    The worker runs with ``workdir`` as its current folder (RecBole writes logs and checkpoints
    there) and inherits the thread settings (``OMP_NUM_THREADS``) of this process.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    job_path = workdir / "job.json"
    out_path = workdir / "result.json"
    out_path.unlink(missing_ok=True)
    job_path.write_text(json.dumps({**job, "out": str(out_path)}, indent=1))
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONPATH": ""}
    started = time.perf_counter()
    with (workdir / "worker.log").open("w") as logfile:
        proc = subprocess.run(
            [str(peer_python(peer)), str(HERE / worker), str(job_path)],
            cwd=workdir,
            env=env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        tail = (workdir / "worker.log").read_text().splitlines()[-15:]
        raise SystemExit(
            f"{worker} failed (exit {proc.returncode}); log {workdir / 'worker.log'}:\n" + "\n".join(tail)
        )
    result: dict[str, Any] = json.loads(out_path.read_text())
    result["process_wall_seconds"] = time.perf_counter() - started
    return result


def write_histories(path: Path, users: npt.NDArray[np.int64], history: Interactions) -> None:
    """Each listed user's history items in chronological order (CSR-style ``indptr`` / ``items``)."""
    seqs = history.sequences()
    items = [seqs[u] for u in users]
    indptr = np.concatenate([[0], np.cumsum([s.size for s in items])]).astype(np.int64)
    flat = np.concatenate(items).astype(np.int64) if items else np.zeros(0, np.int64)
    np.savez(path, users=users, indptr=indptr, items=flat)


def test_users(split: Split) -> npt.NDArray[np.int64]:
    return np.unique(split.test.user).astype(np.int64)


def score_lists(
    name: str,
    top: npt.NDArray[np.int64],
    users: npt.NDArray[np.int64],
    test: Interactions,
    history: Interactions,
) -> tuple[dict[str, float], npt.NDArray[np.float64]]:
    """explorec's metrics of a peer's ranked lists, after checking that no history item was listed.

    ``test`` holds the relevant items, ``history`` what counts as seen (for a split's test part:
    ``Split.test_history``, train + valid; for its valid part: train).
    """
    hist_keys = history.user.astype(np.int64) * history.n_items + history.item
    rows = np.repeat(users, top.shape[1]).reshape(top.shape)
    listed = top >= 0
    keys = rows[listed] * history.n_items + top[listed]
    leaked = int(np.isin(keys, hist_keys).sum())
    if leaked:
        raise DataError(f"{name}: {leaked} listed (user, item) pairs are history items, which must be masked")
    result = evaluate_topk(top, users, test, history=history, k=K, n_items=test.n_items)
    metrics = {k: float(v) for k, v in result.metrics.items() if k.split("@")[0] in ("ndcg", "recall", "mrr")}
    return metrics, np.asarray(result.per_user["ndcg@10"], dtype=np.float64)


def load_topk(path: str | Path) -> npt.NDArray[np.int64]:
    with np.load(path) as f:
        top: npt.NDArray[np.int64] = f["top"].astype(np.int64)
    return top


def save(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"wrote {path}", file=sys.stderr, flush=True)
