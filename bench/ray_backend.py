"""The Ray backend against the single-process path, side by side in one run (issue 16.1).

``--part embed``: item texts encoded by the single-process encoder, then by ``RayEncoder`` with 1 and
2 actors (Ray Data ``map_batches``, actor pool), arms interleaved round by round, on a local cluster
started here (``ray.init(num_cpus=2)``, started before the clock). Two encoders: all-MiniLM-L6-v2 on
``--minilm-texts`` texts and the hashing encoder on ``--hashing-texts`` texts. The texts are made from the
real amazon-scientific item texts (``recombined_texts``): the first 4,385 are the items' own texts, the
others recombine, with a fixed seed, the start of one item's title, the end of another's, the categories
of a third and the brand of a fourth, all distinct (a sentence model would otherwise encode a duplicate
once), so that every word and phrase is real catalogue text. Every Ray arm includes its actors' start
and model load; the local arm includes the model load too (a fresh ``SentenceEncoder``). The vectors of
every arm are compared with the local ones (largest absolute difference). CPU seconds are recorded
beside the wall time (steadier on a shared machine): the local process's, and for Ray the actors' own (a
``MeteredEncoder`` in each actor: CPU inside ``encode``, and the whole actor process including its
start and model load) and the driver's (building the Arrow blocks, collecting the vectors); for the
local arm also, with psutil, its process and children.

``--part train``: SASRec (``bench/neural.py``'s settings, ID items) on amazon-scientific's shipped
leave-one-out split, single-process against Ray Train DDP with ``--workers`` workers, ``--seeds``
seeds, identical settings (``--epochs`` epochs, validation NDCG@10 after each, best epoch kept); test
NDCG@10 / Recall@10 with history = train + valid, as ``bench/neural.py`` scores.

Run niced with one thread per process (the machine is shared)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 python bench/ray_backend.py --part embed \
        --minilm-texts 0 --hashing-texts 1000000 --out ray_backend_embed_hashing1m.json
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 python bench/ray_backend.py --part embed \
        --minilm-texts 100000 --hashing-texts 0 --out ray_backend_embed_minilm100k.json
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 10 python bench/ray_backend.py --part train

Writes ``bench/results/ray_backend_<part>.json`` (or ``--out``) with provenance (commit, command,
versions, load), rewritten after every arm, so that a run stopped early keeps the arms it finished.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Ray starts its workers 15 nice levels below the raylet (worker_niceness): under `nice -n 10` on a busy
# machine the actors would run at nice 19 against a local arm at nice 10, a handicap that is not Ray
# Data's. 0: the actors inherit the benchmark's own niceness, like the local arm.
os.environ.setdefault("RAY_worker_niceness", "0")

RESULTS = Path(__file__).parent / "results"
SASREC: dict[str, Any] = {
    "dim": 64,
    "n_layers": 2,
    "n_heads": 2,
    "max_len": 50,
    "dropout": 0.5,
    "attn_dropout": 0.2,
    "lr": 2e-3,
    "batch_size": 128,
    "weight_decay": 0.0,
    "progress": False,
    "device": "cpu",
    "item_input": "id",
}


def _parts(text: str) -> tuple[list[str], str, str]:
    """An amazon-scientific item text as (title words, categories, brand): "title. categories. brand."."""
    pieces = text.rstrip(".").rsplit(". ", 2)
    title, categories, brand = [*pieces, "", ""][:3]
    return title.split(), categories, brand


def recombined_texts(base: list[str], n: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts: ``base`` itself, then recombinations of its parts drawn with ``seed``.

    A recombined text is the first half of one title, the second half of another, the categories of a
    third item and the brand of a fourth (``"<title>. <categories>. <brand>."``, as the real texts);
    a draw that repeats an earlier text is drawn again.
    """
    parts = [_parts(t) for t in base]
    rng = np.random.default_rng(seed)
    out = list(base[:n])
    seen = set(out)
    while len(out) < n:
        a, b, c, d = rng.integers(0, len(parts), size=4)
        head, tail = parts[a][0], parts[b][0]
        title = " ".join(head[: (len(head) + 1) // 2] + tail[len(tail) // 2 :])
        text = f"{title}. {parts[c][1]}. {parts[d][2]}."
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def session_cpu_seconds() -> float | None:
    """CPU seconds of this process and all its children so far (Ray's processes are its children)."""
    try:
        import psutil
    except ImportError:
        return None
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # a worker that ended meanwhile
            continue
        total += times.user + times.system
    return total


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


class MeteredEncoder:
    """Wraps an encoder and writes, per process, the CPU seconds spent in ``encode`` and in total.

    The Ray actors are separate processes, so each one appends to its own file in ``folder``:
    ``encode_cpu`` (summed over calls) and ``process_cpu`` (the whole process so far: interpreter,
    imports, model load and Ray's own work, read at the end of each call).
    """

    def __init__(self, encoder: Any, folder: str) -> None:
        self.encoder = encoder
        self.folder = folder
        self.encode_cpu = 0.0

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    @property
    def model_id(self) -> str:
        return str(self.encoder.model_id)

    @property
    def cacheable(self) -> bool:
        return False

    def encode(self, texts: Any, *, progress: bool = False) -> Any:
        start = time.process_time()
        out = self.encoder.encode(texts)
        self.encode_cpu += time.process_time() - start
        record = {"encode_cpu": self.encode_cpu, "process_cpu": time.process_time()}
        (Path(self.folder) / f"{os.getpid()}.json").write_text(json.dumps(record))
        return out


def cpu_seconds(folder: str) -> dict[str, float]:
    """Sum of the per-process CPU records of a ``MeteredEncoder`` folder."""
    records = [json.loads(p.read_text()) for p in Path(folder).glob("*.json")]
    return {
        "encode_cpu_seconds": round(sum(r["encode_cpu"] for r in records), 2),
        "actor_process_cpu_seconds": round(sum(r["process_cpu"] for r in records), 2),
        "processes": len(records),
    }


def embed_part(args: argparse.Namespace, prov: Provenance) -> dict[str, Any]:
    import ray

    from explorec.data.registry import load_dataset
    from explorec.distributed import RayEncoder
    from explorec.encoders import HashingEncoder, SentenceEncoder, item_texts

    data = load_dataset("amazon-scientific", data_dir=args.data_dir)
    base = item_texts(data.catalog, "amazon-scientific")
    t0 = time.perf_counter()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=int(args.object_store_gib * 1024**3),
        log_to_driver=False,
    )
    cluster_start = time.perf_counter() - t0
    suites = {
        "minilm": (
            args.minilm_texts,
            args.minilm_batch_size,
            lambda: SentenceEncoder(device="cpu", batch_size=64, num_threads=1),
        ),
        "hashing": (
            args.hashing_texts,
            args.hashing_batch_size,
            lambda: HashingEncoder(dim=args.hashing_dim),
        ),
    }
    out: dict[str, Any] = {"cluster_start_seconds": round(cluster_start, 2), "suites": {}}
    for name, (n, batch_size, make) in suites.items():
        if n == 0:
            continue
        texts = recombined_texts(base, n, seed=args.text_seed)
        arms: dict[str, list[float]] = {"local": [], **{f"ray[{w}]": [] for w in args.ray_workers}}
        loads: dict[str, list[list[float]]] = {arm: [] for arm in arms}
        diffs: dict[str, float] = {}
        cpu: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
        for round_ in range(args.rounds):
            local = None
            for arm in arms:
                before = load_average()
                with tempfile.TemporaryDirectory() as folder:
                    session_start = session_cpu_seconds()
                    start, cpu_start = time.perf_counter(), time.process_time()
                    if arm == "local":
                        local = make().encode(texts)
                        vectors = local
                        cpu_arm = {"encode_cpu_seconds": round(time.process_time() - cpu_start, 2)}
                    else:
                        workers = int(arm[4:-1])
                        metered = MeteredEncoder(make(), folder)
                        vectors = RayEncoder(metered, workers=workers, batch_size=batch_size).encode(texts)
                        cpu_arm = cpu_seconds(folder)
                        cpu_arm["driver_cpu_seconds"] = round(time.process_time() - cpu_start, 2)
                    seconds = time.perf_counter() - start
                    session_end = session_cpu_seconds()
                    if arm == "local" and session_start is not None and session_end is not None:
                        # only here: Ray's actors end with their arm and drop out of the children,
                        # so the difference would not be the arm's cost there
                        cpu_arm["session_cpu_seconds"] = round(session_end - session_start, 2)
                arms[arm].append(seconds)
                cpu[arm].append(cpu_arm)
                loads[arm].append([before, load_average()])
                assert local is not None
                diffs[arm] = max(diffs.get(arm, 0.0), float(np.abs(vectors - local).max()))
                print(
                    f"{name} round {round_} {arm}: {n} texts in {seconds:.1f}s ({n / seconds:.1f}/s)",
                    flush=True,
                )
                out["suites"][name] = {
                    "n_texts": n,
                    "n_real_texts": min(n, len(base)),
                    "texts": f"recombined_texts(amazon-scientific item texts, seed={args.text_seed})",
                    "mean_chars": round(sum(map(len, texts)) / n, 1),
                    "map_batches_batch_size": batch_size,
                    "ray_worker_niceness": os.environ.get("RAY_worker_niceness"),
                    "encoder": repr(make()),
                    "arms": {
                        arm: {
                            "seconds": [round(s, 2) for s in values],
                            "median_seconds": round(statistics.median(values), 2),
                            "texts_per_second": round(n / statistics.median(values), 1),
                            "load_average_before_after": loads[arm],
                            "cpu": cpu[arm],
                            "cpu_seconds_per_1000_texts": round(
                                1000 * statistics.median(c["encode_cpu_seconds"] for c in cpu[arm]) / n, 3
                            ),
                            "max_abs_diff_to_local": diffs[arm],
                        }
                        for arm, values in arms.items()
                        if values
                    },
                }
                (RESULTS / (args.out or "ray_backend_embed.json")).write_text(
                    json.dumps({"settings": vars(args), **out, "provenance": prov.finish()}, indent=2) + "\n"
                )
    ray.shutdown()
    return out


def train_part(args: argparse.Namespace, prov: Provenance) -> dict[str, Any]:
    import ray

    from explorec import distributed
    from explorec.data.registry import load_dataset
    from explorec.evaluation import evaluate
    from explorec.models.sasrec import SASRec

    data = load_dataset("amazon-scientific", data_dir=args.data_dir)
    split = data.split
    assert split is not None
    params = {**SASREC, "epochs": args.epochs, "patience": args.epochs}
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=512 * 1024**2, log_to_driver=False)
    runs: list[dict[str, Any]] = []
    for seed in args.seeds:
        for arm in ("local", f"ray[{args.workers}]"):
            model = SASRec(**params, seed=seed)
            before = load_average()
            start = time.perf_counter()
            if arm == "local":
                model.fit(split.train, data.catalog, valid=split.valid)
            else:
                distributed.fit(model, split.train, data.catalog, valid=split.valid, workers=args.workers)
            fit_seconds = time.perf_counter() - start
            result = evaluate(model, split.test, history=split.test_history, k=[10])
            hist = model.history_
            run = {
                "arm": arm,
                "seed": seed,
                "ndcg@10": float(result.metrics["ndcg@10"]),
                "recall@10": float(result.metrics["recall@10"]),
                "best_epoch": hist.best_epoch,
                "best_valid_ndcg@10": hist.best_metric,
                "epochs_run": len(hist.epochs),
                "steps_per_epoch_per_worker": hist.epochs[0].steps,
                "fit_seconds": round(fit_seconds, 1),
                "seconds_per_epoch": round(hist.seconds_per_epoch, 2),
                "load_average_before_after": [before, load_average()],
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
            (RESULTS / "ray_backend_train.json").write_text(
                json.dumps(
                    {"settings": vars(args), "params": params, "runs": runs, "provenance": prov.finish()},
                    indent=2,
                )
                + "\n"
            )
    ray.shutdown()
    summary: dict[str, Any] = {}
    for arm in sorted({r["arm"] for r in runs}):
        values = [r["ndcg@10"] for r in runs if r["arm"] == arm]
        summary[arm] = {
            "ndcg@10_mean": float(np.mean(values)),
            "ndcg@10_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "recall@10_mean": float(np.mean([r["recall@10"] for r in runs if r["arm"] == arm])),
            "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in runs if r["arm"] == arm])),
        }
    local, ray_arm = summary["local"], summary[f"ray[{args.workers}]"]
    summary["ray_within_one_std_of_local"] = bool(
        abs(ray_arm["ndcg@10_mean"] - local["ndcg@10_mean"]) <= local["ndcg@10_std"]
    )
    return {"params": params, "runs": runs, "summary": summary}


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=("embed", "train"), required=True)
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--minilm-texts", type=int, default=100_000)
    parser.add_argument("--hashing-texts", type=int, default=1_000_000)
    parser.add_argument("--hashing-dim", type=int, default=64)
    parser.add_argument(
        "--minilm-batch-size", type=int, default=256, help="MiniLM texts per map_batches call"
    )
    parser.add_argument(
        "--hashing-batch-size", type=int, default=4096, help="hashing texts per map_batches call"
    )
    parser.add_argument("--object-store-gib", type=float, default=2.0, help="Ray object store size")
    parser.add_argument("--text-seed", type=int, default=0, help="seed of the recombined texts")
    parser.add_argument("--out", default=None, help="results file name under bench/results/")
    parser.add_argument("--ray-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="--part train: Ray Train workers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    RESULTS.mkdir(exist_ok=True)
    out = embed_part(args, prov) if args.part == "embed" else train_part(args, prov)
    payload = {"settings": vars(args), **out, "provenance": prov.finish()}
    name = args.out or f"ray_backend_{args.part}.json"
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(out.get("summary", out), indent=2))


if __name__ == "__main__":
    main()
