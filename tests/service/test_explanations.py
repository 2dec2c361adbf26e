"""Explanations from the API: GET /v1/recommendations/{id}/explanation and ?explain=true."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service_helpers import Api, add_catalogue, service_settings


def _api(tmp_path: Path, start_api: Callable[..., Api], **overrides: object) -> Api:
    api = start_api(service_settings(f"sqlite:///{tmp_path / 'service.db'}", **overrides))
    add_catalogue(api)
    return api


def _click(api: Api, item_id: str, n: int = 0) -> None:
    event = {"event_id": f"e{n}", "user_id": "ann", "item_id": item_id, "timestamp": 2000.0 + n}
    r = api.post("/v1/feedback", {"events": [event]}, scope="write")
    assert r.status_code == 200, r.text


def test_explanation_route_names_the_history_item_and_what_it_shares(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    api = _api(tmp_path, start_api)
    _click(api, "jazz-1", 0)
    r = api.get("/v1/users/ann/recommendations?k=3", scope="read")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["explanations"] is None  # only when asked
    e = api.get(f"/v1/recommendations/{body['recommendation_id']}/explanation", scope="read")
    assert e.status_code == 200, e.text
    exp = e.json()
    assert exp["recommendation_id"] == body["recommendation_id"] and exp["user_id"] == "ann"
    assert [x["item_id"] for x in exp["items"]] == [x["item_id"] for x in body["items"]]
    jazz = [x for x in exp["items"] if x["item_id"].startswith("jazz")]
    assert jazz, exp  # the jazz records are recommended after a jazz click
    for x in jazz:
        assert x["stage"] == "model" and x["evidence_kind"] == "embedding similarity"
        top = x["evidence"][0]
        assert top["item_id"] == "jazz-1" and top["weight"] > 0
        assert {"jazz", "vinyl"} <= set(top["shared_words"]) and top["shared_categories"] == ["music"]
        assert "because you interacted with jazz-1" in x["sentence"]
    # the slate's own numbers are those of the impression
    for x, shown in zip(exp["items"], body["items"], strict=True):
        assert (x["propensity"], x["explored"], x["stage"]) == (
            shown["propensity"],
            shown["explored"],
            shown["stage"],
        )


def test_explain_true_inlines_explanations_and_explored_slots_say_why(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    api = _api(tmp_path, start_api, policy="eps-greedy:1.0")
    _click(api, "boots-1", 0)
    r = api.get("/v1/users/ann/recommendations?k=3&explain=true&policy=eps-greedy:1.0", scope="read")
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["explanations"]) == len(body["items"]) == 3
    explored = [x for x in body["explanations"] if x["explored"]]
    assert explored
    for x in explored:
        assert x["stage"] == "exploration"
        assert "epsilon draw (epsilon=1.0)" in x["exploration_reason"]
        assert f"with propensity {x['propensity']:.3f}" in x["sentence"]


def test_unknown_recommendation_is_404_and_needs_a_key(tmp_path: Path, start_api: Callable[..., Api]) -> None:
    api = _api(tmp_path, start_api)
    r = api.get("/v1/recommendations/nope/explanation", scope="read")
    assert r.status_code == 404 and "unknown recommendation_id 'nope'" in r.json()["error"]["message"]
    assert api.client.get("/v1/recommendations/nope/explanation").status_code == 401


def test_cold_user_gets_stages_and_no_invented_evidence(
    tmp_path: Path, start_api: Callable[..., Api]
) -> None:
    api = _api(tmp_path, start_api)
    r = api.get("/v1/users/newcomer/recommendations?k=4&explain=true&policy=eps-greedy:1.0", scope="read")
    assert r.status_code == 200, r.text
    body = r.json()
    for x, shown in zip(body["explanations"], body["items"], strict=True):
        assert x["stage"] == shown["stage"] and x["stage"] in ("popular", "newest", "exploration")
        assert x["evidence"] == [] and x["evidence_kind"] == "none"
        assert "no history item supports it" in x["sentence"]
        if x["explored"]:
            # nobody interacted with anything yet: every explored item is a new item
            assert x["exploration_reason"].startswith("new item (no interactions yet)")
