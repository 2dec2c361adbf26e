"""Benchmark: feedback ingestion into the service's store, durability on, SQLite and PostgreSQL.

What is timed is ``Store.append_events`` as the HTTP layer calls it: each call returns only after
its events are committed (SQLite: WAL, ``synchronous=FULL``; PostgreSQL: ``synchronous_commit=on``,
``fsync=on``), idempotent on ``event_id``, with attribution of the events that quote a logged
impression. Several writer threads call the store at once, as the service's request threads do;
group commit batches them into shared transactions.

Settings: batches of 1,000 events per call (1, 4, 16 concurrent writers) and single-event calls
(1, 4, 16, 64 concurrent writers); a catalogue of 10,000 items and 1,000 logged impressions; 30 % of
the events quote one of them (seeded). PostgreSQL is a private server (Debian binaries,
pytest-postgresql's executor) with fsync on (pytest-postgresql's ``-F`` is overridden) and the
default ``synchronous_commit=on``; SQLite's file lies on the same disk. The JSON result records the
settings read back from each database.

Run:  python bench/store_ingest.py [--batch-events 100000] [--single-events 6000]

The aims of issue 12 (>= 20,000 events/s in batches of 1,000, >= 2,000/s single-event) are for the
HTTP service; this measures the store layer under it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance
from explorec.impressions import ImpressionRecord
from explorec.store import EventIn, ItemIn, Store
from explorec.store.pgserver import private_postgres

N_ITEMS = 10_000
N_IMPRESSIONS = 1_000
SLATE = 10


def _prepare(store: Store, seed: int) -> list[ImpressionRecord]:
    store.migrate()
    store.upsert_items([ItemIn(item_id=f"i{j}", text=f"item {j}") for j in range(N_ITEMS)])
    rng = np.random.default_rng(seed)
    records = []
    for r in range(N_IMPRESSIONS):
        shown = rng.choice(N_ITEMS, SLATE, replace=False)
        rec = ImpressionRecord(
            recommendation_id=f"rec{r}",
            user=-1,
            user_id=f"u{r % 500}",
            items=tuple(int(i) for i in shown),
            item_ids=tuple(f"i{i}" for i in shown),
            scores=tuple(float(s) for s in np.linspace(1.0, 0.1, SLATE)),
            propensities=(0.9,) * SLATE,
            explored=(False,) * SLATE,
            policy="epsilon-greedy",
        )
        store.append_impression(rec)
        records.append(rec)
    return records


def _events(tag: str, n: int, records: Sequence[ImpressionRecord], rng: np.random.Generator) -> list[EventIn]:
    out = []
    quote = rng.random(n) < 0.3
    for j in range(n):
        if quote[j]:
            rec = records[int(rng.integers(len(records)))]
            item_id, rec_id = rec.item_ids[int(rng.integers(SLATE))], rec.recommendation_id
        else:
            item_id, rec_id = f"i{int(rng.integers(N_ITEMS))}", None
        out.append(
            EventIn(
                event_id=f"{tag}-{j}",
                user_id=f"u{int(rng.integers(5000))}",
                item_id=item_id,
                type="click",
                value=1.0,
                timestamp=1.7e9 + j,
                recommendation_id=rec_id,
            )
        )
    return out


def _run(
    store: Store, records: Sequence[ImpressionRecord], mode: str, writers: int, total: int, seed: int
) -> dict[str, Any]:
    per_call = 1000 if mode == "batch" else 1
    calls_per_writer = max(1, total // (writers * per_call))
    rng = np.random.default_rng(seed)
    work = [
        [_events(f"{mode}{writers}-w{w}-c{c}", per_call, records, rng) for c in range(calls_per_writer)]
        for w in range(writers)
    ]
    latencies: list[list[float]] = [[] for _ in range(writers)]
    accepted = [0] * writers
    errors: list[BaseException] = []
    start_gate = threading.Barrier(writers + 1)

    def writer(w: int) -> None:
        start_gate.wait()
        try:
            for batch in work[w]:
                t0 = time.perf_counter()
                result = store.append_events(batch)
                latencies[w].append(time.perf_counter() - t0)
                accepted[w] += len(result.accepted)
        except BaseException as exc:  # reported below; a benchmark with errors is not a result
            errors.append(exc)

    before_events, before_commits = store.count_events(), store.commits
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for th in threads:
        th.start()
    start_gate.wait()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for th in threads:
        th.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if errors:
        raise RuntimeError(f"{mode} x{writers}: {errors[0]!r}")
    n_events = writers * calls_per_writer * per_call
    stored = store.count_events() - before_events
    if stored != n_events or sum(accepted) != n_events:
        raise RuntimeError(f"{mode} x{writers}: {n_events} sent, {sum(accepted)} accepted, {stored} stored")
    lat = np.asarray([x for row in latencies for x in row]) * 1e3
    commits = store.commits - before_commits
    return {
        "mode": mode,
        "events_per_call": per_call,
        "writers": writers,
        "calls": int(lat.size),
        "events": n_events,
        "wall_s": round(wall, 3),
        "events_per_s": round(n_events / wall, 1),
        "calls_per_s": round(lat.size / wall, 1),
        # CPU of this process (writers + committer; not PostgreSQL's server processes): what the
        # store costs per event whatever else runs on the machine
        "cpu_s": round(cpu, 3),
        "cpu_us_per_event": round(cpu / n_events * 1e6, 1),
        "commits": commits,
        "events_per_commit": round(n_events / max(commits, 1), 1),
        "call_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "call_p99_ms": round(float(np.percentile(lat, 99)), 2),
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['backend']:<10} {row['mode']:<6} writers={row['writers']:>2}: "
        f"{row['events_per_s']:>9.0f} events/s  {row['calls_per_s']:>7.0f} calls/s  "
        f"{row['events_per_commit']:>7.1f} events/commit  {row['cpu_us_per_event']:>6.1f} us CPU/event  "
        f"call p50 {row['call_p50_ms']:.1f} ms  p99 {row['call_p99_ms']:.1f} ms"
    )


def _durability(store: Store) -> dict[str, str]:
    """The settings that make a commit durable, read back from the database itself."""
    if store.backend == "postgresql":
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        with store.engine.connect() as conn:
            return {n: str(conn.exec_driver_sql(f"SHOW {n}").scalar_one()) for n in names}
    with store.engine.connect() as conn:
        return {
            "sqlite_version": sqlite3.sqlite_version,
            "journal_mode": str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()),
            "synchronous": {2: "FULL", 3: "EXTRA"}.get(
                conn.exec_driver_sql("PRAGMA synchronous").scalar_one(), "?"
            ),
        }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-events", type=int, default=100_000, help="events per batch setting")
    parser.add_argument("--single-events", type=int, default=6_000, help="events per single-event setting")
    parser.add_argument("--batch-writers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--single-writers", type=int, nargs="+", default=[1, 4, 16, 64],
        help="concurrent single-event writers (the service's request threads: 40 by default)",
    )  # fmt: skip
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/store_ingest.json")
    args = parser.parse_args()

    load_start = os.getloadavg()
    settings: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": _git_commit(),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU (shared)",
        "python": platform.python_version(),
        "sqlalchemy": version("sqlalchemy"),
        "psycopg": version("psycopg"),
        "alembic": version("alembic"),
        "n_items": N_ITEMS,
        "n_impressions": N_IMPRESSIONS,
        "share_quoting_a_recommendation": 0.3,
        "load_average_start": [round(x, 2) for x in load_start],
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="explorec-bench-") as tmp, ExitStack() as stack:
        for backend in args.backends:
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/ingest.db"
            else:
                server = stack.enter_context(private_postgres())
                url = server.create_database("ingest")
            store = Store.open(url)
            try:
                records = _prepare(store, args.seed)
                settings[backend] = _durability(store)
                plan = (("batch", args.batch_events, args.batch_writers),
                        ("single", args.single_events, args.single_writers))  # fmt: skip
                for mode, total, writer_counts in plan:
                    for writers in writer_counts:
                        row = {"backend": backend, **_run(store, records, mode, writers, total, args.seed)}
                        rows.append(row)
                        print(_line(row), flush=True)
            finally:
                store.close()
    settings["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"settings": settings, "results": rows, "provenance": prov.finish()}, indent=2) + "\n"
    )
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
