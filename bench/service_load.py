"""Load benchmark of the HTTP service: a real uvicorn process on 127.0.0.1, a bounded load generator.

1. starts ``explorec serve`` (SQLite store in a temporary folder, hashing encoder, ε-greedy + MMR,
   retrieval index chosen by size: FAISS HNSW above 50,000 items), every impression logged;
2. item ingestion: the generated catalogue (``explorec.data.synthetic``, ``--n-items`` items, title
   and department as text) posted in batches of 1,000 (embedding and index insertion included);
3. event ingestion, durable (SQLite ``synchronous=FULL``): the generated interactions posted in
   batches of 1,000 events, then one-event requests at each ``--single-concurrency`` level;
4. recommendations: for each concurrency level, GET requests (90 % users with history, 10 % unknown
   users) from a fixed number of concurrent connections; latency is measured per request by the
   generator (p50, p90, p99, max) and throughput as requests over wall time;
5. the recall that the FAISS index costs: for sampled users, the share of the exact top-100
   candidates (text profile · item vectors over the whole catalogue) that the served retrieval
   (HNSW, then exact rescoring) also puts in its top 100.

Before each of steps 3 and 4 (and each single-event level) the benchmark waits until the server's
processes use under 0.15 of a core (``settle``; at most 120 s, the wait recorded as ``settled_s``):
after 100,000 items or 60,000 events each worker catches up on what the other one wrote, and that
work would otherwise land on the next phase. ``--no-settle`` runs the phases back to back.

The load generator of steps 3 (single events) and 4 is ``wrk`` when it is installed (Debian
package ``wrk``; ``bench/_loadgen.py``: one C thread, microseconds of CPU per request, each level
bounded by ``--duration`` seconds), else an async httpx client (1.5-4 ms of CPU per request on the
same cores, a fixed ``--requests`` count per level); ``--generator`` forces one. The results name
the generator. Item and event batches are always posted by httpx (exactly once each). The server's
CPU time (all its processes, from ``/proc``) is read around every phase: CPU milliseconds per
request do not depend on the machine's load the way wall-clock numbers do.

Prints settings and numbers; writes ``bench/results/service_load.json``.

    python bench/service_load.py                       # 100,000 items
    python bench/service_load.py --n-items 5000 --requests 500 --duration 5   # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _loadgen import Template, choose_generator, run_load_async
from _provenance import Provenance
from _service import feedback_batches, free_port, start_serve, tree_cpu_s, wait_ready


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000.0
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "mean_ms": float(a.mean()),
    }


#: the server's pid (set once it started): its CPU time is read around every measured phase
SERVER: dict[str, int] = {}
#: CPU milliseconds per request of the server (all its processes) and of this client, per phase
CPU_MS: dict[str, float] = {}
#: seconds each phase waited for the server to go quiet first (see ``settle``)
SETTLED: dict[str, float] = {}
#: a server using less than this share of one core is quiet (idle: ~0.02-0.05, its pollers)
QUIET_CORES = 0.15


async def settle(phase: str, enabled: bool, max_s: float = 120.0) -> None:
    """Wait until the server's processes use under ``QUIET_CORES`` of a core over two 0.5 s windows.

    After a phase that writes a lot (100,000 items, 60,000 events) every worker's refresher catches up
    on what the other worker wrote (catalogue rows, vectors, index insertion, events read back), which
    otherwise lands on the next phase's clock and CPU. The wait is recorded per phase
    (``settled_s``); ``--no-settle`` runs the phases back to back, as the benchmark did before.
    """
    if not enabled:
        SETTLED[phase] = 0.0
        return
    start = time.perf_counter()
    quiet = 0
    while quiet < 2 and time.perf_counter() - start < max_s:
        cpu0, t0 = tree_cpu_s(SERVER["pid"]), time.perf_counter()
        await asyncio.sleep(0.5)
        rate = (tree_cpu_s(SERVER["pid"]) - cpu0) / (time.perf_counter() - t0)
        quiet = quiet + 1 if rate < QUIET_CORES else 0
    SETTLED[phase] = time.perf_counter() - start
    logging.getLogger(__name__).info("%s: server quiet after %.1f s", phase, SETTLED[phase])


async def run_requests(
    client: httpx.AsyncClient, make: Any, n: int, concurrency: int
) -> tuple[list[float], float, dict[int, int]]:
    """``n`` requests built by ``make(j)`` from ``concurrency`` tasks; (latencies, wall, status counts).

    Also sets ``CPU_MS``: the server's and the client's CPU milliseconds per request over the phase.
    """
    server0, client0 = tree_cpu_s(SERVER["pid"]), time.process_time()
    try:
        return await _run_requests(client, make, n, concurrency)
    finally:
        CPU_MS["server_cpu_ms_per_request"] = (tree_cpu_s(SERVER["pid"]) - server0) / n * 1000.0
        CPU_MS["client_cpu_ms_per_request"] = (time.process_time() - client0) / n * 1000.0


async def _run_requests(
    client: httpx.AsyncClient, make: Any, n: int, concurrency: int
) -> tuple[list[float], float, dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(n))

    async def worker() -> None:
        for j in counter:
            method, url, body = make(j)
            t0 = time.perf_counter()
            r = await client.request(method, url, json=body)
            latencies.append(time.perf_counter() - t0)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, statuses


async def generated_phase(
    base: str, key: str, templates: list[Template], connections: int, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    """One phase from the chosen generator (``args.generator``), with the server's CPU per request and
    how the generator's connections were spread over the server's worker processes."""
    server0 = tree_cpu_s(SERVER["pid"])
    port = int(base.rsplit(":", 1)[1])
    gen, duration = args.generator, args.duration
    load = asyncio.ensure_future(
        run_load_async(base, key, templates, connections=connections, generator=gen, duration_s=duration, n=n)
    )
    await asyncio.sleep(min(1.0, args.duration / 2))
    split = connections_per_worker(SERVER["pid"], port)
    result = await load
    result["connections_per_worker"] = split
    await asyncio.sleep(0.2)  # the requests in flight when wrk stopped finish on the server
    result["server_cpu_ms_per_request"] = (
        (tree_cpu_s(SERVER["pid"]) - server0) / max(result["requests"], 1) * 1000
    )
    return result


def connections_per_worker(pid: int, port: int) -> list[int]:
    """Established client connections on ``port`` held by each process of the server, most first.

    With ``worker_sockets = "shared"`` (uvicorn's one socket) a handful of keep-alive connections can
    land unevenly (all 4 on one of two workers), and the busier worker's queue sets the tail latency;
    with one ``SO_REUSEPORT`` socket per worker the kernel hashes them over the workers.
    """
    import psutil

    counts = []
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:  # a process that ended meanwhile
            continue
        n = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
        if n:
            counts.append(n)
    return sorted(counts, reverse=True)


def server_latency(metrics: str, route: str) -> dict[str, float]:
    """Mean and histogram-bucket p50/p99 of the route's 200 answers, from the service's own metrics."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    label = f'route="{route}",status="200"'
    for line in metrics.splitlines():
        if label not in line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("explorec_request_seconds_bucket"):
            le = name.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(value)))
        elif name.startswith("explorec_request_seconds_sum"):
            total = float(value)
        elif name.startswith("explorec_request_seconds_count"):
            count = float(value)

    def quantile(q: float) -> float:
        for le, cum in sorted(buckets):
            if cum >= q * count:
                return le * 1000.0
        return float("inf")

    return {
        "requests": count,
        "mean_ms": total / count * 1000.0 if count else float("nan"),
        "p50_bucket_ms": quantile(0.5),
        "p99_bucket_ms": quantile(0.99),
    }


