"""The online policy state: replayed from the store, the same in every replica, and what it learns."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from replica_helpers import replica_settings

from explorec.impressions import ImpressionRecord
from explorec.online import OnlineState
from explorec.online.policies import OnlineTS, variant_policy
from explorec.online.state import N_POSITIONS, KeyStats
from explorec.service.app import create_app
from explorec.store import EventIn, ItemIn, Store
from explorec.types import CandidateFrame


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    s.migrate()
    s.upsert_items([ItemIn(item_id=f"i{j}", text=f"item {j}") for j in range(6)])
    yield s
    s.close()


def _record(
    rec_id: str, items: list[int], *, ts: float, variant: str = "b", explored: bool = False
) -> ImpressionRecord:
    k = len(items)
    return ImpressionRecord(
        recommendation_id=rec_id,
        user=0,
        user_id="u",
        items=tuple(items),
        item_ids=tuple(f"i{i}" for i in items),
        scores=(0.5,) * k,
        propensities=(0.5,) * k,
        explored=(explored,) * k,
        policy="ts",
        timestamp=ts,
        experiment="e",
        variant=variant,
    )


def _click(event_id: str, rec_id: str | None, item: int) -> EventIn:
    return EventIn(event_id=event_id, user_id="u", item_id=f"i{item}", type="click", recommendation_id=rec_id)


def test_replay_counts_shows_and_attributed_clicks_once_per_slot(store: Store) -> None:
    now = time.time()
    store.append_impression(_record("r1", [0, 1, 2], ts=now))
    store.append_impression(_record("r2", [2, 3, 4], ts=now, variant="c"))
    store.append_events(
        [
            _click("e1", "r1", 1),  # learned: e/b, item 1 at position 1
            _click("e2", "r1", 1),  # the same slot again: stored, not learned twice
            _click("e3", "r1", 5),  # r1 did not show item 5: unattributed
            _click("e4", "nope", 0),  # unknown slate
            _click("e5", None, 0),  # organic event: no policy to update
            _click("e6", "r2", 2),  # learned: e/c
        ]
    )
    state = OnlineState()
    assert state.sync(store) == 2
    assert [state.outcome(e) for e in ("e1", "e2", "e3", "e4", "e5", "e6")] == [
        "learned", "repeat", "unattributed", "unattributed", None, "learned",
    ]  # fmt: skip
    b = state.keys["e/b"]
    assert b.impressions == 1 and b.clicks == 1
    np.testing.assert_array_equal(b.item_shows[:3, :3], np.eye(3))
    np.testing.assert_array_equal(b.item_clicks[:3], [0, 1, 0])
    assert state.keys["e/c"].clicks == 1
    np.testing.assert_array_equal(state.item_clicks("e/c", [2, 3, 99]), [1, 0, 0])
    # a second replica (or this one after a restart) replays the same log into the same state
    again = OnlineState()
    again.sync(store)
    for key in ("e/b", "e/c"):
        np.testing.assert_array_equal(again.keys[key].item_shows, state.keys[key].item_shows)
        np.testing.assert_array_equal(again.keys[key].item_clicks, state.keys[key].item_clicks)
    assert state.sync(store) == 0  # nothing new


def test_feedback_after_the_window_is_stored_but_expired(store: Store) -> None:
    store.append_impression(_record("old", [0, 1], ts=time.time() - 100.0))
    store.append_events([_click("late", "old", 0)])
    state = OnlineState(window_s=10.0)
    assert state.sync(store) == 0
    assert state.outcome("late") == "expired"
    assert state.keys["e/b"].clicks == 0
    assert len(store.read_events()) == 1  # stored all the same


def test_examination_estimate_recovers_the_position_curve_from_explored_slots() -> None:
    stats = KeyStats()
    rng = np.random.default_rng(0)
    truth = np.array([1.0, 0.5, 0.33, 0.25])
    relevance = 0.2
    for j in range(3000):
        rec = _record(f"r{j}", [int(i) for i in rng.choice(50, size=4, replace=False)], ts=0.0, explored=True)
        stats.add_impression(rec)
        for pos in range(4):
            if rng.random() < truth[pos] * relevance:
                stats.add_click(rec.items[pos], pos, 0.5, True)
    exam = stats.examination()
    assert exam.shape == (N_POSITIONS,)
    np.testing.assert_allclose(exam[:4], truth, atol=0.07)
    assert np.all(np.diff(exam) <= 0)


def test_online_ts_prefers_the_item_the_state_learned_was_clicked(store: Store) -> None:
    now = time.time()
    for j in range(60):
        store.append_impression(_record(f"r{j}", [0, 1, 2], ts=now))
        store.append_events([_click(f"c{j}", f"r{j}", 2)])  # item 2 is clicked every time
    state = OnlineState()
    state.sync(store)
    frame = CandidateFrame(np.array([0, 1, 2, 3], dtype=np.int64), np.array([0.9, 0.8, 0.1, 0.0], np.float32))
    policy = variant_policy("ts", state.view("e/b"), seed=1)
    assert isinstance(policy, OnlineTS)
    firsts = [
        int(variant_policy("ts", state.view("e/b"), seed=s).select(frame, 2).items[0]) for s in range(30)
    ]
    assert firsts.count(2) >= 28
    # without statistics the model's order wins most of the time
    cold = [
        int(variant_policy("ts", state.view("none"), seed=s).select(frame, 2).items[0]) for s in range(30)
    ]
    assert cold.count(2) <= 5
    # a new item (never shown) takes part at once: it has a prior, not an error
    fresh = CandidateFrame(np.array([2, 50], dtype=np.int64), np.array([0.1, 0.9], np.float32))
    slate = policy.select(fresh, 2)
    assert set(slate.items.tolist()) == {2, 50} and np.all(slate.propensities > 0)


# ---------------------------------------------------------------------- two replicas
def test_feedback_through_one_replica_changes_the_others_bandit_state_within_a_second(pg_url: str) -> None:
    first = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
    second = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
    with first, second:
        key = first.app.state.store.create_key(scope="admin", name="t")  # type: ignore[attr-defined]
        auth = {"Authorization": f"Bearer {key}"}
        items = [{"item_id": f"i{j}", "text": f"thing number {j}"} for j in range(8)]
        assert first.post("/v1/items", json={"items": items}, headers=auth).status_code == 200
        body = {
            "variants": [
                {"name": "a", "share": 0.5, "policy": "ts"},
                {"name": "b", "share": 0.5, "policy": "ts"},
            ]
        }
        assert first.put("/v1/experiments/e", json=body, headers=auth).status_code == 200
        time.sleep(0.3)  # the second replica reads the new items
        slate = second.get("/v1/users/u1/recommendations?k=3&experiment=e", headers=auth).json()
        record = second.app.state.store.get_impression(slate["recommendation_id"])  # type: ignore[attr-defined]
        key_name = f"e/{record.variant}"
        other = second.app.state.online  # type: ignore[attr-defined]
        clicked = slate["items"][0]["item_id"]
        index = int(record.items[0])
        assert other.item_clicks(key_name, [index])[0] == 0
        event = {
            "event_id": "c1",
            "user_id": "u1",
            "item_id": clicked,
            "recommendation_id": slate["recommendation_id"],
        }
        sent = time.monotonic()
        answer = first.post("/v1/feedback", json={"events": [event]}, headers=auth).json()
        assert answer["not_learned"] == [] and answer["accepted"] == 1
        # the replica that took the feedback learned it before answering
        assert first.app.state.online.item_clicks(key_name, [index])[0] == 1  # type: ignore[attr-defined]
        while other.item_clicks(key_name, [index])[0] == 0 and time.monotonic() - sent < 5.0:
            time.sleep(0.01)
        delay = time.monotonic() - sent
        assert other.item_clicks(key_name, [index])[0] == 1
        assert delay <= 1.0, f"the other replica learned the click after {delay:.2f} s"
        # feedback quoting an unknown slate is stored but says it updated no policy
        stray = {"event_id": "c2", "user_id": "u1", "item_id": clicked, "recommendation_id": "no-such-slate"}
        answer = first.post("/v1/feedback", json={"events": [stray]}, headers=auth).json()
        assert answer["accepted"] == 1 and answer["not_learned"] == ["c2"]
        assert other.keys[key_name].clicks == 1
