"""Compression, float against compressed: the text encoder, the item vectors, the sequential model.

Parts (``--part``, repeatable; default all), each writing ``bench/results/compression_<part>.json``:

``encoder``  all-MiniLM-L6-v2 as plain ``SentenceTransformer.encode`` (torch threads 1 and 2) against
             explorec's int8 ONNX encoder (``minilm-onnx-int8``, onnxruntime threads 1 and 2), on the
             same amazon-scientific item texts, interleaved round by round so every variant sees the
             same machine load; texts/s by wall clock and per CPU-second (``time.process_time``, all
             threads of the process). Then over every catalogue item: cosine agreement of the int8
             vectors with the float ones, and NDCG@10 / Recall@10 of textknn on the cold items of
             ``cold_item_split(item_fraction=0.2, seed=0)`` (as ``bench/cold_start.py``) with either
             encoder.
``vectors``  FAISS compressed indexes (``sq8``, ``ivf-sq8``, ``hnsw-sq8``, ``ivf-pq``) against exact float
             search: recall@10, memory (FAISS serialisation size) and query latency, on the
             amazon-scientific MiniLM item vectors (every item queries its neighbours, itself excluded)
             and on ``--n-synthetic`` clustered synthetic vectors (``explorec.index.synthetic``).
``synthetic`` the ``--n-synthetic`` clustered synthetic vectors alone, with a sweep: each FAISS index of
             ``SYNTHETIC_SWEEP`` is built once and searched at several search-time settings (IVF lists
             visited, candidates re-ranked by ``refine``); recall@10 against exact float search, memory
             (serialisation size, the refine copy included), query latency, build time, peak RSS.
``sasrec``   SASRec trained on amazon-scientific's shipped leave-one-out split, scored in float and
             after dynamic int8 quantisation of its Linear layers (``explorec.models.quantize``):
             NDCG@10 / Recall@10 on the test users, scoring latency per user (interleaved rounds).

    OMP_NUM_THREADS=1 nice -n 10 python bench/compression.py --part encoder --part vectors --part sasrec
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results"
DATASET = "amazon-scientific"


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, process CPU seconds (all threads) and the result of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _load(data_dir: str) -> Any:
    from explorec.data.registry import load_dataset

    return load_dataset(DATASET, data_dir=data_dir)


# ---------------------------------------------------------------------------- encoder
def part_encoder(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    from explorec.data.splits import cold_item_split
    from explorec.encoders import OnnxEncoder, SentenceEncoder, item_texts, item_vectors
    from explorec.encoders.sentence import default_model_path
    from explorec.evaluation import evaluate
    from explorec.models.textknn import TextKNN

    data = _load(args.data_dir)
    texts_all = item_texts(data.catalog, DATASET)
    texts = texts_all[: args.n_texts]
    plain = SentenceTransformer(str(default_model_path()), device="cpu")
    onnx = {t: OnnxEncoder(quantize="int8", num_threads=t, batch_size=args.batch_size) for t in (1, 2)}
    for enc in onnx.values():
        _ = enc.session  # export (once, cached) and load before anything is timed
    export = {"export_seconds": round(max(e.export_seconds for e in onnx.values()), 1)}

    def run_plain(threads: int) -> Callable[[], Any]:
        def go() -> Any:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                return plain.encode(
                    texts, batch_size=args.batch_size, show_progress_bar=False, normalize_embeddings=True
                )
            finally:
                torch.set_num_threads(before)

        return go

    variants: dict[str, Callable[[], Any]] = {
        "sentence-transformers[torch threads=1]": run_plain(1),
        "sentence-transformers[torch threads=2]": run_plain(2),
        "onnx-int8[ort threads=1]": lambda: onnx[1].encode(texts),
        "onnx-int8[ort threads=2]": lambda: onnx[2].encode(texts),
    }
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for round_ in range(args.rounds):
        for name, fn in variants.items():
            w, c, _ = _timed(fn)
            wall[name].append(w)
            cpu[name].append(c)
            print(
                f"round {round_}: {name} {w:.1f}s wall, {c:.1f} CPU-s, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    throughput = {
        name: {
            "median_wall_seconds": round(statistics.median(wall[name]), 2),
            "texts_per_second": round(len(texts) / statistics.median(wall[name]), 1),
            "median_cpu_seconds": round(statistics.median(cpu[name]), 2),
            "texts_per_cpu_second": round(len(texts) / statistics.median(cpu[name]), 1),
            "wall_seconds": [round(x, 2) for x in wall[name]],
        }
        for name in variants
    }
    best_float = max(
        (v for k, v in throughput.items() if k.startswith("sentence")), key=lambda r: r["texts_per_second"]
    )
    best_int8 = max(
        (v for k, v in throughput.items() if k.startswith("onnx")), key=lambda r: r["texts_per_second"]
    )
    ratio = {
        "wall_best_vs_best": round(best_int8["texts_per_second"] / best_float["texts_per_second"], 2),
        "cpu_threads1": round(
            throughput["onnx-int8[ort threads=1]"]["texts_per_cpu_second"]
            / throughput["sentence-transformers[torch threads=1]"]["texts_per_cpu_second"],
            2,
        ),
        "wall_threads1": round(
            throughput["onnx-int8[ort threads=1]"]["texts_per_second"]
            / throughput["sentence-transformers[torch threads=1]"]["texts_per_second"],
            2,
        ),
    }

    # every catalogue item: float vectors (from the embedding cache) and int8 ones (cached apart)
    float_vectors = item_vectors(data.catalog, template=DATASET)
    int8_vectors = item_vectors(data.catalog, encoder=onnx[2], template=DATASET)
    cos = (float_vectors * int8_vectors).sum(axis=1)
    agreement = {
        "n_items": int(cos.size),
        "mean": round(float(cos.mean()), 4),
        "min": round(float(cos.min()), 4),
        "p01": round(float(np.quantile(cos, 0.01)), 4),
        "float_model_id": SentenceEncoder().model_id,
        "int8_model_id": onnx[2].model_id,
    }
    split = cold_item_split(data.interactions, item_fraction=0.2, seed=0)
    rows = {}
    for name, spec in (("float (sentence-transformers)", "default"), ("int8 ONNX", "minilm-onnx-int8")):
        model = TextKNN(encoder=spec, template=DATASET).fit(split.train, data.catalog)
        m = evaluate(model, split.test, history=split.test_history, k=(10,)).metrics
        rows[name] = {"ndcg@10": round(m["ndcg@10"], 4), "recall@10": round(m["recall@10"], 4)}
        print(f"textknn cold items, {name}: {rows[name]}", flush=True)
    f, q = rows["float (sentence-transformers)"]["ndcg@10"], rows["int8 ONNX"]["ndcg@10"]
    sizes = {
        "float_safetensors_bytes": (Path(default_model_path()) / "model.safetensors").stat().st_size,
        "int8_onnx_bytes": (onnx[2].exported() / "model.onnx").stat().st_size,
    }
    return {
        "settings": {
            "dataset": DATASET,
            "n_texts_timed": len(texts),
            "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "quantisation": "onnxruntime quantize_dynamic, QInt8 weights, per channel; activations per batch",
        },
        "export": export,
        "throughput": throughput,
        "speedup": ratio,
        "cosine_agreement": agreement,
        "textknn_cold_items": {**rows, "relative_change": round((q - f) / f, 4), "split": split.summary()},
        "model_bytes": sizes,
    }


# ---------------------------------------------------------------------------- vectors
def _search_stats(
    index: Any, queries: np.ndarray, exact: np.ndarray, exclude: Any, rounds: int, n_single: int
) -> dict[str, Any]:
    from explorec.index.synthetic import recall_at_k

    k = exact.shape[1]
    times = []
    found = None
    for _ in range(rounds):
        w, _, (found, _) = _timed(lambda: index.search(queries, k, exclude=exclude))
        times.append(w)
    # one query at a time, as a service asks: latency per request
    n_single = min(n_single, queries.shape[0])
    singles = []
    for q in range(n_single):
        w, _, _ = _timed(lambda q=q: index.search(queries[q : q + 1], k))
        singles.append(w * 1000)
    return {
        "recall@10": round(recall_at_k(found, exact), 4),
        "batch_ms_per_query": round(statistics.median(times) / queries.shape[0] * 1000, 3),
        "single_query_ms_p50": round(float(np.median(singles)), 3),
        "single_query_ms_p95": round(float(np.quantile(singles, 0.95)), 3),
    }


def _compare_indexes(
    vectors: np.ndarray,
    queries: np.ndarray,
    configs: list[tuple[str, dict[str, Any]]],
    exclude: Any,
    rounds: int,
    n_single: int = 100,
) -> list[dict[str, Any]]:
    from explorec.index import ExactIndex, FaissIndex

    exact_index = ExactIndex(vectors)
    exact, _ = exact_index.search(queries, 10, exclude=exclude)
    rows = [
        {
            "index": "exact float32 (BLAS)",
            "memory_bytes": int(vectors.nbytes),
            "memory_ratio": 1.0,
            "build_seconds": 0.0,
            **_search_stats(exact_index, queries, exact, exclude, rounds, n_single),
        }
    ]
    print("   ", json.dumps(rows[-1]), flush=True)
    del exact_index
    for kind, options in configs:
        wb, _, index = _timed(lambda kind=kind, options=options: FaissIndex(vectors, kind=kind, **options))
        memory = index.memory_bytes()
        rows.append(
            {
                "index": f"faiss {kind}",
                "options": options,
                "memory_bytes": memory,
                "memory_ratio": round(vectors.nbytes / memory, 2),
                "build_seconds": round(wb, 1),
                **_search_stats(index, queries, exact, exclude, rounds, n_single),
            }
        )
        print("   ", json.dumps(rows[-1]), flush=True)
        del index
        gc.collect()
    return rows


def part_vectors(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    from explorec.encoders import item_vectors
    from explorec.index.synthetic import clustered_vectors

    faiss.omp_set_num_threads(1)
    data = _load(args.data_dir)
    vectors = item_vectors(data.catalog, template=DATASET)
    n = vectors.shape[0]
    print(f"== {DATASET} MiniLM item vectors {vectors.shape}", flush=True)
    real_configs: list[tuple[str, dict[str, Any]]] = [
        ("sq8", {}),
        ("ivf-sq8", {"nlist": 64, "nprobe": 16}),
        ("hnsw-sq8", {"m": 16, "ef_search": 128}),
        ("ivf-pq", {"nlist": 64, "nprobe": 16, "pq_m": 96}),
        ("ivf-pq", {"nlist": 64, "nprobe": 16, "pq_m": 192}),
    ]
    queries = vectors  # every item asks for its 10 nearest other items
    exclude = [[i] for i in range(n)]
    real = _compare_indexes(vectors, queries, real_configs, exclude, args.index_rounds)
    del vectors, queries
    gc.collect()

    shape = {"n_clusters": 1000, "rank": 32, "spread": 0.06, "noise": 0.012, "seed": 0}
    big = clustered_vectors(args.n_synthetic, 384, **shape)
    big_queries = clustered_vectors(args.n_queries, 384, stream=1, **shape)
    print(f"== synthetic clustered vectors {big.shape}", flush=True)
    synthetic_configs: list[tuple[str, dict[str, Any]]] = [
        ("sq8", {}),
        ("ivf-sq8", {"nlist": args.nlist, "nprobe": 16, "max_train": 32 * args.nlist}),
        ("ivf-pq", {"nlist": args.nlist, "nprobe": 16, "pq_m": 192, "max_train": 16_384}),
    ]
    kinds = args.synthetic_kinds.split(",")
    synthetic_configs = [(kind, options) for kind, options in synthetic_configs if kind in kinds]
    synthetic = _compare_indexes(big, big_queries, synthetic_configs, None, args.index_rounds, n_single=10)
    return {
        "settings": {
            "faiss_threads": 1,
            "k": 10,
            "real": {"dataset": DATASET, "n_items": n, "queries": "every item, itself excluded"},
            "synthetic": {"n": args.n_synthetic, "dim": 384, "n_queries": args.n_queries, **shape},
            "memory": "FAISS serialisation size (codes, ids, graph, quantisers); float = n * dim * 4",
            "rerank": "none: recall is of the compressed index's own top-10",
        },
        "real": real,
        "synthetic": synthetic,
    }


#: ``--part synthetic``: (kind, build options, search-time settings swept on the built index). An
#: ``ivf-pq`` index is built once with ``refine="sq8"``: ``refine_k=1`` re-ranks only its own top 10, so
#: its recall@10 is that of IVF-PQ alone, and its memory is counted without the int8 copy.
SYNTHETIC_SWEEP: list[tuple[str, dict[str, Any], list[dict[str, int]]]] = [
    ("sq8", {}, [{}]),
    (
        "ivf-pq",
        {"pq_m": 192, "refine": "sq8"},
        [{"nprobe": p, "refine_k": 1} for p in (8, 16, 32, 64)]
        + [{"nprobe": p, "refine_k": r} for p in (16, 32) for r in (2, 4, 8)],
    ),
    ("hnsw-sq8", {"m": 8, "ef_construction": 40}, [{"ef_search": e} for e in (64, 128, 256)]),
    (
        "ivf-pq",
        {"pq_m": 96, "refine": "sq8"},
        [{"nprobe": p, "refine_k": 1} for p in (16, 64)] + [{"nprobe": 16, "refine_k": r} for r in (4, 16)],
    ),
]


def _peak_rss_gib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)


def part_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    from explorec.index import ExactIndex, FaissIndex
    from explorec.index.synthetic import clustered_vectors

    faiss.omp_set_num_threads(1)
    shape = {"n_clusters": 1000, "rank": 32, "spread": 0.06, "noise": 0.012, "seed": 0}
    vectors = clustered_vectors(args.n_synthetic, 384, **shape)
    queries = clustered_vectors(args.n_queries, 384, stream=1, **shape)
    print(f"== synthetic clustered vectors {vectors.shape}, {queries.shape[0]} queries", flush=True)
    exact_index = ExactIndex(vectors)
    exact, _ = exact_index.search(queries, 10)
    rows: list[dict[str, Any]] = [
        {
            "index": "exact float32 (BLAS)",
            "memory_bytes": int(vectors.nbytes),
            "memory_ratio": 1.0,
            "build_seconds": 0.0,
            **_search_stats(exact_index, queries, exact, None, args.index_rounds, 10),
            "load_average": os.getloadavg()[0],
        }
    ]
    print("   ", json.dumps(rows[-1]), flush=True)
    del exact_index
    kinds = args.synthetic_kinds.split(",")
    for kind, options, settings in SYNTHETIC_SWEEP:
        if kind not in kinds:
            continue
        build = dict(options)
        if kind.startswith("ivf"):
            build |= {"nlist": args.nlist, "max_train": args.max_train}
        wb, cpu_b, index = _timed(lambda kind=kind, build=build: FaissIndex(vectors, kind=kind, **build))
        for setting in settings:
            if kind == "hnsw-sq8":
                index.index.hnsw.efSearch = setting["ef_search"]
            else:
                index.tune(**setting)
            alone = setting.get("refine_k") == 1
            memory = index.memory_bytes(refine=not alone)
            rows.append(
                {
                    "index": f"faiss {kind}" + ("" if alone or "refine" not in build else " + refine sq8"),
                    "options": build,
                    "search": setting,
                    "memory_bytes": memory,
                    "memory_ratio": round(vectors.nbytes / memory, 2),
                    "bytes_per_vector": round(memory / vectors.shape[0], 1),
                    "build_seconds": round(wb, 1),
                    "build_cpu_seconds": round(cpu_b, 1),
                    **_search_stats(index, queries, exact, None, args.index_rounds, 10),
                    "load_average": os.getloadavg()[0],
                    "peak_rss_gib": _peak_rss_gib(),
                }
            )
            print("   ", json.dumps(rows[-1]), flush=True)
            # a partial file after every row: a run stopped early keeps what it measured
            partial = RESULTS / f"compression_synthetic{args.suffix}.partial.json"
            partial.write_text(json.dumps({"rows": rows, "command": sys.argv}, indent=2) + "\n")
        del index
        gc.collect()
    return {
        "settings": {
            "faiss_threads": 1,
            "k": 10,
            "synthetic": {"n": args.n_synthetic, "dim": 384, "n_queries": args.n_queries, **shape},
            "nlist": args.nlist,
            "max_train": args.max_train,
            "memory": "FAISS serialisation size (codes, ids, graph, quantisers, refine copy); "
            "float = n * dim * 4",
            "refine": "'sq8': candidates re-ranked with int8 codes of every vector, held beside the index",
        },
        "synthetic": rows,
        "peak_rss_gib": _peak_rss_gib(),
    }


# ---------------------------------------------------------------------------- sasrec
def part_sasrec(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from explorec.evaluation import evaluate
    from explorec.models.quantize import quantize_model
    from explorec.models.sasrec import SASRec
    from explorec.models.saved import load_saved

    torch.set_num_threads(1)
    data = _load(args.data_dir)
    split = data.split
    model_dir = Path(args.sasrec_dir)
    params = {"dim": 64, "epochs": args.sasrec_epochs, "num_threads": 1, "progress": False, "seed": 0}
    fit_seconds = None
    if not (model_dir / "CURRENT").is_file():
        start = time.perf_counter()
        SASRec(**params).fit(split.train, valid=split.valid).save(model_dir)
        fit_seconds = round(time.perf_counter() - start, 1)
    float_model = load_saved(model_dir).model
    int8_model = quantize_model(load_saved(model_dir).model, "int8")
    users = np.unique(split.test.user)
    out: dict[str, Any] = {}
    for name, model in (("float32", float_model), ("int8 (dynamic, Linear layers)", int8_model)):
        m = evaluate(model, split.test, history=split.test_history, k=(10,)).metrics
        out[name] = {"ndcg@10": round(m["ndcg@10"], 4), "recall@10": round(m["recall@10"], 4)}
    times: dict[str, list[float]] = {k: [] for k in out}
    batch = users[: args.sasrec_users]
    for _ in range(args.rounds):
        for name, model in (("float32", float_model), ("int8 (dynamic, Linear layers)", int8_model)):
            # one request of 1 user, and one of a batch, as the service and `recommend --users all` ask
            w, _, _ = _timed(
                lambda model=model: [model.score([u], history=split.test_history) for u in batch]
            )
            times[name].append(w / batch.size * 1000)
    for name in out:
        out[name]["ms_per_user_single"] = round(statistics.median(times[name]), 3)
        w, _, _ = _timed(
            lambda name=name: (float_model if name == "float32" else int8_model).score(
                users, history=split.test_history
            )
        )
        out[name]["ms_per_user_batched"] = round(w / users.size * 1000, 4)
    state = {k: v for k, v in float_model.module_.state_dict().items()}
    linear_params = sum(
        p.numel()
        for mod in float_model.module_.modules()
        if isinstance(mod, torch.nn.Linear)
        for p in mod.parameters()
    )
    return {
        "settings": {
            "dataset": DATASET,
            "split": split.summary(),
            "params": params,
            "fit_seconds": fit_seconds,
            "torch_threads": 1,
            "timed_users_single": int(batch.size),
            "test_users": int(users.size),
        },
        "float_parameters": int(sum(v.numel() for v in state.values())),
        "linear_parameters_quantised": int(linear_params),
        "results": out,
    }


PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "encoder": part_encoder,
    "vectors": part_vectors,
    "synthetic": part_synthetic,
    "sasrec": part_sasrec,
}


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", action="append", choices=sorted(PARTS), default=[])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--n-texts", type=int, default=512, help="texts timed per encoder variant and round")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--index-rounds", type=int, default=1)
    parser.add_argument("--n-synthetic", type=int, default=1_000_000)
    parser.add_argument("--n-queries", type=int, default=200)
    parser.add_argument("--nlist", type=int, default=256, help="IVF lists of the synthetic indexes")
    parser.add_argument(
        "--synthetic-kinds", default="sq8,ivf-sq8,ivf-pq", help="FAISS kinds on synthetic data"
    )
    parser.add_argument(
        "--max-train", type=int, default=65_536, help="--part synthetic: IVF and PQ training vectors"
    )
    parser.add_argument("--sasrec-epochs", type=int, default=10)
    parser.add_argument("--sasrec-users", type=int, default=300, help="users scored one by one for latency")
    parser.add_argument(
        "--sasrec-dir",
        default=str(Path.home() / ".cache" / "explorec" / "bench-models" / "sasrec-compression"),
        help="the float SASRec is trained once and saved here, then reloaded",
    )
    parser.add_argument("--suffix", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for part in args.part or list(PARTS):
        print(f"#### part {part}", flush=True)
        start = time.perf_counter()
        payload: dict[str, Any] = {"part": part, **PARTS[part](args)}
        payload["wall_seconds"] = round(time.perf_counter() - start, 1)
        payload["provenance"] = prov.finish()
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"compression_{part}{args.suffix}.json"
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"#### part {part} done in {payload['wall_seconds']} s -> {path}", flush=True)


if __name__ == "__main__":
    main()
