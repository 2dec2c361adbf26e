"""Linear bandit posteriors learned online: replayed from the store's feature rows, equal to a batch
ridge regression on the same rows (known answer), and shared by every replica."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from replica_helpers import replica_settings

from explorec.errors import ConfigError
from explorec.impressions import ImpressionRecord
from explorec.online import OnlineState
from explorec.online.linear import (
    DIM,
    batch_hybrid_ridge,
    batch_ridge,
    decode_rows,
    encode_rows,
    linear_features,
    save_slot_features,
    stored_rows,
)
from explorec.online.policies import OnlineHybridLinUCB, OnlineLinTS, OnlineLinUCB, variant_policy
from explorec.service.app import create_app
from explorec.store import EventIn, ItemIn, Store
from explorec.types import CandidateFrame

N_ITEMS = 12


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = Store.open(sqlite_url)
    s.migrate()
    s.upsert_items([ItemIn(item_id=f"i{j}", text=f"item {j}") for j in range(N_ITEMS)])
    yield s
    s.close()


def _log_slates(
    store: Store, n: int, seed: int, policy: str = "linucb"
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``n`` slates of 3 slots with random feature rows, clicks drawn from a known linear model;
    returns per slate (items, stored rows, clicks, examination)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 0.2, DIM)
    exam_curve = [1.0, 0.6, 0.4]
    now = time.time()
    out: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [], [])
    for j in range(n):
        items = rng.choice(N_ITEMS, size=3, replace=False)
        rows = np.hstack([np.ones((3, 1)), rng.uniform(0, 0.1, (3, 1)), rng.normal(0, 1, (3, DIM - 2))])
        rec_id = f"r{seed}-{j}"
        record = ImpressionRecord(
            recommendation_id=rec_id,
            user=0,
            user_id="u",
            items=tuple(int(i) for i in items),
            item_ids=tuple(f"i{i}" for i in items),
            scores=(0.5,) * 3,
            propensities=(1.0,) * 3,
            explored=(False,) * 3,
            policy=policy,
            policy_params={"examination": exam_curve},
            timestamp=now,
            experiment="e",
            variant="lin",
        )
        save_slot_features(store, rec_id, "u", rows, now)
        store.append_impression(record)
        clicks = (rng.random(3) < np.clip(0.3 + rows @ truth * 0.1, 0, 1)).astype(float)
        events = [
            EventIn(
                event_id=f"c{seed}-{j}-{p}",
                user_id="u",
                item_id=f"i{items[p]}",
                recommendation_id=rec_id,
                type="click",
            )
            for p in np.flatnonzero(clicks)
        ]
        if events:
            store.append_events(events)
        out[0].append(items)
        out[1].append(stored_rows(rows))
        out[2].append(clicks)
        out[3].append(np.array(exam_curve))
    return out


def test_rows_round_trip_as_float16() -> None:
    rows = np.random.default_rng(0).normal(size=(4, DIM))
    back = decode_rows(encode_rows(rows), DIM)
    np.testing.assert_array_equal(back, stored_rows(rows))
    np.testing.assert_allclose(back, rows, atol=5e-3, rtol=1e-3)


def test_replayed_posterior_equals_batch_ridge_on_the_same_rows(store: Store) -> None:
    items, rows, clicks, exam = _log_slates(store, 40, seed=1)
    assert sum(c.sum() for c in clicks) >= 10  # the known answer involves real clicks
    state = OnlineState()
    state.sync(store)
    stats = state.keys["e/lin"].linear
    assert stats is not None and stats.rows == 120
    x, r, e, a = np.vstack(rows), np.concatenate(clicks), np.concatenate(exam), np.concatenate(items)
    theta, a_inv = stats.shared()
    np.testing.assert_allclose(theta, batch_ridge(x, r, e), rtol=1e-9, atol=1e-12)
    w = x * e[:, None]
    np.testing.assert_allclose(a_inv, np.linalg.inv(np.eye(DIM) + w.T @ w), rtol=1e-8, atol=1e-12)
    beta, per_item = batch_hybrid_ridge(a, x, r, e, N_ITEMS)
    solution = stats.hybrid()
    np.testing.assert_allclose(solution.beta, beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(solution.theta[:N_ITEMS], per_item, rtol=1e-8, atol=1e-10)
    # a second replica replays the same rows into the same posterior
    again = OnlineState()
    again.sync(store)
    np.testing.assert_array_equal(again.keys["e/lin"].linear.shared()[0], theta)  # type: ignore[union-attr]
    # clicks arriving later move the posterior exactly as the batch answer with those rewards
    _, more_rows, more_clicks, more_exam = _log_slates(store, 10, seed=2)
    state.sync(store)
    x2 = np.vstack([x, *more_rows])
    r2 = np.concatenate([r, *more_clicks])
    e2 = np.concatenate([e, *more_exam])
    np.testing.assert_allclose(stats.shared()[0], batch_ridge(x2, r2, e2), rtol=1e-9, atol=1e-12)


def test_linucb_prefers_what_its_posterior_learned(store: Store) -> None:
    # two kinds of candidate rows: feature 5 on (always clicked) or off (never clicked)
    now = time.time()
    base = np.zeros(DIM)
    base[0], base[1] = 1.0, 0.05
    good, bad = base.copy(), base.copy()
    good[5] = 1.0
    for j in range(60):
        rec_id = f"s{j}"
        rows = np.vstack([good, bad])
        record = ImpressionRecord(
            recommendation_id=rec_id,
            user=0,
            user_id="u",
            items=(0, 1),
            item_ids=("i0", "i1"),
            scores=(0.5, 0.5),
            propensities=(1.0, 1.0),
            explored=(False, False),
            policy="linucb",
            timestamp=now,
            experiment="e",
            variant="lin",
        )
        save_slot_features(store, rec_id, "u", rows, now)
        store.append_impression(record)
        store.append_events(
            [EventIn(event_id=f"k{j}", user_id="u", item_id="i0", type="click", recommendation_id=rec_id)]
        )
    state = OnlineState()
    state.sync(store)
    frame = CandidateFrame(np.array([7, 8], dtype=np.int64), np.array([0.9, 0.1], np.float32)).with_columns(
        features=np.vstack([bad, good])
    )
    for spec, cls in (
        ("linucb:0.0", OnlineLinUCB),
        ("linucb-hybrid:0.0", OnlineHybridLinUCB),
        ("lints:0.01", OnlineLinTS),
    ):
        policy = variant_policy(spec, state.view("e/lin"), seed=3)
        assert isinstance(policy, cls)
        assert int(policy.select(frame, 1).items[0]) == 8, spec  # the learned good row wins, new items
    # with no statistics the calibrated prior (column 1) decides: equal here, optimism breaks the tie
    fresh = variant_policy("linucb:0.0", state.view("none"), seed=3)
    assert fresh.select(frame, 2).items.tolist() == [7, 8]  # ties keep the frame's order
    with pytest.raises(ConfigError, match="expected 21"):
        variant_policy("linucb", state.view("none"), seed=0).select(
            CandidateFrame(np.array([1]), np.array([0.5], np.float32)).with_columns(features=np.ones((1, 3))),
            1,
        )


def test_linear_features_columns() -> None:
    vectors = np.eye(4, 8, dtype=np.float32)
    profile = np.zeros(8)
    profile[0] = 1.0
    rows = linear_features(vectors, np.array([0, 1]), profile, np.array([0.2, 0.1]), np.array([False, True]))
    assert rows.shape == (2, DIM)
    np.testing.assert_allclose(rows[:, :5], [[1, 0.2, 0, 1, 0], [1, 0.1, 1, 0, 0]])
    cold = linear_features(vectors, np.array([0]), None, np.array([0.3]), np.array([False]))
    np.testing.assert_allclose(cold[0, 3:], 0.0)


# ---------------------------------------------------------------------- two replicas
def test_feedback_through_one_replica_changes_the_others_linucb_scores_within_a_second(pg_url: str) -> None:
    first = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
    second = TestClient(create_app(replica_settings(pg_url)), raise_server_exceptions=False)
    with first, second:
        key = first.app.state.store.create_key(scope="admin", name="t")  # type: ignore[attr-defined]
        auth = {"Authorization": f"Bearer {key}"}
        items = [{"item_id": f"i{j}", "text": f"thing number {j} with words {j % 3}"} for j in range(10)]
        assert first.post("/v1/items", json={"items": items}, headers=auth).status_code == 200
        history = [{"event_id": "h1", "user_id": "u1", "item_id": "i0", "type": "history"}]
        assert first.post("/v1/feedback", json={"events": history}, headers=auth).status_code == 200
        body = {"variants": [{"name": "lin", "share": 1.0, "policy": "linucb:0.5"}]}
        assert first.put("/v1/experiments/e", json=body, headers=auth).status_code == 200
        time.sleep(0.4)  # the second replica reads the new items and the history
        slate = second.get("/v1/users/u1/recommendations?k=3&experiment=e", headers=auth).json()
        rec_id = slate["recommendation_id"]
        record = second.app.state.store.get_impression(rec_id)  # type: ignore[attr-defined]
        assert record.variant == "lin" and record.policy == "linucb"
        other = second.app.state.online  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5.0
        while (
            other.keys.get("e/lin") is None or other.keys["e/lin"].linear is None
        ) and time.monotonic() < deadline:
            time.sleep(0.01)
        before = other.view("e/lin").linear_shared()[0].copy()
        event = {
            "event_id": "c1",
            "user_id": "u1",
            "item_id": slate["items"][0]["item_id"],
            "recommendation_id": rec_id,
        }
        sent = time.monotonic()
        answer = first.post("/v1/feedback", json={"events": [event]}, headers=auth).json()
        assert answer["not_learned"] == [] and answer["accepted"] == 1
        while (
            np.array_equal(other.view("e/lin").linear_shared()[0], before) and time.monotonic() - sent < 5.0
        ):
            time.sleep(0.01)
        delay = time.monotonic() - sent
        after = other.view("e/lin").linear_shared()[0]
        assert not np.array_equal(after, before)
        assert delay <= 1.0, f"the other replica's LinUCB posterior moved after {delay:.2f} s"
        # both replicas hold the same posterior, and the clicked row's LinUCB score went up
        mine = first.app.state.online.view("e/lin").linear_shared()[0]  # type: ignore[attr-defined]
        np.testing.assert_allclose(mine, after, rtol=1e-12)
        from explorec.online.linear import load_slot_features

        row = load_slot_features(second.app.state.store, [rec_id])[rec_id][0]  # type: ignore[attr-defined]
        assert row @ after > row @ before


def test_one_slate_reads_one_posterior_while_the_learner_updates(store: Store) -> None:
    # regression: the learner thread moved the posterior between a slate's draw and its propensity
    # lookup, so the drawn item got propensity 0 (a 422 from the impression log)
    now = time.time()
    base = np.zeros(DIM)
    base[0] = 1.0
    good, bad = base.copy(), base.copy()
    good[5] = 1.0
    bad[6] = 1.0
    frame = CandidateFrame(np.array([7, 8], dtype=np.int64), np.array([0.5, 0.5], np.float32)).with_columns(
        features=np.vstack([good, bad])
    )
    state = OnlineState()
    for n, spec in enumerate(("linucb:0.0", "linucb-hybrid:0.0", "lints:0.01")):
        policy = variant_policy(spec, state.view(f"e/lin{n}"), seed=0)
        first = policy.select(frame, 1)
        # the key learns that the other row kind is clicked, while this slate is still being built
        for j in range(30):
            rec_id = f"{spec}-{j}"
            record = ImpressionRecord(
                recommendation_id=rec_id,
                user=0,
                user_id="u",
                items=(1,),
                item_ids=("i1",),
                scores=(0.5,),
                propensities=(1.0,),
                explored=(False,),
                policy="linucb",
                timestamp=now,
                experiment="e",
                variant=f"lin{n}",
            )
            row = bad if int(first.items[0]) == 7 else good
            save_slot_features(store, rec_id, "u", row[None, :], now)
            store.append_impression(record)
            store.append_events(
                [
                    EventIn(
                        event_id=f"x{rec_id}",
                        user_id="u",
                        item_id="i1",
                        type="click",
                        recommendation_id=rec_id,
                    )
                ]
            )
        state.sync(store)
        again = policy.select(frame, 1)  # the same slate's policy: the posterior it first read
        assert again.items.tolist() == first.items.tolist(), spec
        assert float(again.propensities[0]) > 0.0, spec
        fresh = variant_policy(spec, state.view(f"e/lin{n}"), seed=0).select(frame, 1)  # a new slate
        assert fresh.items.tolist() != first.items.tolist(), spec
