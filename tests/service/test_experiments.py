"""Experiments: definition errors, stable salted-hash assignment, impressions carry the variant, and
the report's numbers on cases with known answers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import binomtest
from service_helpers import Api, add_catalogue, service_settings

from explorec.impressions import ImpressionRecord
from explorec.online.experiments import (
    Variant,
    experiment_report,
    hash_unit,
    make_experiment,
    two_proportion_test,
)

TWO = {
    "variants": [
        {"name": "greedy", "share": 0.5, "policy": "greedy"},
        {"name": "ts", "share": 0.5, "policy": "ts"},
    ]
}


# ---------------------------------------------------------------------- definitions
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.4}]},
            "variants",
            "must sum to 1, got 0.5 + 0.4 = 0.9",
        ),
        (
            {
                "variants": [
                    {"name": "a", "share": 0.5, "model_version": "svd-v9"},
                    {"name": "b", "share": 0.5},
                ]
            },
            "variants[0].model_version",
            "unknown model version 'svd-v9'",
        ),
        (
            {"variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5, "policy": "exp3"}]},
            "variants[1].policy",
            "unknown policy 'exp3'",
        ),
        (
            {"variants": [{"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}]},
            "variants[0].name",
            "appears twice",
        ),
        (
            {"variants": [{"name": "a", "share": 1.0}], "control": "z"},
            "control",
            "'z' is not a variant",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    sqlite_url: str, start_api: Callable[..., Api], body: dict[str, object], field: str, words: str
) -> None:
    api = start_api(service_settings(sqlite_url))
    r = api.client.put("/v1/experiments/e1", json=body, headers=api.headers())
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_experiment"
    assert error["field"] == field
    assert words in error["message"]
    assert api.get("/v1/experiments/e1").status_code == 404


def test_defining_needs_an_admin_key(sqlite_url: str, start_api: Callable[..., Api]) -> None:
    api = start_api(service_settings(sqlite_url))
    assert api.client.put("/v1/experiments/e1", json=TWO, headers=api.headers("write")).status_code == 403


# ---------------------------------------------------------------------- assignment
def test_assignment_shares_match_the_configured_ones_within_sampling_error() -> None:
    shares = (0.2, 0.3, 0.5)
    exp = make_experiment("split", [Variant(f"v{j}", s) for j, s in enumerate(shares)])
    n = 20_000
    counts = {v.name: 0 for v in exp.variants}
    for u in range(n):
        counts[exp.assign(f"user-{u}").name] += 1
    for j, share in enumerate(shares):
        se = (share * (1 - share) / n) ** 0.5
        assert abs(counts[f"v{j}"] / n - share) < 4 * se, counts


def test_assignment_is_a_pure_function_of_salt_and_user() -> None:
    a = make_experiment("x", [Variant("a", 0.5), Variant("b", 0.5)])
    again = make_experiment("x", [Variant("a", 0.5), Variant("b", 0.5)])
    other_salt = make_experiment("x", [Variant("a", 0.5), Variant("b", 0.5)], salt="pepper")
    users = [f"u{j}" for j in range(2000)]
    assert [a.assign(u).name for u in users] == [again.assign(u).name for u in users]
    moved = sum(a.assign(u).name != other_salt.assign(u).name for u in users)
    assert 800 < moved < 1200  # a new salt reshuffles about half of the users
    # the hash is SHA-256 of "salt:user": a known value pins it across versions and platforms
    assert hash_unit("x", "u0") == int("9ca4c89b88f86980", 16) / 2**64


def test_assignment_is_stable_across_replicas_and_restarts(
    store_url: str, start_api: Callable[..., Api]
) -> None:
    first = start_api(service_settings(store_url))
    add_catalogue(first)
    assert first.client.put("/v1/experiments/e1", json=TWO, headers=first.headers()).status_code == 200
    second = start_api(service_settings(store_url))  # another replica on the same store
    users = [f"user-{j}" for j in range(30)]
    seen: dict[str, set[str]] = {u: set() for u in users}
    for replica in (first, second, first):
        for u in users:
            r = replica.get(f"/v1/users/{u}/recommendations?k=3&experiment=e1", scope="read")
            assert r.status_code == 200, r.text
            record = replica.store.get_impression(r.json()["recommendation_id"])
            assert record.experiment == "e1"
            seen[u].add(record.variant)
            assert r.json()["policy"] == record.policy == ("ts" if record.variant == "ts" else "greedy")
    assert all(len(v) == 1 for v in seen.values())
    expected = make_experiment("e1", [Variant("greedy", 0.5), Variant("ts", 0.5, policy="ts")])
    assert {u: next(iter(v)) for u, v in seen.items()} == {u: expected.assign(u).name for u in users}


def test_unknown_experiment_is_404(sqlite_url: str, start_api: Callable[..., Api]) -> None:
    api = start_api(service_settings(sqlite_url))
    add_catalogue(api)
    r = api.get("/v1/users/u1/recommendations?experiment=nope", scope="read")
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "experiment"


# ---------------------------------------------------------------------- the report
def _record(rec_id: str, variant: str, props: list[float]) -> ImpressionRecord:
    k = len(props)
    return ImpressionRecord(
        recommendation_id=rec_id,
        user=0,
        user_id="u",
        items=tuple(range(k)),
        item_ids=tuple(str(i) for i in range(k)),
        scores=(0.0,) * k,
        propensities=tuple(props),
        explored=(False,) * k,
        policy="greedy",
        experiment="e",
        variant=variant,
    )


def test_report_numbers_on_a_known_case() -> None:
    exp = make_experiment("e", [Variant("a", 0.5), Variant("b", 0.5, policy="eps-greedy:0.2")])
    records: list[ImpressionRecord] = []
    rewards: list[np.ndarray] = []
    cf: dict[str, dict[str, list[float]]] = {}
    # a: 100 slates of 4 slots, deterministic (propensity 1), 40 clicks in all (one in each of the
    # first 40 slates, at position 0); b would show each of a's slots with probability 0.5
    for j in range(100):
        records.append(_record(f"a{j}", "a", [1.0] * 4))
        rewards.append(np.array([1.0 if j < 40 else 0.0, 0, 0, 0]))
        cf[f"a{j}"] = {"b": [0.5] * 4}
    # b: 50 slates of 4 slots with propensity 0.25, 30 clicks; a's probability of them is 1 or 0
    for j in range(50):
        records.append(_record(f"b{j}", "b", [0.25] * 4))
        rewards.append(np.array([1.0 if j < 30 else 0.0, 0, 0, 0]))
        cf[f"b{j}"] = {"a": [1.0, 0.0, 0.0, 0.0]}
    report = experiment_report(exp, records, rewards, cf, n_bootstrap=200)
    a, b = report["variants"]
    assert (a["slates"], a["impressions"], a["clicks"]) == (100, 400, 40.0)
    assert (b["slates"], b["impressions"], b["clicks"]) == (50, 200, 30.0)
    assert a["click_rate"] == pytest.approx(0.1) and b["click_rate"] == pytest.approx(0.15)
    assert a["clicks_per_1000"] == pytest.approx(100.0)
    ci = binomtest(40, 400).proportion_ci(confidence_level=0.95, method="wilson")
    assert a["click_rate_ci"] == pytest.approx([ci.low, ci.high])
    # two-proportion z-test, pooled: p = 70/600, se = sqrt(p(1-p)(1/200+1/400)), z = 0.05/se
    diff, p_value = two_proportion_test(30, 200, 40, 400)
    assert b["diff_to_control"] == pytest.approx(0.05) == pytest.approx(diff)
    assert b["p_value"] == pytest.approx(p_value) == pytest.approx(0.0721, abs=5e-4)
    assert a["diff_to_control"] is None and a["p_value"] is None
    # b from a's log: IPS = mean(0.5 * r / 1) over 400 slots = 0.5 * 40 / 400; SNIPS = 40 / 400
    assert b["off_policy"]["ips"]["value"] == pytest.approx(0.05)
    assert b["off_policy"]["snips"]["value"] == pytest.approx(0.1)
    assert b["off_policy"]["overlap"] == 0.5 and b["off_policy"]["from_variants"] == ["a"]
    # a from b's log: only position 0 is in a's support; IPS = (30 clicks * 1 / 0.25) / 200 slots
    assert a["off_policy"]["ips"]["value"] == pytest.approx(30 * 4 / 200)
    assert a["off_policy"]["snips"]["value"] == pytest.approx((30 * 4) / (50 * 4))
    assert a["off_policy"]["overlap"] == pytest.approx(0.25)
    low, high = b["off_policy"]["ips"]["ci"]
    assert low <= 0.05 <= high and low < high


def test_report_through_the_api_counts_the_logged_clicks(
    sqlite_url: str, start_api: Callable[..., Api]
) -> None:
    api = start_api(service_settings(sqlite_url))
    add_catalogue(api)
    assert api.client.put("/v1/experiments/e1", json=TWO, headers=api.headers()).status_code == 200
    clicks = {"greedy": 0, "ts": 0}
    slots = {"greedy": 0, "ts": 0}
    for j in range(40):
        user = f"user-{j}"
        r = api.get(f"/v1/users/{user}/recommendations?k=3&experiment=e1", scope="read").json()
        variant = api.store.get_impression(r["recommendation_id"]).variant
        slots[variant] += len(r["items"])
        if j % 3 == 0:
            event = {
                "event_id": f"c{j}",
                "user_id": user,
                "item_id": r["items"][1]["item_id"],
                "recommendation_id": r["recommendation_id"],
            }
            answer = api.post("/v1/feedback", {"events": [event]}, scope="write").json()
            assert answer["not_learned"] == []
            clicks[variant] += 1
    report = api.get("/v1/experiments/e1", scope="read").json()
    by_name = {v["name"]: v for v in report["variants"]}
    for name in ("greedy", "ts"):
        assert by_name[name]["impressions"] == slots[name]
        assert by_name[name]["clicks"] == clicks[name]
        assert by_name[name]["state"]["clicks"] == clicks[name]
        assert by_name[name]["off_policy"] is not None
    assert report["control"] == "greedy"
