"""Bounded HTTP load for the service benchmarks: wrk when it is installed, else an async httpx client.

Both replay a list of request templates ``(method, path, body or None)`` against a loopback address
with a bearer key, from ``connections`` concurrent connections, and report the same record
(:func:`run_load`): the generator used, completed requests, wall seconds, status counts, socket
errors and latency percentiles in milliseconds as measured by the generator. ``@@N@@`` in a path or
a body is replaced by a number unique to the request, so that event ids and unknown users never
repeat.

wrk (Debian package ``wrk``, driven by ``bench/wrk_requests.lua``) is the low-overhead generator:
one C thread with an event loop, a few microseconds of CPU per request, so that nearly all of the
two cores go to the server; it runs for ``duration_s`` seconds. The httpx client (always available,
used by CI and where wrk is missing) costs 1.5-4 ms of CPU per request on the same cores; it sends
exactly ``n`` requests. Each record also gives the generator's own CPU milliseconds per request
(wrk: the ended child's rusage; httpx: this process's CPU time). Only 127.0.0.1 addresses are
accepted.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

#: the Lua script that replays a request file (see its header)
WRK_SCRIPT = Path(__file__).with_name("wrk_requests.lua")
#: a request template: method, path (with query), JSON body text or None
Template = tuple[str, str, str | None]


def wrk_version() -> str | None:
    """``"wrk <version>"`` when the wrk binary is on PATH, else None."""
    exe = shutil.which("wrk")
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "wrk"
    return " ".join(first.split()[:2])


def choose_generator(requested: str) -> str:
    """``"wrk"`` or ``"httpx"``: ``requested`` is ``auto`` (wrk when installed), ``wrk`` or ``httpx``."""
    if requested not in ("auto", "wrk", "httpx"):
        raise ValueError(f"generator must be auto, wrk or httpx, got {requested!r}")
    if requested == "httpx":
        return "httpx"
    if wrk_version() is None:
        if requested == "wrk":
            raise RuntimeError("--generator wrk: no wrk binary on PATH (Debian: apt-get install wrk)")
        return "httpx"
    return "wrk"


def _check_loopback(base: str) -> None:
    host = urlsplit(base).hostname
    if host != "127.0.0.1":
        raise ValueError(f"load is only sent to 127.0.0.1, got {base!r}")


def run_load(
    base: str,
    key: str,
    templates: Sequence[Template],
    *,
    connections: int,
    generator: str,
    duration_s: float = 5.0,
    n: int = 1000,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Send the templates (cycled) from ``connections`` connections; the record described above.

    wrk runs for ``duration_s`` seconds; httpx sends exactly ``n`` requests.
    """
    return asyncio.run(
        run_load_async(
            base, key, templates, connections=connections, generator=generator, duration_s=duration_s, n=n,
            timeout_s=timeout_s,
        )
    )  # fmt: skip


async def run_load_async(
    base: str,
    key: str,
    templates: Sequence[Template],
    *,
    connections: int,
    generator: str,
    duration_s: float = 5.0,
    n: int = 1000,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """:func:`run_load` from a running event loop (wrk runs in a worker thread meanwhile)."""
    _check_loopback(base)
    if generator == "wrk":
        return await asyncio.to_thread(_run_wrk, base, key, templates, connections, duration_s, timeout_s)
    if generator == "httpx":
        return await _run_httpx(base, key, templates, connections, n, timeout_s)
    raise ValueError(f"generator must be wrk or httpx, got {generator!r}")


def _run_wrk(
    base: str, key: str, templates: Sequence[Template], connections: int, duration_s: float, timeout_s: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="explorec-wrk-") as folder:
        path = Path(folder) / "requests.tsv"
        with path.open("w") as out:
            for method, target, body in templates:
                if "\t" in target or "\n" in target or (body is not None and ("\t" in body or "\n" in body)):
                    raise ValueError("a request template holds a tab or a newline (the file's separators)")
                out.write(f"{method}\t{target}\t{body or ''}\n")
        env = {"WRK_REQUESTS": str(path), "WRK_AUTH": f"Bearer {key}", "PATH": "/usr/bin:/bin"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s", "-s", str(WRK_SCRIPT), base,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk's CPU: the child that just ended
    wrk_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout[-500:]}")
    raw = json.loads(line[len("WRK_JSON ") :])
    lat = raw["latency_us"]
    return {
        "generator": wrk_version(),
        "connections": connections,
        "requests": int(raw["requests"]),
        "wall_s": raw["duration_us"] / 1e6,
        "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "statuses": {str(k): int(v) for k, v in raw["statuses"].items()},
        "socket_errors": raw["errors"],
        "generator_cpu_ms_per_request": wrk_cpu_s / max(int(raw["requests"]), 1) * 1000.0,
        **{f"{q}_ms": lat[q] / 1000.0 for q in ("p50", "p90", "p99", "max", "mean")},
    }


async def _run_httpx(
    base: str, key: str, templates: Sequence[Template], connections: int, n: int, timeout_s: float
) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    counter = iter(range(n))
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout_s) as client:

        async def worker() -> None:
            for j in counter:
                method, target, body = templates[j % len(templates)]
                unique = str(1_000_000_000 + j)
                content = None if body is None else body.replace("@@N@@", unique).encode()
                t0 = time.perf_counter()
                r = await client.request(
                    method,
                    target.replace("@@N@@", unique),
                    content=content,
                    headers={"content-type": "application/json"} if content is not None else None,
                )
                latencies.append(time.perf_counter() - t0)
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1

        start, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(connections)))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    a = np.asarray(latencies) * 1000.0
    return {
        "generator": f"httpx {httpx.__version__}",
        "connections": connections,
        "requests": len(latencies),
        "wall_s": wall,
        "requests_per_s": len(latencies) / wall,
        "statuses": statuses,
        "socket_errors": {},
        "generator_cpu_ms_per_request": cpu / max(len(latencies), 1) * 1000.0,
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "mean_ms": float(a.mean()),
    }