def measure_recall(
    texts: list[str], histories: dict[str, list[int]], settings: dict[str, Any], n_users: int, seed: int
) -> dict[str, Any]:
    """Share of the exact top-``n_candidates`` that HNSW retrieval + exact rescoring keeps."""
    from explorec.encoders import make_encoder
    from explorec.index import make_index

    encoder = make_encoder(settings["encoder"])
    vectors = encoder.encode(texts)
    t0 = time.perf_counter()
    index = make_index(vectors, "faiss", kind="hnsw", ef_search=settings["faiss_ef_search"])
    build_s = time.perf_counter() - t0
    rng = random.Random(seed)
    users = rng.sample(sorted(histories), min(n_users, len(histories)))
    n_cand = settings["n_candidates"]
    retrieve = 2 * n_cand + settings["history_length"]
    recalls = []
    for user in users:
        hist = histories[user][-settings["history_length"] :]
        weights = 0.8 ** np.arange(len(hist))[::-1]
        q = (weights[:, None] * vectors[hist]).sum(axis=0, keepdims=True).astype(np.float32)
        q /= max(float(np.linalg.norm(q)), 1e-12)
        exact = np.argsort(-(vectors @ q[0]), kind="stable")
        exact = [i for i in exact[: n_cand + len(hist)] if i not in set(hist)][:n_cand]
        found, _ = index.search(q, retrieve)
        cand = [int(i) for i in found[0] if i >= 0 and i not in set(hist)]
        rescored = sorted(cand, key=lambda i: -float(vectors[i] @ q[0]))[:n_cand]
        recalls.append(len(set(rescored) & set(exact)) / n_cand)
    return {
        "users": len(users),
        "retrieve": retrieve,
        "ef_search": settings["faiss_ef_search"],
        "recall_at_candidates": float(np.mean(recalls)),
        "hnsw_build_s": build_s,
    }


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-items", type=int, default=100_000)
    parser.add_argument("--n-users", type=int, default=2000, help="generated users (their events are posted)")
    parser.add_argument(
        "--requests", type=int, default=2000, help="recommendation requests per level (httpx generator)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per recommend level and single events (wrk)"
    )
    parser.add_argument("--concurrency", default="1,8,16,32", help="concurrent connections, per level")
    parser.add_argument(
        "--single-events", type=int, default=2000, help="one-event feedback requests (httpx generator)"
    )
    parser.add_argument(
        "--single-concurrency",
        default="16,64",
        help="connections posting single events, per level (comma-separated)",
    )
    parser.add_argument("--generator", default="auto", help="auto (wrk when installed), wrk or httpx")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--recall-users", type=int, default=200, help="users sampled for the FAISS recall (0: not measured)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of the service")
    parser.add_argument(
        "--worker-sockets",
        default=None,
        choices=["auto", "reuseport", "shared"],
        help="the service's worker_sockets (default: the service's own default)",
    )
    parser.add_argument(
        "--faiss-min-items", type=int, default=50_000, help="FAISS HNSW retrieval from this many items on"
    )
    parser.add_argument(
        "--server-src", type=Path, default=None, help="run the server from this source tree (another commit)"
    )
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="run the phases back to back (default: wait for a quiet server before each phase)",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "service_load.json"))
    args = parser.parse_args()
    args.generator = choose_generator(args.generator)
    print(f"load generator: {args.generator}")

    from explorec.data.registry import load_dataset

    t0 = time.perf_counter()
    dataset = load_dataset("synthetic", n_users=args.n_users, n_items=args.n_items, seed=args.seed)
    catalog, data = dataset.catalog, dataset.interactions
    titles, departments = catalog.field("title"), catalog.field("categories")
    texts = [f"{titles[i]}. {departments[i]}" for i in range(catalog.n_items)]
    print(
        f"generated {catalog.n_items} items, {data.n_users} users, {len(data)} events "
        f"in {time.perf_counter() - t0:.0f}s"
    )

    settings: dict[str, Any] = {
        "encoder": "hashing:256",
        "policy": "eps-greedy:0.1",
        "rerank": "mmr:0.3",
        "index": "auto",
        "faiss_min_items": args.faiss_min_items,
        "faiss_ef_search": 128,
        "n_candidates": 100,
        "history_length": 50,
        "rate_limit": "1000000/minute",
        "refresh_interval_s": 1.0,
        "access_log": False,
        "catalogue_reload_s": 3600.0,  # one replica: nobody else deletes items
    }
    if args.workers != 1:  # only then: a service from before the setting existed runs with --workers 1
        settings["workers"] = args.workers
    if args.worker_sockets is not None:  # a service from before the setting existed has no such key
        settings["worker_sockets"] = args.worker_sockets
    folder = Path(tempfile.mkdtemp(prefix="explorec-load-"))
    port = free_port()
    config = folder / "explorec.toml"
    lines = [f'database_url = "sqlite:///{folder / "explorec.db"}"', f"port = {port}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    config.write_text("\n".join(lines) + "\n")
    proc, key, log = start_serve(config, folder, args.server_src)
    SERVER["pid"] = proc.pid
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {
        "settings": {**settings, "n_items": catalog.n_items, "k": args.k},
        "generator": args.generator,
        "server_src": None if args.server_src is None else str(args.server_src),
        "settle": args.settle,
        "settled_s": SETTLED,  # filled in as the phases start
    }
    try:
        wait_ready(base, proc, timeout=600)  # a loaded machine can take minutes to import and load
        results.update(asyncio.run(drive(base, key, args, catalog, data, texts)))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    histories: dict[str, list[int]] = {}
    for u, i in zip(data.user, data.item, strict=True):
        histories.setdefault(str(data.user_ids[u]), []).append(int(i))
    if catalog.n_items >= settings["faiss_min_items"] and args.recall_users > 0:
        results["recall"] = measure_recall(texts, histories, settings, args.recall_users, args.seed)
        print(
            "FAISS HNSW retrieval recall of the exact top-100 candidates: "
            f"{results['recall']['recall_at_candidates']:.4f}"
        )
    if args.settle:
        print("waited for a quiet server before: " + ", ".join(f"{k} {v:.1f} s" for k, v in SETTLED.items()))
    results["provenance"] = prov.finish()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"results: {args.out}")


