"""An erased user leaves no aggregate count in the online or served state of any replica, without a
restart (two replicas on one PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from replica_helpers import replica_settings
from sqlalchemy import func, select

from explorec.service.app import create_app
from explorec.store.tables import Counterfactual, SlotFeatures


def _counts(app: Any) -> tuple[int, int, float, int]:
    """(impressions, clicks, linear rows) of key e/v and the served popularity total."""
    stats = app.state.online.keys.get("e/v")
    if stats is None:
        return 0, 0, 0.0, int(app.state.served.popularity.view().sum())
    rows = stats.linear.rows if stats.linear is not None else 0
    return stats.impressions, stats.clicks, rows, int(app.state.served.popularity.view().sum())


def _rows(store: Any, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_an_erased_user_leaves_no_counts_in_either_replica(pg_url: str) -> None:
    first = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
    second = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
    with first, second:
        store = first.app.state.store  # type: ignore[attr-defined]
        key = store.create_key(scope="admin", name="t")
        auth = {"Authorization": f"Bearer {key}"}
        items = [{"item_id": f"i{j}", "text": f"thing number {j}"} for j in range(8)]
        assert first.post("/v1/items", json={"items": items}, headers=auth).status_code == 200
        body = {
            "variants": [
                {"name": "v", "share": 0.5, "policy": "linucb"},
                {"name": "w", "share": 0.5, "policy": "ts"},
            ]
        }
        assert first.put("/v1/experiments/e", json=body, headers=auth).status_code == 200
        # users of variant v (its slates log feature rows), two slates and one click each
        users = [u for u in (f"u{j}" for j in range(40)) if _variant(first, u, auth) == "v"][:2]
        assert len(users) == 2
        for n, user in enumerate(users):
            history = [{"event_id": f"h-{user}", "user_id": user, "item_id": f"i{n}", "type": "history"}]
            assert first.post("/v1/feedback", json={"events": history}, headers=auth).status_code == 200
            for s in range(2):
                slate = first.get(f"/v1/users/{user}/recommendations?k=3&experiment=e", headers=auth).json()
                click = {
                    "event_id": f"c-{user}-{s}",
                    "user_id": user,
                    "item_id": slate["items"][0]["item_id"],
                    "recommendation_id": slate["recommendation_id"],
                }
                answer = first.post("/v1/feedback", json={"events": [click]}, headers=auth).json()
                assert answer["not_learned"] == []
        _wait(lambda: _counts(second.app) == _counts(first.app))
        assert _counts(first.app) == (4, 4, 12.0, 6)  # 4 slates of 3 slots, 4 clicks, 2 + 4 events
        assert _rows(store, SlotFeatures) == 4 and _rows(store, Counterfactual) == 4

        erased = users[0]
        assert first.delete(f"/v1/users/{erased}", headers=auth).status_code == 200
        # the replica that erased: at once, no count of the user's slates, clicks or events
        assert _counts(first.app) == (2, 2, 6.0, 3)
        assert first.app.state.online.rebuilds == 1  # type: ignore[attr-defined]
        assert _rows(store, SlotFeatures) == 2 and _rows(store, Counterfactual) == 2
        # the other replica: within its sync interval, without a restart
        sent = time.monotonic()
        _wait(lambda: _counts(second.app) == (2, 2, 6.0, 3))
        assert time.monotonic() - sent <= 1.0
        assert _counts(second.app) == (2, 2, 6.0, 3)
        assert erased not in second.app.state.served.histories  # type: ignore[attr-defined]
        # what is left equals a fresh replay of the store (a restarted replica)
        third = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
        with third:
            assert _counts(third.app) == (2, 2, 6.0, 3)
            theta = third.app.state.online.view("e/v").linear_shared()[0]  # type: ignore[attr-defined]
            mine = first.app.state.online.view("e/v").linear_shared()[0]  # type: ignore[attr-defined]
            np.testing.assert_allclose(theta, mine, rtol=1e-12)


def _variant(client: TestClient, user: str, auth: dict[str, str]) -> str:
    from explorec.online.experiments import load_experiment

    experiment = load_experiment(client.app.state.store, "e")  # type: ignore[attr-defined]
    assert experiment is not None
    return experiment.assign(user).name


def _wait(done: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
