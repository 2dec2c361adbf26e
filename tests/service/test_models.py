"""``/v1/models`` and the atomic version swap: list, pin, rollback, retrain; 100 swaps under load.

The swap test runs the real app on uvicorn on 127.0.0.1 (a random free port) with a bounded load
generator (threads with a fixed request budget and a time limit) while the registry's pointer is moved
100 times; every answer must succeed, name a complete version, and hold exactly the slate that
version gives (so no answer mixed two versions or used a half-loaded one).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from service_helpers import Api, service_settings

from explorec.online.registry import ModelRegistry
from explorec.online.trainer import refit
from explorec.service.app import create_app
from explorec.service.settings import ServiceSettings

sys.path.insert(0, str(Path(__file__).parents[1] / "online"))
from registry_helpers import seeded_store

USER = "auser0"
SLATE = f"/v1/users/{USER}/recommendations?k=5&policy=greedy&rerank=none"


def registry_settings(tmp_path: Path, **kw: Any) -> ServiceSettings:
    options: dict[str, Any] = {
        "registry_dir": str(tmp_path / "registry"),
        "model_poll_s": 3600,  # the tests move the pointer and step the follower themselves
        "trainer_params": {"l2": 1.0},
    }
    options.update(kw)
    return service_settings(f"sqlite:///{tmp_path / 'store.db'}", **options)


@pytest.fixture
def two_versions(tmp_path: Path) -> list[str]:
    """A seeded store and two registry versions: EASE (serving first), then popularity (serving)."""
    store = seeded_store(tmp_path / "store.db")
    try:
        settings = registry_settings(tmp_path)
        ease = refit(settings, store)
        popularity = refit(
            settings.model_copy(
                update={"trainer_model": "popularity", "trainer_params": {}, "trainer_margin": 1}
            ),
            store,
        )
    finally:
        store.close()
    assert (ease["status"], popularity["status"]) == ("promoted", "promoted")
    return [ease["version"], popularity["version"]]


def test_without_a_registry_the_routes_say_so(api: Api) -> None:
    answer = api.get("/v1/models", "read")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "registry_not_configured"


def test_list_pin_rollback_and_retrain(
    tmp_path: Path, two_versions: list[str], start_api: Callable[..., Api]
) -> None:
    ease, popularity = two_versions
    api = start_api(registry_settings(tmp_path))
    listed = api.get("/v1/models", "read").json()
    assert (listed["serving"], listed["loaded"], listed["pinned"]) == (popularity, popularity, None)
    rows = {row["version"]: row for row in listed["versions"]}
    assert rows[ease]["metrics"]["ndcg@10"] > rows[popularity]["metrics"]["ndcg@10"]
    assert (rows[popularity]["parent"], rows[popularity]["n_events"]) == (ease, 96)
    assert rows[popularity]["serving"] and not rows[ease]["serving"]
    assert api.get(SLATE, "read").json()["model_version"] == popularity

    assert api.post(f"/v1/models/{ease}/pin", None, "write").status_code == 403
    pinned = api.post(f"/v1/models/{ease}/pin", None, "admin").json()
    assert (pinned["serving"], pinned["pinned"], pinned["loaded"]) == (ease, ease, ease)
    assert api.get(SLATE, "read").json()["model_version"] == ease  # this replica swapped at once
    unknown = api.post("/v1/models/v-20990101T000000000000-000000000000/pin", None, "admin")
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "version"

    back = api.post("/v1/models/rollback", None, "admin").json()
    assert (back["serving"], back["loaded"]) == (popularity, popularity)
    assert api.get(SLATE, "read").json()["model_version"] == popularity
    assert api.post("/v1/models/rollback", None, "admin").json()["serving"] == ease
    nothing = api.post("/v1/models/rollback", None, "admin")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_roll_back"

    assert api.post("/v1/models/retrain", None, "read").status_code == 403
    asked = api.post("/v1/models/retrain", None, "write")
    assert asked.status_code == 202
    assert ModelRegistry(tmp_path / "registry").take_retrain_request()


def test_a_failed_retrain_shows_its_reason(
    tmp_path: Path, two_versions: list[str], start_api: Callable[..., Api]
) -> None:
    api = start_api(registry_settings(tmp_path))
    failed = refit(registry_settings(tmp_path, trainer_params={"bogus": 1}), api.store)
    listed = api.get("/v1/models", "read").json()
    assert listed["serving"] == two_versions[1]
    assert listed["attempts"][-1]["status"] == "failed"
    assert listed["attempts"][-1]["reason"] == failed["reason"]
    assert "unknown parameter(s) ['bogus']" in failed["reason"]


def ease_top(api: Api, model: Any, user_id: str, k: int) -> list[str]:
    """The ``k`` unseen items of largest score of ``model`` for the user's stored history."""
    import numpy as np

    from explorec.data.interactions import Interactions

    rows = [r for r in api.store.read_events() if r.user_id == user_id]
    items = api.store.items(after_index=-1)
    ids = np.array([r.item_id for r in sorted(items, key=lambda r: int(r.index))], dtype=object)
    history = Interactions(
        np.zeros(len(rows), dtype=np.int64),
        np.array([int(r.item) for r in rows], dtype=np.int64),
        np.array([float(r.timestamp) for r in rows]),
        np.ones(len(rows), dtype=np.float32),
        np.array([user_id], dtype=object),
        ids,
    )
    scores = model.score(np.zeros(1, dtype=np.int64), history=history)[0].astype(np.float64)
    scores[history.item] = -np.inf
    order = sorted(range(scores.size), key=lambda j: (-scores[j], j))
    return [str(ids[j]) for j in order[:k]]


