"""Model swaps under load: a real ``explorec serve`` process follows the registry's pointer while a
bounded async client keeps asking for recommendations.

1. seeds a SQLite store (temporary folder) with the generated catalogue and interactions
   (``explorec.data.synthetic``: ``--n-items`` items, ``--n-users`` users);
2. refits two registry versions on the store's events with the trainer
   (:func:`explorec.online.trainer.refit`): EASE, then popularity (margin 1, so that it is swapped
   in too); both are complete, sealed versions;
3. starts ``explorec serve`` with ``registry_dir`` and ``model_poll_s`` (default 0.05 s), greedy policy
   without re-ranking (so that each version gives one exact slate per user);
4. records each version's slate for ``--probe-users`` users, then runs ``--concurrency`` client tasks
   (each request a probe user's recommendations) while this process moves the pointer ``--swaps``
   times, alternating the two versions (what the trainer or an admin's pin does), waiting each time
   until the server reports the swap (``GET /v1/models``: ``swaps``). Bounded: at most
   ``--max-requests`` requests and ``--time-limit`` seconds.

Counted: failed requests (transport errors or non-200), answers whose ``model_version`` is not a
complete version, answers whose items differ from the slate their version gives (a mixed or
half-loaded model), swap latency (pointer moved -> server serves it), request latency p50/p99.
Writes ``bench/results/model_swap.json``.

    python bench/model_swap.py                  # 100 swaps
    python bench/model_swap.py --swaps 10 --n-items 300   # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _provenance import Provenance
from _service import free_port, start_serve


def seed_store(url: str, n_items: int, n_users: int, seed: int) -> tuple[list[str], int]:
    """The generated shop in the store; returns the user ids and the number of events."""
    from explorec.data.registry import load_dataset
    from explorec.store import Store
    from explorec.store.base import EventIn, ItemIn, UserIn

    dataset = load_dataset("synthetic", n_users=n_users, n_items=n_items, seed=seed)
    catalog, data = dataset.catalog, dataset.interactions
    titles = catalog.field("title")
    store = Store.open(url)
    try:
        store.migrate()
        items = [
            ItemIn(item_id=str(catalog.item_ids[i]), text=str(titles[i])) for i in range(catalog.n_items)
        ]
        for start in range(0, len(items), 1000):
            store.upsert_items(items[start : start + 1000])
        users = [str(u) for u in data.user_ids]
        for start in range(0, len(users), 1000):
            store.upsert_users([UserIn(user_id=u) for u in users[start : start + 1000]])
        events = [
            EventIn(
                event_id=f"e{j}",
                user_id=users[int(data.user[j])],
                item_id=str(data.item_ids[int(data.item[j])]),
                type="click",
                timestamp=float(data.timestamp[j]),
            )
            for j in range(len(data))
        ]
        for start in range(0, len(events), 1000):
            store.append_events(events[start : start + 1000])
    finally:
        store.close()
    return users, len(events)


def two_versions(settings: Any, url: str) -> list[dict[str, Any]]:
    from explorec.online.trainer import refit
    from explorec.store import Store

    store = Store.open(url)
    try:
        ease = refit(settings, store)
        pop = refit(
            settings.model_copy(
                update={"trainer_model": "popularity", "trainer_params": {}, "trainer_margin": 1.0}
            ),
            store,
        )
    finally:
        store.close()
    for attempt in (ease, pop):
        if attempt["status"] != "promoted":
            raise SystemExit(f"refit {attempt['model']}: {attempt['status']}: {attempt['reason']}")
    return [ease, pop]


async def drive(
    base: str, key: str, registry: Any, versions: list[str], users: list[str], args: Any
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as client:

        def path(user: str) -> str:
            return f"/v1/users/{user}/recommendations?k={args.k}&policy=greedy&rerank=none"

        async def swaps_done() -> int:
            r = await client.get("/v1/models")
            r.raise_for_status()
            return int(r.json()["swaps"])

        async def serve(version: str) -> float:
            """Move the pointer to ``version`` and wait until the server serves it; seconds taken."""
            before = await swaps_done()
            tic = time.perf_counter()
            await asyncio.to_thread(registry.pin, version)
            while await swaps_done() == before:
                if time.perf_counter() - tic > 30:
                    raise SystemExit(f"the server did not swap in {version} within 30 s")
                await asyncio.sleep(0.005)
            return time.perf_counter() - tic

        expected: dict[str, dict[str, list[str]]] = {}
        for version in versions:
            await serve(version)
            expected[version] = {}
            for user in users:
                body = (await client.get(path(user))).json()
                if body["model_version"] != version:
                    raise SystemExit(f"probe of {user}: served {body['model_version']}, expected {version}")
                expected[version][user] = [i["item_id"] for i in body["items"]]
        differing = sum(expected[versions[0]][u] != expected[versions[1]][u] for u in users)

        complete = set(registry.names())
        counts = {"requests": 0, "failed": 0, "unknown_version": 0, "wrong_slate": 0}
        by_version = dict.fromkeys(versions, 0)
        latencies: list[float] = []
        failures: list[str] = []
        stop = asyncio.Event()
        deadline = time.monotonic() + args.time_limit

        async def worker(w: int) -> None:
            j = w
            while (
                not stop.is_set() and counts["requests"] < args.max_requests and time.monotonic() < deadline
            ):
                user = users[j % len(users)]
                j += args.concurrency
                counts["requests"] += 1
                tic = time.perf_counter()
                try:
                    r = await client.get(path(user))
                except httpx.HTTPError as exc:
                    counts["failed"] += 1
                    failures.append(repr(exc))
                    continue
                latencies.append(time.perf_counter() - tic)
                if r.status_code != 200:
                    counts["failed"] += 1
                    failures.append(f"{r.status_code}: {r.text[:200]}")
                    continue
                body = r.json()
                version = body["model_version"]
                if version not in complete:
                    counts["unknown_version"] += 1
                    continue
                by_version[version] = by_version.get(version, 0) + 1
                if [i["item_id"] for i in body["items"]] != expected[version][user]:
                    counts["wrong_slate"] += 1

        tasks = [asyncio.create_task(worker(w)) for w in range(args.concurrency)]
        swap_seconds: list[float] = []
        tic = time.perf_counter()
        for i in range(args.swaps):
            swap_seconds.append(await serve(versions[i % 2]))
        swap_wall = time.perf_counter() - tic
        stop.set()
        await asyncio.gather(*tasks)
        final = await swaps_done()
    lat = np.asarray(latencies) * 1000.0
    return {
        "swaps": args.swaps,
        "server_swaps_total": final,
        "swap_wall_s": swap_wall,
        "swap_latency_ms": {
            "p50": float(np.percentile(swap_seconds, 50) * 1000),
            "max": float(np.max(swap_seconds) * 1000),
        },
        **counts,
        "answers_by_version": by_version,
        "probe_users_whose_slate_differs": int(differing),
        "probe_users": len(users),
        "request_latency_ms": {
            "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()),
        },
        "throughput_rps": counts["requests"] / swap_wall,
        "failures_sample": failures[:5],
    }


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--swaps", type=int, default=100)
    parser.add_argument("--n-items", type=int, default=1000)
    parser.add_argument("--n-users", type=int, default=500)
    parser.add_argument("--probe-users", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--poll", type=float, default=0.05, help="the server's model_poll_s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "model_swap.json"))
    args = parser.parse_args()

    from explorec.online.registry import ModelRegistry
    from explorec.service.settings import load_settings

    folder = Path(tempfile.mkdtemp(prefix="explorec-swap-"))
    url = f"sqlite:///{folder / 'explorec.db'}"
    t0 = time.perf_counter()
    users, n_events = seed_store(url, args.n_items, args.n_users, args.seed)
    took = time.perf_counter() - t0
    print(f"seeded {args.n_items} items, {len(users)} users, {n_events} events in {took:.0f}s")
    port = free_port()
    settings: dict[str, Any] = {
        "database_url": url,
        "port": port,
        "encoder": "hashing:256",
        "policy": "greedy",
        "rerank": "none",
        "rate_limit": "1000000/minute",
        "access_log": False,
        "refresh_interval_s": 1.0,
        "catalogue_reload_s": 3600.0,
        "registry_dir": str(folder / "registry"),
        "model_poll_s": args.poll,
        "trainer_model": "ease",
        "trainer_params": {"l2": 100.0},
    }
    config = folder / "explorec.toml"
    lines = [f"{k} = {json.dumps(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    lines += [
        f"[{k}]\n" + "".join(f"{p} = {json.dumps(x)}\n" for p, x in v.items())
        for k, v in settings.items()
        if isinstance(v, dict)
    ]
    config.write_text("\n".join(lines) + "\n")
    loaded = load_settings(config)
    t0 = time.perf_counter()
    attempts = two_versions(loaded, url)
    versions = [a["version"] for a in attempts]
    print(
        f"two versions in {time.perf_counter() - t0:.0f}s: "
        + ", ".join(f"{a['model']} ndcg@10 {a['metrics']['ndcg@10']:.4f}" for a in attempts)
    )
    registry = ModelRegistry(folder / "registry")
    proc, key, log = start_serve(config, folder)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not become ready; see {folder / 'server.log'}")
            time.sleep(0.2)
        rng = np.random.default_rng(args.seed)
        probes = [
            users[i] for i in rng.choice(len(users), size=min(args.probe_users, len(users)), replace=False)
        ]
        results = asyncio.run(drive(base, key, registry, versions, probes, args))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    results["settings"] = {
        **{k: v for k, v in settings.items() if k not in ("database_url", "port", "registry_dir")},
        "n_items": args.n_items,
        "n_users": args.n_users,
        "n_events": n_events,
        "concurrency": args.concurrency,
        "k": args.k,
    }
    results["versions"] = [
        {"version": a["version"], "model": a["model"], "ndcg@10": a["metrics"]["ndcg@10"]} for a in attempts
    ]
    print(json.dumps({k: v for k, v in results.items() if k != "settings"}, indent=2))
    results["provenance"] = prov.finish()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
