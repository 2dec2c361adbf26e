"""The HTTP API through TestClient, against a real store (SQLite file and a private PostgreSQL)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from service_helpers import Api, add_catalogue, service_settings


def error_of(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    err: dict[str, object] = body["error"]
    return err


# ---------------------------------------------------------------------- keys and scopes
def test_every_v1_route_needs_a_key(api: Api) -> None:
    add_catalogue(api)
    c = api.client
    for method, url in [
        ("GET", "/v1/items/boots-1"),
        ("DELETE", "/v1/items/boots-1"),
        ("POST", "/v1/items"),
        ("POST", "/v1/users"),
        ("DELETE", "/v1/users/u1"),
        ("POST", "/v1/feedback"),
        ("GET", "/v1/users/u1/recommendations"),
        ("GET", "/v1/items/boots-1/similar"),
        ("GET", "/v1/recommendations/abc"),
    ]:
        r = c.request(method, url)
        assert r.status_code == 401, (method, url, r.text)
        assert error_of(r)["field"] == "Authorization"
        bad = c.request(method, url, headers={"Authorization": "Bearer exr_nope_nope"})
        assert bad.status_code == 401
    assert c.get("/healthz").status_code == 200  # open by default
    assert c.get("/metrics").status_code == 200


def test_scopes_are_ordered_read_write_admin(api: Api) -> None:
    add_catalogue(api)
    r = api.post("/v1/items", {"items": [{"item_id": "x1", "text": "t"}]}, scope="read")
    assert r.status_code == 403
    assert "scope 'write'" in str(error_of(r)["message"])
    assert api.get("/v1/items/boots-1", scope="read").status_code == 200
    assert api.delete("/v1/users/nobody", scope="write").status_code == 403  # erasure is admin
    assert api.delete("/v1/users/nobody", scope="admin").status_code == 404


def test_health_can_be_closed(start_api: Callable[..., Api], sqlite_url: str) -> None:
    api = start_api(service_settings(sqlite_url, open_health=False, open_metrics=False))
    assert api.client.get("/healthz").status_code == 401
    assert api.client.get("/metrics").status_code == 401
    assert api.get("/healthz", scope="read").status_code == 200
    assert api.get("/metrics", scope="write").status_code == 403
    assert api.get("/metrics", scope="admin").status_code == 200


def test_rate_limit_answers_429_with_retry_after(start_api: Callable[..., Api], sqlite_url: str) -> None:
    api = start_api(service_settings(sqlite_url, rate_limit="3/minute"))
    codes = [api.get("/v1/items/none", scope="read").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    r = api.get("/v1/items/none", scope="read")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert error_of(r)["code"] == "rate_limited"
    # the limit is per key: another key still gets through
    assert api.get("/v1/items/none", scope="write").status_code == 404


def test_the_rate_limit_starts_no_thread_per_request(
    start_api: Callable[..., Api], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # regression: limits' synchronous memory storage started a threading.Timer to expire counters on
    # every request more than 10 ms after the previous one, and Thread.start blocked the event loop
    api = start_api(service_settings(sqlite_url, rate_limit="1000/minute"))
    started: list[str] = []
    real_start = threading.Thread.start

    def spy(thread: threading.Thread) -> None:
        started.append(type(thread).__name__)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", spy)
    for _ in range(5):
        assert api.get("/v1/items/none", scope="read").status_code == 404
        time.sleep(0.02)  # past the old storage's 10 ms timer
    assert started.count("Timer") == 0, started


# ---------------------------------------------------------------------- items
def test_item_upsert_get_delete(api: Api) -> None:
    r = api.post(
        "/v1/items",
        {
            "items": [
                {"item_id": "a1", "text": "red apple", "fields": {"price": 1.5}, "categories": ["fruit"]}
            ]
        },
    )
    assert r.json() == {"upserted": 1, "created": 1}
    again = api.post("/v1/items", {"items": [{"item_id": "a1", "text": "green apple"}]})
    assert again.json() == {"upserted": 1, "created": 0}
    got = api.get("/v1/items/a1").json()
    assert got["text"] == "green apple" and got["item_id"] == "a1"
    assert api.delete("/v1/items/a1").json() == {"id": "a1", "deleted": True}
    assert api.get("/v1/items/a1").status_code == 404
    assert api.delete("/v1/items/a1").status_code in (200, 404)
    assert error_of(api.delete("/v1/items/never"))["code"] == "not_found"


def test_deleted_item_is_never_recommended(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "e1", "user_id": "u1", "item_id": "boots-1"}]})
    assert api.delete("/v1/items/boots-2").status_code == 200
    r = api.get("/v1/users/u1/recommendations", params={"k": 5})
    shown = [i["item_id"] for i in r.json()["items"]]
    assert "boots-2" not in shown and "boots-1" not in shown and len(shown) == 4


def test_new_item_is_similar_at_once_and_recommended_in_the_next_request(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "e1", "user_id": "u1", "item_id": "boots-1"}]})
    body = {"items": [{"item_id": "boots-new", "text": "trail hiking boots waterproof leather, new season"}]}
    assert api.post("/v1/items", body).status_code == 200
    similar = api.get("/v1/items/boots-1/similar", params={"k": 2}).json()
    assert similar["language_model"][0]["item_id"] == "boots-new"
    rec = api.get("/v1/users/u1/recommendations", params={"k": 1}).json()
    assert [i["item_id"] for i in rec["items"]] == ["boots-new"]
    assert rec["items"][0]["stage"] == "model"


def test_similar_lists_text_and_collaborative_neighbours(api: Api) -> None:
    add_catalogue(api)
    events = [
        {"event_id": f"e{u}{i}", "user_id": f"u{u}", "item_id": i}
        for u in range(3)
        for i in ("boots-1", "jazz-2")
    ]
    api.post("/v1/feedback", {"events": events})
    r = api.get("/v1/items/boots-1/similar", params={"k": 2}).json()
    assert r["language_model"][0]["item_id"] == "boots-2"
    assert r["collaborative"][0]["item_id"] == "jazz-2"
    assert math.isclose(r["collaborative"][0]["score"], 1.0)
    assert api.get("/v1/items/nothing/similar").status_code == 404


# ---------------------------------------------------------------------- limits and validation
def test_batch_and_body_limits_answer_413(start_api: Callable[..., Api], sqlite_url: str) -> None:
    api = start_api(service_settings(sqlite_url, max_batch=3, max_body_bytes=4096))
    items = {"items": [{"item_id": f"i{j}", "text": "t"} for j in range(4)]}
    r = api.post("/v1/items", items)
    assert r.status_code == 413
    assert error_of(r)["code"] == "batch_too_large" and error_of(r)["field"] == "items"
    big = {"items": [{"item_id": "i0", "text": "x" * 5000}]}
    r = api.post("/v1/items", big)
    assert r.status_code == 413
    assert error_of(r)["code"] == "payload_too_large"
    assert api.get("/v1/items/i0").status_code == 404  # nothing was written


def test_validation_errors_name_the_field(api: Api) -> None:
    r = api.post("/v1/items", {"items": [{"item_id": "a", "text": "t", "colour": "red"}]})
    assert r.status_code == 422
    err = error_of(r)
    assert err["field"] == "items[0].colour" and err["code"] == "validation_error"
    r = api.post("/v1/items", {"items": [{"item_id": "a b", "text": "t"}]})
    assert error_of(r)["field"] == "items[0].item_id"
    r = api.client.post(
        "/v1/items", content=b'{"items": [', headers={**api.headers(), "content-type": "application/json"}
    )
    assert r.status_code == 422 and error_of(r)["code"] == "malformed_json"
    r = api.post(
        "/v1/feedback", {"events": [{"event_id": "e", "user_id": "u", "item_id": "i", "value": "x"}]}
    )
    assert error_of(r)["field"] == "events[0].value"
    r = api.get("/v1/users/u1/recommendations", params={"k": 0})
    assert r.status_code == 422 and error_of(r)["field"] == "k"
    r = api.get("/v1/users/u1/recommendations", params={"policy": "linucb"})
    assert r.status_code == 422 and error_of(r)["field"] == "policy"
    r = api.post("/v1/items", {"items": [{"item_id": "d", "text": "1"}, {"item_id": "d", "text": "2"}]})
    assert r.status_code == 409 and error_of(r)["field"] == "items[1].item_id"
    r = api.post("/v1/items", {"items": [{"item_id": "a", "timestamp": "12"}]})
    assert r.status_code == 422 and error_of(r)["field"] == "items[0].timestamp"  # strict: no coercion
    r = api.client.put("/v1/items/a", headers=api.headers())
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, GET"
    assert error_of(api.client.get("/nowhere"))["code"] == "not_found"


# ---------------------------------------------------------------------- feedback
def test_feedback_is_idempotent_on_event_id(api: Api) -> None:
    add_catalogue(api)
    events = {
        "events": [
            {"event_id": "e1", "user_id": "u1", "item_id": "boots-1", "type": "click"},
            {"event_id": "e2", "user_id": "u1", "item_id": "jazz-1", "type": "view", "value": 0.5},
        ]
    }
    assert api.post("/v1/feedback", events).json() == {
        "accepted": 2,
        "duplicates": [],
        "unattributed": [],
        "not_learned": [],
    }
    replay = api.post("/v1/feedback", events).json()
    assert replay == {"accepted": 0, "duplicates": ["e1", "e2"], "unattributed": [], "not_learned": []}
    assert len(api.store.user_events("u1")) == 2
    assert len(api.state.history("u1")) == 2  # served once, not twice


def test_feedback_for_an_unknown_item_is_404_and_stores_nothing(api: Api) -> None:
    add_catalogue(api)
    body = {
        "events": [
            {"event_id": "ok", "user_id": "u1", "item_id": "boots-1"},
            {"event_id": "bad", "user_id": "u1", "item_id": "ghost"},
        ]
    }
    r = api.post("/v1/feedback", body)
    assert r.status_code == 404
    err = error_of(r)
    assert err["field"] == "events[1].item_id" and "ghost" in str(err["message"])
    assert api.store.user_events("u1") == []


def test_clicks_quoting_a_recommendation_are_attributed_to_their_slot(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    rec = api.get("/v1/users/u1/recommendations", params={"k": 3}).json()
    third = rec["items"][2]["item_id"]
    click = {
        "event_id": "c1",
        "user_id": "u1",
        "item_id": third,
        "recommendation_id": rec["recommendation_id"],
    }
    stray = {"event_id": "c2", "user_id": "u1", "item_id": "tent-1", "recommendation_id": "no-such-slate"}
    r = api.post("/v1/feedback", {"events": [click, stray]}).json()
    # c1 updated the state of the policy that built the slate; c2 quoted no known slate
    assert r == {"accepted": 2, "duplicates": [], "unattributed": ["c2"], "not_learned": ["c2"]}
    rows = {e.event_id: e for e in api.store.user_events("u1")}
    assert rows["c1"].attributed and rows["c1"].position == 2
    assert not rows["c2"].attributed


# ---------------------------------------------------------------------- recommendations
def test_recommendations_are_logged_impressions(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    rec = api.get("/v1/users/u1/recommendations", params={"k": 3, "policy": "eps-greedy:0.3"}).json()
    assert len(rec["items"]) == 3 and rec["policy"] == "eps-greedy"
    assert [i["position"] for i in rec["items"]] == [0, 1, 2]
    logged = api.get(f"/v1/recommendations/{rec['recommendation_id']}").json()
    assert logged["item_ids"] == [i["item_id"] for i in rec["items"]]
    assert logged["propensities"] == [i["propensity"] for i in rec["items"]]
    assert logged["stages"] == [i["stage"] for i in rec["items"]]
    assert logged["model_version"] == rec["model_version"] and logged["user_id"] == "u1"
    assert api.get("/v1/recommendations/unknown-id").status_code == 404
    # jazz first: the user's one event is a jazz record (unless the slot explored)
    first = rec["items"][0]
    assert first["explored"] or first["item_id"].startswith("jazz")


def test_unknown_user_gets_a_cold_start_answer(api: Api) -> None:
    add_catalogue(api)
    api.post(
        "/v1/feedback",
        {"events": [{"event_id": f"e{j}", "user_id": f"u{j}", "item_id": "tent-1"} for j in range(2)]},
    )
    r = api.get("/v1/users/stranger/recommendations", params={"k": 3})
    assert r.status_code == 200
    body = r.json()
    assert [i["item_id"] for i in body["items"]] == ["tent-1", "jazz-3", "jazz-2"]
    assert [i["stage"] for i in body["items"]] == ["popular", "newest", "newest"]
    assert all(i["score"] is None for i in body["items"])
    logged = api.store.get_impression(body["recommendation_id"])
    assert logged is not None and logged.user == -1


def test_filters_category_exclude_and_seen(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    r = api.get(
        "/v1/users/u1/recommendations", params={"k": 10, "category": "music", "exclude": ["jazz-2"]}
    ).json()
    assert [i["item_id"] for i in r["items"]] == ["jazz-3"]
    assert "only 1 servable" in r["note"]
    r = api.get(
        "/v1/users/u1/recommendations", params={"k": 10, "category": "music", "exclude_seen": False}
    ).json()
    assert {i["item_id"] for i in r["items"]} == {"jazz-1", "jazz-2", "jazz-3"}


def test_deleting_a_user_forgets_profile_events_and_impressions(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/users", {"users": [{"user_id": "u1", "fields": {"age": 30}}]})
    api.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    rec = api.get("/v1/users/u1/recommendations").json()
    assert api.delete("/v1/users/u1").json() == {"id": "u1", "deleted": True}
    assert api.store.get_user("u1") is None
    assert api.store.user_events("u1") == []
    assert api.store.get_impression(rec["recommendation_id"]) is None
    assert api.state.history("u1") == []
    again = api.get("/v1/users/u1/recommendations").json()
    assert {i["stage"] for i in again["items"]} <= {"popular", "newest", "exploration"}


# ---------------------------------------------------------------------- operations
def test_metrics_expose_latency_events_impressions_and_model(api: Api) -> None:
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    slate = api.get("/v1/users/u1/recommendations?k=4").json()
    text = api.client.get("/metrics").text
    route = 'route="/v1/users/{user_id}/recommendations"'
    # every shown slot counted under its stage
    stages = Counter(item["stage"] for item in slate["items"])
    for stage, n in stages.items():
        assert f'explorec_slots_by_stage_total{{stage="{stage}"}} {float(n)}' in text
    assert f'explorec_request_seconds_count{{method="GET",{route},status="200"}} 1.0' in text
    assert "explorec_events_ingested_total 1.0" in text
    assert "explorec_impressions_logged_total 1.0" in text
    assert 'explorec_model_info{version="textknn:' in text
    assert "explorec_store_errors_total 0.0" in text


def test_readyz_reports_the_catalogue(api: Api) -> None:
    add_catalogue(api)
    r = api.client.get("/readyz").json()
    assert r["ready"] and r["store"] and r["n_items"] == 6


def test_two_replicas_share_items_and_feedback(store_url: str, start_api: Callable[..., Api]) -> None:
    a = start_api(service_settings(store_url))
    b = start_api(service_settings(store_url))
    add_catalogue(a)
    a.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (b.state.n_items < 6 or not b.state.history("u1")):
        time.sleep(0.05)
    ra = a.get("/v1/users/u1/recommendations", params={"k": 3}).json()
    rb = b.get("/v1/users/u1/recommendations", params={"k": 3}).json()
    assert [i["item_id"] for i in ra["items"]] == [i["item_id"] for i in rb["items"]]
    assert b.get(f"/v1/recommendations/{ra['recommendation_id']}").status_code == 200
    # an item written through b right after a's items keeps the store's index order on both
    b.post("/v1/items", {"items": [{"item_id": "late", "text": "jazz vinyl record saxophone quartet live"}]})
    assert b.get("/v1/items/late/similar", params={"k": 1}).json()["language_model"][0]["item_id"] == "jazz-1"


def test_a_deletion_through_one_replica_reaches_the_other(
    store_url: str, start_api: Callable[..., Api]
) -> None:
    a = start_api(service_settings(store_url, catalogue_reload_s=0.2))
    b = start_api(service_settings(store_url, catalogue_reload_s=0.2))
    add_catalogue(a)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b.state.n_items < 6:
        time.sleep(0.05)
    assert a.delete("/v1/items/jazz-3").status_code == 200
    a.post("/v1/items", {"items": [{"item_id": "jazz-2", "text": "trail hiking boots waterproof leather"}]})
    index = b.state.item_index["jazz-3"]
    while time.monotonic() < deadline and b.state.is_servable(index):
        time.sleep(0.05)
    shown = {
        i["item_id"] for i in b.get("/v1/users/nobody/recommendations", params={"k": 10}).json()["items"]
    }
    assert shown == {"boots-1", "boots-2", "tent-1", "jazz-1", "jazz-2"}
    # jazz-2's new text reached b's vectors: it is now boots-1's nearest neighbour there
    while time.monotonic() < deadline:
        near = b.get("/v1/items/boots-1/similar", params={"k": 1}).json()["language_model"][0]["item_id"]
        if near == "jazz-2":
            break
        time.sleep(0.05)
    assert near == "jazz-2"


def test_a_user_erased_through_one_replica_is_not_personalised_by_the_other(
    store_url: str, start_api: Callable[..., Api]
) -> None:
    a = start_api(service_settings(store_url))
    b = start_api(service_settings(store_url))
    add_catalogue(a)
    a.post("/v1/feedback", {"events": [{"event_id": "e0", "user_id": "u1", "item_id": "jazz-1"}]})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not b.state.history("u1"):
        time.sleep(0.05)
    assert a.delete("/v1/users/u1").status_code == 200
    stages = {i["stage"] for i in b.get("/v1/users/u1/recommendations").json()["items"]}
    assert stages <= {"popular", "newest", "exploration"}
    assert b.state.history("u1") == []


def test_store_outage_answers_503_and_recovers(start_api: Callable[..., Api], pg_server: object) -> None:
    from explorec.store.pgserver import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    url = pg_server.create_database("service_outage")
    api = start_api(service_settings(url))
    add_catalogue(api)
    pg_server.executor.stop()
    try:
        r = api.get("/v1/items/boots-1")
        assert r.status_code == 503
        assert error_of(r)["code"] == "store_unavailable" and r.headers["Retry-After"] == "1"
        assert api.client.get("/readyz").status_code == 503
    finally:
        pg_server.executor.start()
    deadline = time.monotonic() + 20
    codes = []
    while time.monotonic() < deadline:
        codes.append(api.get("/v1/items/boots-1").status_code)
        if codes[-1] == 200:
            break
        time.sleep(0.2)
    assert codes[-1] == 200, codes
    assert api.client.get("/readyz").status_code == 200
    assert "explorec_store_errors_total" in api.client.get("/metrics").text


@pytest.mark.parametrize("size", [1, 20])
def test_recommendation_answer_is_never_empty_while_items_exist(api: Api, size: int) -> None:
    add_catalogue(api)
    r = api.get("/v1/users/anyone/recommendations", params={"k": size}).json()
    assert len(r["items"]) == min(size, 6)


def test_faiss_retrieval_serves_like_the_exact_index(start_api: Callable[..., Api], sqlite_url: str) -> None:
    exact = start_api(service_settings(sqlite_url.replace("service.db", "exact.db"), index="exact"))
    faiss = start_api(service_settings(sqlite_url, index="faiss", n_candidates=4, history_length=2))
    for api in (exact, faiss):
        add_catalogue(api)
        api.post("/v1/feedback", {"events": [{"event_id": "e1", "user_id": "u1", "item_id": "boots-1"}]})
        api.delete("/v1/items/tent-1")
        api.post(
            "/v1/items",
            {"items": [{"item_id": "boots-new", "text": "trail hiking boots waterproof leather"}]},
        )
    assert faiss.state.index_backend == "faiss-hnsw" and exact.state.index_backend == "exact"
    answers = [
        [i["item_id"] for i in api.get("/v1/users/u1/recommendations", params={"k": 4}).json()["items"]]
        for api in (exact, faiss)
    ]
    assert answers[0] == answers[1]
    assert answers[1][0] == "boots-new" and "tent-1" not in answers[1] and "boots-1" not in answers[1]
    music = faiss.get("/v1/users/u1/recommendations", params={"k": 2, "category": "music"}).json()
    assert {i["item_id"] for i in music["items"]} <= {"jazz-1", "jazz-2", "jazz-3"}
