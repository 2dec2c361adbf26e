"""Starting a real ``explorec serve`` process for the service benchmarks (loopback only)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

#: the same interpreter and import path as the benchmark, one BLAS/torch thread per process
SERVICE_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
CLI = [sys.executable, "-m", "explorec"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(src: Path | None = None) -> dict[str, str]:
    """The service's environment; with ``src``, that source tree's ``explorec`` is imported first (to
    run another commit's server, e.g. ``git archive <commit> src | tar -x -C /tmp/base``)."""
    if src is None:
        return SERVICE_ENV
    if not (src / "explorec" / "__init__.py").is_file():
        raise ValueError(
            f"--server-src {src}: no explorec package there (expected {src}/explorec/__init__.py)"
        )
    return {**SERVICE_ENV, "PYTHONPATH": os.pathsep.join([str(src.resolve()), SERVICE_ENV["PYTHONPATH"]])}


def start_serve(
    config: Path, folder: Path, src: Path | None = None
) -> tuple[subprocess.Popen[str], str, IO[str]]:
    """Create an admin key for ``config``, then start ``explorec serve --config`` with its output in
    ``folder/server.log``; returns (process, key, open log file). The caller terminates the process and
    closes the log. ``src``: run the ``explorec`` of that source tree (see :func:`service_env`)."""
    env = service_env(src)
    key = subprocess.run(
        [*CLI, "keys", "create", "--scope", "admin", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen(
        [*CLI, "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    return proc, key, log


def wait_ready(base: str, proc: subprocess.Popen[str], timeout: float) -> None:
    """Poll ``/readyz`` until it answers 200; raise if the process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the service was not ready within {timeout} s")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its live descendants (Linux
    ``/proc``): the server's own cost, which the load of other jobs on the machine does not inflate."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # the process ended between the listing and the read
    return total


def seeded_store(folder: Path, catalog: Any, data: Any, chunk: int = 5000) -> tuple[str, Any, int]:
    """A migrated SQLite store in ``folder`` holding the generated ``catalog`` (title + department as
    text, departments as categories) and every interaction of ``data`` as a click, written in chunks.

    Returns the database URL, the open store and the number of events written (for the in-process
    benchmarks that build the served state from a store as the service does).
    """
    from explorec.store import EventIn, ItemIn, Store

    titles, departments = catalog.field("title"), catalog.field("categories")
    url = f"sqlite:///{folder / 'explorec.db'}"
    store = Store.open(url)
    store.migrate()
    for start in range(0, catalog.n_items, chunk):
        store.upsert_items(
            [
                ItemIn(
                    item_id=str(catalog.item_ids[i]),
                    text=f"{titles[i]}. {departments[i]}",
                    categories=tuple(p[:64] for p in str(departments[i]).split("|") if p),
                )
                for i in range(start, min(start + chunk, catalog.n_items))
            ]
        )
    events = [
        EventIn(
            event_id=f"e{row}",
            user_id=str(data.user_ids[data.user[row]]),
            item_id=str(data.item_ids[data.item[row]]),
            type="click",
            value=1.0,
            timestamp=float(data.timestamp[row]),
        )
        for row in range(len(data))
    ]
    for start in range(0, len(events), chunk):
        store.append_events(events[start : start + chunk])
    return url, store, len(events)


def feedback_batches(data: Any, size: int = 1000) -> list[dict[str, Any]]:
    """Every interaction of ``data`` as a click event, in ``POST /v1/feedback`` bodies of ``size``
    events (event ids ``e<row>``)."""
    events = [
        {
            "event_id": f"e{row}",
            "user_id": str(data.user_ids[data.user[row]]),
            "item_id": str(data.item_ids[data.item[row]]),
            "type": "click",
            "timestamp": float(data.timestamp[row]),
        }
        for row in range(len(data))
    ]
    return [{"events": events[s : s + size]} for s in range(0, len(events), size)]