async def drive(
    base: str, key: str, args: argparse.Namespace, catalog: Any, data: Any, texts: list[str]
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    out: dict[str, Any] = {}
    # the item batch that crosses faiss_min_items builds the HNSW graph over every item in one request
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=600) as client:
        # items, batches of 1,000
        departments = catalog.field("categories")
        batches = []
        for start in range(0, catalog.n_items, 1000):
            batches.append(
                {
                    "items": [
                        {
                            "item_id": str(catalog.item_ids[i]),
                            "text": texts[i],
                            "categories": [p[:64] for p in str(departments[i]).split("|") if p],
                            "timestamp": float(catalog.arrival[i]) if catalog.arrival is not None else 0.0,
                        }
                        for i in range(start, min(start + 1000, catalog.n_items))
                    ]
                }
            )
        lat, wall, statuses = await run_requests(
            client, lambda j: ("POST", "/v1/items", batches[j]), len(batches), 1
        )
        out["items_ingest"] = {
            "batches": len(batches),
            "batch_size": 1000,
            "items_per_s": catalog.n_items / wall,
            "statuses": statuses,
            **percentiles(lat),
            **CPU_MS,
        }
        print(
            f"items: {catalog.n_items} in {wall:.1f}s = {catalog.n_items / wall:.0f} items/s "
            "(batches of 1000, embedding included)"
        )

        # events, batches of 1,000 (durable before the answer)
        await settle("events_batch_ingest", args.settle)
        ev_batches = feedback_batches(data)
        n_events = sum(len(b["events"]) for b in ev_batches)
        lat, wall, statuses = await run_requests(
            client, lambda j: ("POST", "/v1/feedback", ev_batches[j]), len(ev_batches), 2
        )
        out["events_batch_ingest"] = {
            "events": n_events,
            "batch_size": 1000,
            "concurrency": 2,
            "events_per_s": n_events / wall,
            "settled_s": SETTLED["events_batch_ingest"],
            "statuses": statuses,
            **percentiles(lat),
            **CPU_MS,
        }
        print(
            f"events: {n_events} in {wall:.1f}s = {n_events / wall:.0f} events/s "
            f"(batches of 1000, 2 concurrent), server CPU {CPU_MS['server_cpu_ms_per_request']:.1f} us/event"
        )

        users = [str(u) for u in data.user_ids]
        rng = random.Random(args.seed)
        single_levels = []
        for level_no, conc in enumerate(int(c) for c in str(args.single_concurrency).split(",")):
            # ids unique across levels: a replayed id would be answered as a (cheaper) duplicate
            singles: list[Template] = [
                (
                    "POST",
                    "/v1/feedback",
                    json.dumps(
                        {
                            "events": [
                                {
                                    "event_id": f"s{level_no}-{j}-@@N@@",
                                    "user_id": rng.choice(users),
                                    "item_id": str(catalog.item_ids[rng.randrange(catalog.n_items)]),
                                    "type": "view",
                                }
                            ]
                        }
                    ),
                )
                for j in range(2000)
            ]
            await settle(f"single_events_{conc}", args.settle)
            single = await generated_phase(base, key, singles, conc, args, args.single_events)
            single_levels.append(
                {
                    "concurrency": conc,
                    "events_per_s": single["requests_per_s"],
                    "settled_s": SETTLED[f"single_events_{conc}"],
                    **single,
                }
            )
            print(
                f"single events: {single['requests']} in {single['wall_s']:.1f}s = "
                f"{single['requests_per_s']:.0f} requests/s ({conc} concurrent), "
                f"p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms, "
                f"server CPU {single['server_cpu_ms_per_request']:.2f} ms/request, "
                f"statuses {single['statuses']}"
            )
        out["events_single_ingest"] = single_levels[0]  # the first level (the key older results have)
        out["events_single_levels"] = single_levels
        await settle("recommend", args.settle)
        if not args.settle:
            await asyncio.sleep(2)  # the fixed pause for the refresher that settle replaces

        # recommendations: 90 % known users, 10 % unknown
        recs: list[Template] = [
            ("GET", f"/v1/users/{user}/recommendations?k={args.k}", None)
            for user in (users[j % len(users)] if j % 10 else "stranger-@@N@@" for j in range(len(users)))
        ]
        warm = argparse.Namespace(**{**vars(args), "duration": 2.0})
        await generated_phase(base, key, recs, 4, warm, 200)  # warm-up
        levels = []
        for conc in (int(c) for c in args.concurrency.split(",")):
            level = {
                "concurrency": conc,
                **(await generated_phase(base, key, recs, conc, args, args.requests)),
            }
            levels.append(level)
            print(
                f"recommend c={conc:>2}: {level['requests_per_s']:.0f} req/s, p50 {level['p50_ms']:.1f} ms, "
                f"p99 {level['p99_ms']:.1f} ms, "
                f"server CPU {level['server_cpu_ms_per_request']:.2f} ms/request, "
                f"connections per worker {level['connections_per_worker']}, statuses {level['statuses']}"
            )
        out["recommend"] = levels
        metrics = (await client.get("/metrics")).text
        out["server_side"] = server_latency(metrics, "/v1/users/{user_id}/recommendations")
        print(f"server-side recommend latency (whole run, from /metrics): {out['server_side']}")
        out["impressions_logged"] = float(
            next(
                line.split()[-1]
                for line in metrics.splitlines()
                if line.startswith("explorec_impressions_logged_total")
            )
        )
        ready = (await client.get("/readyz")).json()
        out["served"] = ready
    return out


if __name__ == "__main__":
    main()
