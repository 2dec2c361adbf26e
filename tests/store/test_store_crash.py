"""Crash test (issue 12): the real service is SIGKILLed at random moments while a client ingests.

Numbered events go to ``POST /v1/feedback`` of real ``explorec serve`` processes (uvicorn on
127.0.0.1) over one database, SQLite and PostgreSQL. A killer sends SIGKILL to a serving process
at random moments, at least :data:`KILLS` times, and starts it again at once. The clients retry a
batch (on any live process) until it is acknowledged. At the end:

- zero acknowledged events lost: every event id the service acknowledged is stored;
- zero duplicates: each event is stored once, with its own number, and a batch sent for the first
  time never reports duplicates (nothing was counted twice);
- the database is intact: ``PRAGMA integrity_check`` on SQLite, ``amcheck`` on PostgreSQL's indexes.

Three processes rotate so that one's Python start-up (several seconds on a loaded 2-core machine)
overlaps with the others' ingestion; a kill may take down the last serving process, and the
clients then wait for a restart, as they would behind a load balancer.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import port_for
import pytest
from sqlalchemy import text

import explorec
from explorec.store import ItemIn, Store

KILLS = 20
REPLICAS = 3
CLIENTS = 4
MAX_BATCH = 40
N_ITEMS = 30
DEADLINE_S = 300.0  # the whole run per backend; a hang fails instead of blocking CI
_PG_INDEXES = text(
    "SELECT indexrelid::regclass::text FROM pg_index JOIN pg_class c ON c.oid = indrelid "
    "WHERE c.relname IN ('events', 'impressions', 'items', 'users')"
)
_SRC = str(Path(explorec.__file__).resolve().parents[1])


@dataclass
class Replica:
    """One ``explorec serve`` process slot; the same port across restarts."""

    port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False
    starts: int = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": _SRC, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "explorec", "serve", "--config", str(self.config),
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        self.ready = False
        self.starts += 1

    def poll_ready(self) -> bool:
        if self.ready:
            return True
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"service on port {self.port} exited with {self.proc.returncode}; see {self.log}"
            )
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1.0)
            self.ready = r.status_code == 200 and r.json().get("ready") is True
        except httpx.HTTPError:
            self.ready = False
        return self.ready

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.ready = False


@dataclass
class Ledger:
    """What the clients sent and what the service acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, int] = field(default_factory=dict)  # event_id -> number
    acked: set[str] = field(default_factory=set)
    transport_errors: int = 0
    unavailable: int = 0
    first_try_duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _event(n: int) -> dict[str, object]:
    return {"event_id": f"ev-{n}", "user_id": f"u{n % 17}", "item_id": f"i{n % N_ITEMS}", "type": "click",
            "value": float(n), "timestamp": 1.7e9 + n}  # fmt: skip