def test_experiment_variants_serve_the_model_version_they_name(
    tmp_path: Path, two_versions: list[str], start_api: Callable[..., Api]
) -> None:
    ease, popularity = two_versions  # popularity serves
    api = start_api(registry_settings(tmp_path))
    model = ModelRegistry(tmp_path / "registry").load(ease).model
    auth = api.headers("admin")
    body = {
        "variants": [
            {"name": "ease", "share": 0.5, "model_version": ease},
            {"name": "text", "share": 0.25, "model_version": "textknn"},
            {"name": "serving", "share": 0.25},
        ]
    }
    assert api.client.put("/v1/experiments/models", json=body, headers=auth).status_code == 200
    expected = {"ease": ease, "serving": popularity}
    seen: dict[str, set[str]] = {}
    for g in "ab":
        for u in range(12):
            answer = api.get(f"/v1/users/{g}user{u}/recommendations?k=5&experiment=models", "read").json()
            record = api.get(f"/v1/recommendations/{answer['recommendation_id']}", "read").json()
            assert record["model_version"] == answer["model_version"]
            seen.setdefault(record["variant"], set()).add(answer["model_version"])
            if record["variant"] == "ease":
                # the EASE version's model scored the candidates: the slate is its greedy top 5
                assert [i["item_id"] for i in answer["items"]] == ease_top(api, model, f"{g}user{u}", 5)
    assert set(seen) == {"ease", "text", "serving"}
    assert seen["ease"] == {ease} and seen["serving"] == {popularity}
    assert len(seen["text"]) == 1 and next(iter(seen["text"])).startswith("textknn:")
    assert expected["ease"] != expected["serving"]
    # a version the registry does not hold is refused on PUT, naming the field and the known ones
    bad = {"variants": [{"name": "x", "share": 1.0, "model_version": "v-20990101T000000000000-000000000000"}]}
    answer = api.client.put("/v1/experiments/models", json=bad, headers=auth)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_experiment" and error["field"] == "variants[0].model_version"
    assert ease in error["message"] and "textknn" in error["message"]


@pytest.fixture
def live_server(tmp_path: Path, two_versions: list[str]) -> Iterator[tuple[str, Any]]:
    """The app on uvicorn on 127.0.0.1 in a thread: its base URL and the app."""
    app = create_app(registry_settings(tmp_path, access_log=False))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=30)


def test_100_swaps_under_load_fail_no_request(live_server: tuple[str, Any], two_versions: list[str]) -> None:
    base, app = live_server
    follower = app.state.registry_follower
    registry = follower.registry
    key = app.state.store.create_key(scope="read", name="load")
    headers = {"Authorization": f"Bearer {key}"}
    expected: dict[str, list[str]] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for version in two_versions:
            registry.pin(version)
            assert follower.step()
            answer = client.get(SLATE).json()
            assert answer["model_version"] == version
            expected[version] = [item["item_id"] for item in answer["items"]]
    assert expected[two_versions[0]] != expected[two_versions[1]]  # the slates tell the versions apart

    answers: list[tuple[int, str | None, list[str] | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(budget: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for _ in range(budget):
                if stop.is_set():
                    return
                try:
                    r = client.get(SLATE)
                    body = r.json() if r.status_code == 200 else None
                    row = (
                        r.status_code,
                        body["model_version"] if body else None,
                        [i["item_id"] for i in body["items"]] if body else None,
                    )
                except httpx.HTTPError as exc:
                    row = (-1, repr(exc), None)
                with lock:
                    answers.append(row)

    clients = [threading.Thread(target=load, args=(2000,)) for _ in range(4)]
    for c in clients:
        c.start()
    swaps = 0
    deadline = time.monotonic() + 240
    for i in range(100):
        registry.pin(two_versions[i % 2])
        assert follower.step(), f"swap {i} did not happen"
        swaps += 1
        # let requests run on each version; bounded by the deadline
        seen = len(answers)
        while len(answers) < seen + 2 and time.monotonic() < deadline and any(c.is_alive() for c in clients):
            time.sleep(0.002)
    stop.set()
    for c in clients:
        c.join(timeout=60)
    assert swaps == 100
    failures = [a for a in answers if a[0] != 200]
    assert failures == []
    assert len(answers) >= 200
    complete = set(registry.names())
    assert all(version in complete for _, version, _ in answers)
    assert all(items == expected[str(version)] for _, version, items in answers)
    by_version = {v: sum(1 for _, version, _ in answers if version == v) for v in two_versions}
    assert min(by_version.values()) > 0
