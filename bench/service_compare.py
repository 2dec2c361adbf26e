"""Two service builds side by side in one run: server CPU per request, then throughput and latency.

Starts two real ``explorec serve`` processes on 127.0.0.1 with the same settings (SQLite store, WAL,
``synchronous=FULL``, hashing encoder, ε-greedy 0.1 + MMR 0.3, every impression logged, FAISS HNSW
above ``--faiss-min-items``, ``--workers`` uvicorn workers each): ``baseline`` runs the ``explorec``
of ``--baseline-src`` (a source tree of an earlier commit, e.g. ``git archive <commit> src | tar -x
-C /tmp/base``), ``current`` the one this script imports. Both are seeded with the same generated
catalogue and interactions (``explorec.data.synthetic``, posted in batches of 1,000), then every
phase is run against one server and then the other, ``--rounds`` times, the order swapped every
round, so that both meet the same machine load:

- ``recommend c=C``: GET recommendations (k = 10; 90 % users with history, 10 % unknown users) from
  C concurrent connections;
- ``single events c=C``: POST /v1/feedback with one new event per request;
- ``event batches c=2``: POST /v1/feedback with 1,000 new events per request.

Each phase is bounded by ``--duration`` seconds (wrk) or ``--requests`` requests (httpx; see
``bench/_loadgen.py``). The primary number is the **server's CPU milliseconds per request** (user +
system time of all the server's processes from ``/proc``, read around the phase): it does not
depend on how busy the machine is the way wall-clock numbers do. Throughput and latency percentiles
(measured by the generator) are secondary and only comparable within a round. Also reported: each
server's idle CPU (background threads) in ms per second.

    python bench/service_compare.py --baseline-src /tmp/explorec-base/src --baseline-label 78648d1

Prints a table of medians; writes ``bench/results/service_compare.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _loadgen import Template, choose_generator, run_load
from _provenance import Provenance, git_state
from _service import feedback_batches, free_port, start_serve, tree_cpu_s, wait_ready


class Server:
    """One ``explorec serve`` process of the comparison, with its key and log."""

    def __init__(self, label: str, src: Path | None, settings: dict[str, Any]) -> None:
        self.label, self.src = label, src
        self.folder = Path(tempfile.mkdtemp(prefix=f"explorec-compare-{label}-"))
        self.port = free_port()
        lines = [f'database_url = "sqlite:///{self.folder / "explorec.db"}"', f"port = {self.port}"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        config = self.folder / "explorec.toml"
        config.write_text("\n".join(lines) + "\n")
        self.proc, self.key, self.log = start_serve(config, self.folder, src)
        self.base = f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def seed(
    server: Server, item_batches: list[dict[str, Any]], event_batches: list[dict[str, Any]]
) -> dict[str, Any]:
    """Post the catalogue and the interactions (each exactly once); CPU per item and per event."""
    headers = {"Authorization": f"Bearer {server.key}"}
    out: dict[str, Any] = {}
    with httpx.Client(base_url=server.base, headers=headers, timeout=600) as client:
        for name, path, batches, size in (
            ("items", "/v1/items", item_batches, sum(len(b["items"]) for b in item_batches)),
            ("events", "/v1/feedback", event_batches, sum(len(b["events"]) for b in event_batches)),
        ):
            cpu0, t0 = server.cpu_s(), time.perf_counter()
            for body in batches:
                r = client.post(path, json=body)
                if r.status_code != 200:
                    raise RuntimeError(
                        f"{server.label}: seeding {path} answered {r.status_code}: {r.text[:300]}"
                    )
            wall = time.perf_counter() - t0
            out[name] = {
                "count": size,
                "per_s": size / wall,
                "server_cpu_us_per_row": (server.cpu_s() - cpu0) / size * 1e6,
            }
    return out


def idle_cpu_ms_per_s(server: Server, seconds: float) -> float:
    cpu0 = server.cpu_s()
    time.sleep(seconds)
    return (server.cpu_s() - cpu0) / seconds * 1000.0


def phase(
    server: Server, templates: list[Template], connections: int, args: argparse.Namespace
) -> dict[str, Any]:
    cpu0 = server.cpu_s()
    result = run_load(
        server.base,
        server.key,
        templates,
        connections=connections,
        generator=args.generator,
        duration_s=args.duration,
        n=args.requests,
    )
    time.sleep(0.3)  # requests in flight when the generator stopped finish on the server
    result["server_cpu_ms_per_request"] = (server.cpu_s() - cpu0) / max(result["requests"], 1) * 1000.0
    return result


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-src", type=Path, required=True, help="source tree (src/) of the baseline")
    parser.add_argument("--baseline-label", default="baseline", help="e.g. the baseline's commit")
    parser.add_argument("--n-items", type=int, default=20_000)
    parser.add_argument("--n-users", type=int, default=2000)
    parser.add_argument("--faiss-min-items", type=int, default=None, help="default: half of --n-items")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per phase (wrk)")
    parser.add_argument("--requests", type=int, default=600, help="requests per phase (httpx)")
    parser.add_argument("--recommend-concurrency", default="1,8,32")
    parser.add_argument("--single-concurrency", default="16,64")
    parser.add_argument("--generator", default="auto", help="auto (wrk when installed), wrk or httpx")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "service_compare.json"))
    args = parser.parse_args()
    args.generator = choose_generator(args.generator)

    from explorec.data.registry import load_dataset

    dataset = load_dataset("synthetic", n_users=args.n_users, n_items=args.n_items, seed=args.seed)
    catalog, data = dataset.catalog, dataset.interactions
    titles, departments = catalog.field("title"), catalog.field("categories")
    item_ids = [str(i) for i in catalog.item_ids]
    item_batches = [
        {
            "items": [
                {
                    "item_id": item_ids[i],
                    "text": f"{titles[i]}. {departments[i]}",
                    "categories": [p[:64] for p in str(departments[i]).split("|") if p],
                }
                for i in range(start, min(start + 1000, catalog.n_items))
            ]
        }
        for start in range(0, catalog.n_items, 1000)
    ]
    event_batches = feedback_batches(data)
    users = [str(u) for u in data.user_ids]
    rng = random.Random(args.seed)

    def one_event(tag: str) -> dict[str, str]:
        return {
            "event_id": f"{tag}-@@N@@",
            "user_id": rng.choice(users),
            "item_id": rng.choice(item_ids),
            "type": "view",
        }

    recommend: list[Template] = [
        ("GET", f"/v1/users/{user}/recommendations?k=10", None)
        for user in (users[j % len(users)] if j % 10 else "stranger-@@N@@" for j in range(len(users)))
    ]
    singles: list[Template] = [
        ("POST", "/v1/feedback", json.dumps({"events": [one_event(f"s{j}")]})) for j in range(2000)
    ]
    batches: list[Template] = [
        ("POST", "/v1/feedback", json.dumps({"events": [one_event(f"b{j}-{i}") for i in range(1000)]}))
        for j in range(20)
    ]
    phases: list[tuple[str, list[Template], int]] = [
        *((f"recommend c={c}", recommend, int(c)) for c in args.recommend_concurrency.split(",")),
        *((f"single events c={c}", singles, int(c)) for c in args.single_concurrency.split(",")),
        ("event batches c=2", batches, 2),
    ]

    settings: dict[str, Any] = {
        "encoder": "hashing:256",
        "policy": "eps-greedy:0.1",
        "rerank": "mmr:0.3",
        "index": "auto",
        "faiss_min_items": args.faiss_min_items or max(1, args.n_items // 2),
        "faiss_ef_search": 128,
        "n_candidates": 100,
        "history_length": 50,
        "rate_limit": "1000000/minute",
        "refresh_interval_s": 1.0,
        "access_log": False,
        "catalogue_reload_s": 3600.0,
        "workers": args.workers,
    }
    print(f"generator {args.generator}; {catalog.n_items} items, {len(data)} events; settings {settings}")
    servers = [Server(args.baseline_label, args.baseline_src, settings), Server("current", None, settings)]
    results: dict[str, Any] = {
        "settings": {**settings, "n_items": catalog.n_items, "k": 10},
        "generator": args.generator,
        "baseline": {"label": args.baseline_label, "src": str(args.baseline_src)},
        "servers": {},
    }
    try:
        for server in servers:
            wait_ready(server.base, server.proc, timeout=900)
        for server in servers:
            seeded = seed(server, item_batches, event_batches)
            print(f"{server.label}: seeded {seeded}")
            results["servers"][server.label] = {"seed": seeded, "phases": {name: [] for name, _, _ in phases}}
        time.sleep(3)  # the refreshers read the seed back
        for server in servers:  # warm-up: first FAISS searches, connection pools, caches
            phase(
                server, recommend, 4, argparse.Namespace(**{**vars(args), "duration": 2.0, "requests": 100})
            )
        for server in servers:
            idle = idle_cpu_ms_per_s(server, 5.0)
            results["servers"][server.label]["idle_cpu_ms_per_s"] = idle
            print(f"{server.label}: idle CPU {idle:.1f} ms/s")
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else servers[::-1]
            for name, templates, connections in phases:
                for server in order:
                    r = phase(server, templates, connections, args)
                    r["round"] = rnd
                    results["servers"][server.label]["phases"][name].append(r)
                    cpu = r["server_cpu_ms_per_request"]
                    print(
                        f"round {rnd} {name:<20} {server.label:>10}: {cpu:7.3f} ms CPU/req, "
                        f"{r['requests_per_s']:7.0f} req/s, p50 {r['p50_ms']:6.1f} ms, "
                        f"p99 {r['p99_ms']:7.1f} ms, {r['statuses']}",
                        flush=True,
                    )
    finally:
        for server in servers:
            server.stop()
    for server in servers:  # kept (database, server.log) only when the run failed
        shutil.rmtree(server.folder, ignore_errors=True)
    summary: dict[str, Any] = {}
    for name, _, _ in phases:
        row: dict[str, Any] = {}
        for server in servers:
            runs = results["servers"][server.label]["phases"][name]
            row[server.label] = {
                key: statistics.median(r[key] for r in runs)
                for key in ("server_cpu_ms_per_request", "requests_per_s", "p50_ms", "p99_ms")
            }
        base_cpu = row[servers[0].label]["server_cpu_ms_per_request"]
        row["cpu_ratio_current_to_baseline"] = row["current"]["server_cpu_ms_per_request"] / base_cpu
        summary[name] = row
    results["summary_medians"] = summary
    print(f"\n{'phase':<22} {'CPU ms/req':>22} {'requests/s':>18} {'p99 ms':>18}")
    print(
        f"{'':<22} {servers[0].label:>10} {'current':>11} {servers[0].label:>8} {'current':>9} "
        f"{servers[0].label:>8} {'current':>9}"
    )
    for name, row in summary.items():
        a, b = row[servers[0].label], row["current"]
        print(
            f"{name:<22} {a['server_cpu_ms_per_request']:10.3f} {b['server_cpu_ms_per_request']:11.3f} "
            f"{a['requests_per_s']:8.0f} {b['requests_per_s']:9.0f} {a['p99_ms']:8.1f} {b['p99_ms']:9.1f}"
        )
    results["current_git"] = git_state()
    results["provenance"] = prov.finish()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