class _Numbers:
    """Event numbers 0, 1, 2, ... shared by the client threads."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._lock = threading.Lock()

    def __next__(self) -> int:
        with self._lock:
            return next(self._count)


def _client(replicas: list[Replica], key: str, numbers: _Numbers, stop: threading.Event, ledger: Ledger,
            seed: int, deadline: float) -> None:  # fmt: skip
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=10.0) as http:
        while not stop.is_set():
            batch = [next(numbers) for _ in range(rng.randint(1, MAX_BATCH))]
            events = [_event(n) for n in batch]
            with ledger.lock:
                ledger.sent.update({e["event_id"]: n for e, n in zip(events, batch, strict=True)})
            attempt = 0
            while True:
                if time.monotonic() > deadline:
                    ledger.problems.append(f"batch {batch[0]}.. not acknowledged before the deadline")
                    return
                live = [r for r in replicas if r.ready]
                if not live:
                    time.sleep(0.05)
                    continue
                port = rng.choice(live).port
                attempt += 1
                try:
                    r = http.post(
                        f"http://127.0.0.1:{port}/v1/feedback", json={"events": events}, headers=headers
                    )
                except httpx.TransportError:
                    with ledger.lock:
                        ledger.transport_errors += 1
                    time.sleep(0.02)
                    continue
                if r.status_code in (502, 503, 504):
                    with ledger.lock:
                        ledger.unavailable += 1
                    time.sleep(0.05)
                    continue
                if r.status_code != 200:
                    ledger.problems.append(f"batch {batch[0]}..: HTTP {r.status_code} {r.text[:200]}")
                    return
                body = r.json()
                if body["accepted"] + len(body["duplicates"]) != len(events):
                    ledger.problems.append(f"batch {batch[0]}..: answer {body} for {len(events)} events")
                with ledger.lock:
                    ledger.acked.update(e["event_id"] for e in events)
                    if attempt == 1 and body["duplicates"]:
                        ledger.first_try_duplicates.extend(body["duplicates"])
                break


def _killer(replicas: list[Replica], stop: threading.Event, kills: list[float], seed: int,
            deadline: float) -> None:  # fmt: skip
    rng = random.Random(seed)
    while len(kills) < KILLS and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.15, 0.9))
        for r in replicas:
            r.poll_ready()
        live = [r for r in replicas if r.ready]
        if not live:
            continue
        victim = rng.choice(live)
        victim.kill(signal.SIGKILL)
        kills.append(time.monotonic())
        victim.start()
    stop.set()


def _check_database(url: str, backend: str) -> None:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            if backend == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            else:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS amcheck")
                indexes = conn.execute(_PG_INDEXES).scalars().all()
                assert len(indexes) >= 8
                for index in indexes:  # raises on any corruption; heapallindexed: every row indexed
                    conn.execute(text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index})
                conn.commit()
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_loses_no_acknowledged_event_and_duplicates_none(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database("crash_test")
    store = Store.open(url)
    store.migrate()
    store.upsert_items([ItemIn(item_id=f"i{j}", text=f"item number {j}") for j in range(N_ITEMS)])
    key = store.create_key("write", name="crash-test")
    store.close()
    config = tmp_path / "service.toml"
    config.write_text(
        f'database_url = "{url}"\nencoder = "hashing:64"\nrate_limit = "1000000/minute"\n'
        "refresh_interval_s = 1.0\n"
    )
    replicas = [
        Replica(port=int(port_for.select_random()), config=config, log=tmp_path / f"replica{j}.log")
        for j in range(REPLICAS)
    ]
    deadline = time.monotonic() + DEADLINE_S
    ledger = Ledger()
    kills: list[float] = []
    stop = threading.Event()
    numbers = _Numbers()
    try:
        for r in replicas:
            r.start()
        while not all(r.poll_ready() for r in replicas):
            assert time.monotonic() < deadline, "the services did not become ready"
            time.sleep(0.1)
        t0 = time.monotonic()
        clients = [
            threading.Thread(target=_client, args=(replicas, key, numbers, stop, ledger, c, deadline))
            for c in range(CLIENTS)
        ]
        killer = threading.Thread(target=_killer, args=(replicas, stop, kills, 1234, deadline))
        for th in [*clients, killer]:
            th.start()
        killer.join()
        # the restarted processes must come up and take the clients' retries
        while not any(r.poll_ready() for r in replicas):
            assert time.monotonic() < deadline, "no service came back after the last kill"
            time.sleep(0.1)
        for th in clients:
            th.join(timeout=max(1.0, deadline - time.monotonic()))
        elapsed = time.monotonic() - t0
    finally:
        for r in replicas:
            r.kill(signal.SIGTERM)

    assert ledger.problems == []
    assert len(kills) >= KILLS, f"only {len(kills)} kills before the deadline"
    # the kills interrupted requests in flight (else this test proves nothing)
    assert ledger.transport_errors > 0
    assert ledger.first_try_duplicates == []
    assert ledger.acked == set(ledger.sent), "a batch was never acknowledged"

    store = Store.open(url)
    events = store.read_events()
    store.close()
    stored = [e.event_id for e in events]
    lost = ledger.acked - set(stored)
    assert not lost, f"{len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"
    assert len(stored) == len(set(stored)) == len(ledger.sent)  # zero duplicates
    assert all(e.value == ledger.sent[e.event_id] for e in events)  # each stored with its own number
    _check_database(url, backend)
    print(
        f"{backend}: {len(kills)} SIGKILLs in {elapsed:.1f} s, {len(ledger.sent)} events, "
        f"{ledger.transport_errors} interrupted requests, {ledger.unavailable} answered 503"
    )
