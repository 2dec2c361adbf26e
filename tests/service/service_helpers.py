"""Helpers shared by the service tests: settings for tests, a client with keys, a small catalogue."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from explorec.service.settings import ServiceSettings


def free_port() -> int:
    """A loopback port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(config: Path) -> subprocess.Popen[str]:
    """``explorec serve --config CONFIG`` as a user starts it: a real process, its output captured."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "explorec", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def wait_ready(base: str, seconds: float) -> None:
    """Poll ``/readyz`` until it answers 200; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the service did not become ready within {seconds:.0f} s")


def service_settings(url: str, **overrides: Any) -> ServiceSettings:
    """Settings for tests: the hashing encoder (no model file), a fast refresh, a generous rate."""
    base: dict[str, Any] = {
        "database_url": url,
        "encoder": "hashing:256",
        "refresh_interval_s": 0.1,
        "rate_limit": "100000/minute",
        "policy": "greedy",
    }
    base.update(overrides)
    return ServiceSettings(**base)


@dataclass
class Api:
    """A started app with one key per scope."""

    client: TestClient
    keys: dict[str, str]

    def headers(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    def get(self, url: str, scope: str = "admin", **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers(scope), **kw)

    def post(self, url: str, body: Any, scope: str = "admin", **kw: Any) -> Any:
        return self.client.post(url, json=body, headers=self.headers(scope), **kw)

    def delete(self, url: str, scope: str = "admin") -> Any:
        return self.client.delete(url, headers=self.headers(scope))

    @property
    def store(self) -> Any:
        return self.client.app.state.store  # type: ignore[attr-defined]

    @property
    def state(self) -> Any:
        return self.client.app.state.served  # type: ignore[attr-defined]


CATALOGUE = [
    ("boots-1", "trail hiking boots waterproof leather", ["outdoor"]),
    ("boots-2", "hiking boots for muddy mountain trails", ["outdoor"]),
    ("tent-1", "lightweight hiking tent for two, trail ready", ["outdoor"]),
    ("jazz-1", "jazz vinyl record saxophone quartet", ["music"]),
    ("jazz-2", "jazz vinyl album piano trio live", ["music"]),
    ("jazz-3", "jazz vinyl record trumpet blue note", ["music"]),
]


def add_catalogue(api: Api) -> None:
    body = {
        "items": [
            {"item_id": i, "text": t, "categories": c, "timestamp": 1000.0 + j}
            for j, (i, t, c) in enumerate(CATALOGUE)
        ]
    }
    r = api.post("/v1/items", body, scope="write")
    assert r.status_code == 200, r.text
