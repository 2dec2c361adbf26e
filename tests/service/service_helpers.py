"""Helpers shared by the service tests: settings for tests, a client with keys, a small catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from explorec.service.settings import ServiceSettings


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
