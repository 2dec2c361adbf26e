"""``explorec embed``: encode a dataset's catalogue, reporting throughput and embedding-cache hits."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from explorec.cli._backend import add_backend_args, check_backend_args
from explorec.cli._common import add_dataset_args, load_dataset_from_args, summary, write_json


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "embed", help="encode a catalogue's item text into vectors (cached); report throughput and cache hits"
    )
    add_dataset_args(parser, split=False)
    parser.add_argument(
        "--model",
        default="default",
        help="text model: 'default' (all-MiniLM-L6-v2, packaged), 'minilm-onnx-int8' / 'minilm-onnx' "
        "(MiniLM exported to ONNX with int8 / float32 weights, onnxruntime on CPU; 'onnx-int8:<folder>' "
        "for another model), a local model folder, a cached Hugging Face name, or 'hashing:<dim>'",
    )
    parser.add_argument(
        "--template",
        default=None,
        help="item text template: a dataset name or parts joined by '||', e.g. "
        "'{title}.||Genres: {genres:list}.' (default: the dataset's own template)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="embedding cache folder (default ~/.cache/explorec/embeddings)"
    )
    parser.add_argument("--no-cache", action="store_true", help="encode everything, read and write no cache")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when present)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch (or onnxruntime) threads while encoding"
    )
    parser.add_argument(
        "--out", default=None, help="write the vectors to this .npy file (float32[n_items, dim])"
    )
    parser.add_argument("--json", default=None, help="write the report to this JSON file")
    add_backend_args(parser, what="Ray Data actors encode the texts, one GPU each when the cluster has GPUs")
    parser.set_defaults(func=cmd_embed)


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from explorec import progress
    from explorec.encoders import CachedEncoder, item_texts, make_encoder
    from explorec.encoders.templates import DEFAULT_TEMPLATES

    check_backend_args(args)
    dataset = load_dataset_from_args(args)
    template = args.template or (dataset.name if dataset.name in DEFAULT_TEMPLATES else None)
    texts = item_texts(dataset.catalog, template)
    encoder: Any = make_encoder(
        args.model, device=args.device, batch_size=args.batch_size, num_threads=args.threads
    )
    if args.backend == "ray":
        from explorec.distributed import RayEncoder, connect

        connect(args.address)  # before the clock starts: a local cluster takes seconds to start
        # the device is chosen per actor (a GPU each when the cluster has them), not by --device
        encoder = RayEncoder(encoder, workers=args.workers, address=args.address, progress=progress.enabled())
    cached = None
    if not args.no_cache and encoder.cacheable:
        cached = CachedEncoder(encoder, args.cache_dir)
        encoder = cached
    start = time.perf_counter()
    vectors = encoder.encode(texts, progress=progress.resolve(None))
    # a sentence model is loaded on the first miss; its load time is reported apart from encoding
    load_seconds = float(getattr(cached.encoder if cached is not None else encoder, "load_seconds", 0.0))
    seconds = time.perf_counter() - start - load_seconds
    unique = len(set(texts))
    encoded = cached.misses if cached is not None else unique
    report = {
        "dataset": dataset.name,
        "n_items": len(texts),
        "unique_texts": unique,
        "model_id": encoder.model_id,
        "backend": args.backend if args.backend == "local" else f"ray ({args.workers} workers)",
        "dim": int(vectors.shape[1]),
        "template": str(template) if template is not None else "auto",
        "cache": str(cached.cache.path) if cached is not None else None,
        "cache_hits": cached.hits if cached is not None else 0,
        "encoded": encoded,
        "model_load_seconds": round(load_seconds, 3),
        "seconds": round(seconds, 3),
        "encoded_texts_per_second": round(encoded / seconds, 1) if encoded and seconds > 0 else None,
        "items_per_second": round(len(texts) / seconds, 1) if seconds > 0 else None,
    }
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    if args.out:
        np.save(Path(args.out), vectors)
        print(f"vectors written to {args.out}")
    if args.json:
        write_json(args.json, report)
    rate = report["items_per_second"]
    where = [p for p in (args.out, args.json) if p] or ([report["cache"]] if report["cache"] else [])
    summary(
        args,
        f"{report['n_items']} items of {dataset.name} as {report['dim']}-d vectors ({encoded} encoded, "
        f"{report['cache_hits']} from the cache{f', {rate} items/s' if rate else ''})"
        + (f" -> {', '.join(where)}" if where else ""),
    )
    return 0
