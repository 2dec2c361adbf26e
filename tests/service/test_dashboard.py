"""The dashboard's server side through TestClient: login and its cookie, CSRF and scope refusals,
free-text search on known answers, the live page's numbers, and pin through the models page."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from service_helpers import CATALOGUE, Api, add_catalogue, service_settings
from test_models import registry_settings, two_versions

from explorec.online.registry import ModelRegistry
from explorec.service.dashboard.live import quantile, wilson

__all__ = ["two_versions"]  # the fixture, imported from the models tests

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def dash(sqlite_url: str, start_api: Callable[..., Api]) -> Api:
    api = start_api(service_settings(sqlite_url))
    add_catalogue(api)
    return api


def csrf(api: Api, path: str = "/dashboard/login") -> str:
    page = api.client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def log_in(api: Api, scope: str) -> None:
    answer = api.client.post(
        "/dashboard/login", data={"csrf": csrf(api), "api_key": api.keys[scope]}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text


def test_login_sets_a_signed_httponly_strict_cookie_without_the_key_in_clear(dash: Api) -> None:
    assert dash.client.get("/dashboard", follow_redirects=False).headers["location"] == (
        "/dashboard/login?next=%2Fdashboard"
    )
    token = csrf(dash)
    wrong = dash.client.post("/dashboard/login", data={"csrf": token, "api_key": "exr_nope"})
    assert wrong.status_code == 401 and "unknown or revoked API key" in wrong.text
    answer = dash.client.post(
        "/dashboard/login",
        data={"csrf": token, "api_key": dash.keys["read"], "next": "/dashboard/catalogue"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/catalogue"
    cookie = answer.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=strict" in cookie and "path=/dashboard" in cookie and "Max-Age=28800" in cookie
    payload = base64.b64decode(cookie.split("=", 1)[1].split(".")[0])
    assert dash.keys["read"] not in payload.decode() and set(json.loads(payload)) == {"key", "csrf"}
    assert dash.client.get("/dashboard").status_code == 200

    # a cookie whose signature does not match is an empty session
    (jar,) = list(dash.client.cookies.jar)
    assert jar.value is not None
    dash.client.cookies.clear()
    dash.client.cookies.set(jar.name, jar.value[:-3] + "AAA", domain=jar.domain, path=jar.path)
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_login_and_logout_need_the_csrf_token(dash: Api) -> None:
    refused = dash.client.post(
        "/dashboard/login", data={"api_key": dash.keys["admin"]}, follow_redirects=False
    )
    assert refused.status_code == 403 and "CSRF token" in refused.text
    log_in(dash, "admin")
    assert dash.client.post("/dashboard/logout", data={"csrf": "forged"}).status_code == 403
    assert dash.client.get("/dashboard").status_code == 200  # still logged in
    out = dash.client.post(
        "/dashboard/logout", data={"csrf": csrf(dash, "/dashboard")}, follow_redirects=False
    )
    assert out.status_code == 303
    assert dash.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_session(sqlite_url: str, start_api: Callable[..., Api]) -> None:
    api = start_api(service_settings(sqlite_url, key_cache_s=0))
    log_in(api, "write")
    (row,) = [k for k in api.store.keys() if k.name == "test-write"]
    assert api.store.revoke_key(row.key_id)
    assert api.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_dashboard_pages_count_against_the_keys_rate_limit(
    sqlite_url: str, start_api: Callable[..., Api]
) -> None:
    # the pages run in worker threads and count on the event loop's limiter (from_thread)
    api = start_api(service_settings(sqlite_url, rate_limit="2/minute"))
    log_in(api, "read")
    codes = [api.client.get("/dashboard", follow_redirects=False).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    # the API and the dashboard share the key's count
    assert api.get("/v1/items/none", scope="read").status_code == 429


def _slate(api: Api, user: str) -> tuple[str, list[str], str]:
    page = api.client.get(f"/dashboard/users/{user}")
    assert page.status_code == 200, page.text
    rid = re.search(r'id="recommendation-id">([^<]+)<', page.text)
    token = CSRF.search(page.text)
    assert rid is not None and token is not None
    return rid.group(1), re.findall(r'<tr class="rec[^"]*" data-item-id="([^"]+)"', page.text), token.group(1)


def test_a_click_needs_the_csrf_token_and_a_write_key(dash: Api) -> None:
    dash.post(
        "/v1/feedback", {"events": [{"event_id": "h1", "user_id": "u1", "item_id": "boots-1"}]}, "write"
    )
    log_in(dash, "read")
    rid, items, token = _slate(dash, "u1")
    assert "boots-1" not in items and items[0] == "boots-2"  # nearest text to the history, greedy
    before = dash.store.count_events()
    read = dash.client.post(
        "/dashboard/users/u1/click", data={"csrf": token, "recommendation_id": rid, "item_id": items[0]}
    )
    assert read.status_code == 403
    assert (
        "needs a key of scope &#39;write&#39; or higher" in read.text and "scope &#39;read&#39;" in read.text
    )

    log_in(dash, "write")
    rid, items, token = _slate(dash, "u1")
    forged = dash.client.post(
        "/dashboard/users/u1/click", data={"csrf": "x" + token, "recommendation_id": rid, "item_id": items[0]}
    )
    assert forged.status_code == 403 and "CSRF token" in forged.text
    assert dash.store.count_events() == before  # nothing stored by a refused write

    done = dash.client.post(
        "/dashboard/users/u1/click",
        data={"csrf": token, "recommendation_id": rid, "item_id": items[0], "k": "5"},
        follow_redirects=False,
    )
    assert (
        done.status_code == 303 and done.headers["location"] == f"/dashboard/users/u1?k=5&clicked={items[0]}"
    )
    (event,) = [e for e in dash.store.user_events("u1") if e.recommendation_id == rid]
    assert (event.item_id, event.attributed, event.position) == (items[0], True, 0)
    again, after, _ = _slate(dash, "u1")
    assert again != rid and items[0] not in after  # the next answer: the clicked item is history now


def test_search_finds_the_item_whose_text_is_the_query_first(dash: Api) -> None:
    for item_id, text, _ in CATALOGUE:
        found = dash.get("/v1/items/search", "read", params={"q": text, "k": 3}).json()["items"]
        assert found[0]["item_id"] == item_id and found[0]["score"] == pytest.approx(1.0, abs=1e-5)
        assert len(found) == 3 and found[0]["score"] >= found[1]["score"] >= found[2]["score"]
    music = dash.get("/v1/items/search", "read", params={"q": "hiking boots", "category": "music"}).json()
    assert {h["item_id"] for h in music["items"]} == {"jazz-1", "jazz-2", "jazz-3"}
    newest = dash.get("/v1/items/search", "read", params={"q": "jazz vinyl", "k": 3, "newest": "true"}).json()
    assert [h["item_id"] for h in newest["items"]] == ["jazz-3", "jazz-2", "jazz-1"]  # timestamps 1005..1003
    dash.delete("/v1/items/jazz-2", "write")
    gone = dash.get("/v1/items/search", "read", params={"q": CATALOGUE[4][1]}).json()["items"]
    assert "jazz-2" not in [h["item_id"] for h in gone]

    assert dash.client.get("/v1/items/search?q=jazz").status_code == 401
    blank = dash.get("/v1/items/search", "read", params={"q": "   "})
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "q"
    assert dash.get("/v1/items/search", "read", params={"q": "x", "k": 101}).json()["error"]["field"] == "k"
    denied = dash.client.delete("/v1/items/search", headers=dash.headers("admin"))
    assert denied.status_code == 405 and denied.headers["allow"] == "GET"
    reserved = dash.post("/v1/items", {"items": [{"item_id": "search", "text": "x"}]}, "write")
    assert reserved.status_code == 422 and reserved.json()["error"]["field"] == "items[0].item_id"


def test_the_catalogue_page_browses_filters_and_searches(dash: Api) -> None:
    log_in(dash, "read")
    rows = re.compile(r'<tr data-item-id="([^"]+)"')
    page = dash.client.get("/dashboard/catalogue?category=outdoor&newest=true").text
    assert rows.findall(page) == ["tent-1", "boots-2", "boots-1"]
    page = dash.client.get("/dashboard/catalogue", params={"q": CATALOGUE[3][1]}).text
    assert rows.findall(page)[0] == "jazz-1"


def test_live_numbers_on_a_known_log(dash: Api) -> None:
    assert dash.client.get("/dashboard/api/live").status_code == 401
    first = dash.get("/v1/users/u9/recommendations?k=3&policy=greedy&rerank=none", "read").json()
    dash.get("/v1/users/u9/recommendations?k=2&policy=greedy&rerank=none", "read")
    shown = first["items"][1]["item_id"]
    body = {
        "events": [
            {
                "event_id": "c1",
                "user_id": "u9",
                "item_id": shown,
                "recommendation_id": first["recommendation_id"],
            }
        ]
    }
    assert dash.post("/v1/feedback", body, "write").json()["accepted"] == 1
    log_in(dash, "read")
    live = dash.client.get("/dashboard/api/live").json()["store"]
    totals = live["totals"]
    assert (totals["slates"], totals["impressions"], totals["clicks"]) == (2, 5, 1)
    assert totals["click_rate"] == pytest.approx(1 / 5) and totals["exploration_share"] == 0.0
    # a cold user gets the newest items (no events before the slates): every shown slot is cold
    assert totals["cold_exposure"] == 1.0
    assert totals["coverage"] == pytest.approx(totals["distinct_items_shown"] / 6)
    greedy = live["by_policy"]["greedy"]
    assert sum(greedy["impressions"]) == 5 and sum(greedy["clicks"]) == 1
    assert live["by_variant"] == {}


def test_wilson_interval_and_histogram_quantile_known_values() -> None:
    assert wilson(1, 10) == pytest.approx((0.017876, 0.404150), abs=1e-5)
    bounds = (0.01, 0.02, 0.05, float("inf"))
    counts = np.array([0.0, 10.0, 10.0, 10.0])  # every observation between 10 and 20 ms
    assert quantile(0.5, bounds, counts) == pytest.approx(0.015)
    assert quantile(0.5, bounds, np.zeros(4)) is None
    assert quantile(0.99, bounds, np.array([0.0, 0.0, 0.0, 4.0])) == 0.05  # +inf bucket: largest bound


def test_models_page_pins_with_an_admin_key_only(
    tmp_path: Path, two_versions: list[str], start_api: Callable[..., Api]
) -> None:
    ease, popularity = two_versions
    api = start_api(registry_settings(tmp_path))
    log_in(api, "write")
    page = api.client.get("/dashboard/models").text
    assert f'data-version="{ease}"' in page and f'data-version="{popularity}"' in page and "ndcg@10" in page
    refused = api.client.post(
        "/dashboard/models/pin", data={"csrf": csrf(api, "/dashboard/models"), "version": ease}
    )
    assert refused.status_code == 403 and "scope &#39;admin&#39;" in refused.text
    assert ModelRegistry(tmp_path / "registry").state().pinned is None
    log_in(api, "admin")
    done = api.client.post(
        "/dashboard/models/pin",
        data={"csrf": csrf(api, "/dashboard/models"), "version": ease},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert ModelRegistry(tmp_path / "registry").state().pinned == ease
    page = api.client.get("/dashboard/models").text
    assert f'id="served">{ease}<' in page
    (row,) = re.findall(rf'<tr data-version="{ease}".*?</tr>', page, re.S)
    assert row.count(" UTC</td>") == 3  # created, promoted by the trainer, swapped in here by the pin


def test_every_dashboard_file_is_package_data() -> None:
    """A non-editable install has the templates and static files: pyproject's globs cover them all."""
    import fnmatch
    import tomllib

    import explorec

    root = Path(explorec.__file__).parent
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["explorec"]
    files = [
        p.relative_to(root).as_posix()
        for p in (root / "service" / "dashboard").rglob("*")
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    ]
    assert len(files) >= 13  # templates, css, js, the vendored uPlot and its licence
    missing = [
        f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)
    ]
    assert missing == []


def test_dashboard_false_serves_the_api_only(sqlite_url: str, start_api: Callable[..., Api]) -> None:
    api = start_api(service_settings(sqlite_url, dashboard=False))
    assert api.client.get("/dashboard/login").status_code == 404
    assert api.client.get("/dashboard/static/live.js").status_code == 404
    assert api.get("/v1/items/search?q=x", "read").json()["items"] == []


def test_with_pseudonyms_the_user_page_still_shows_the_history(
    sqlite_url: str, start_api: Callable[..., Api]
) -> None:
    api = start_api(service_settings(sqlite_url, pseudonymise_secret="s" * 32))
    add_catalogue(api)
    api.post("/v1/feedback", {"events": [{"event_id": "p1", "user_id": "u1", "item_id": "jazz-1"}]}, "write")
    log_in(api, "read")
    page = api.client.get("/dashboard/users/u1").text
    (history,) = re.findall(r'<table class="history" id="history">.*?</table>', page, re.S)
    assert "<code>jazz-1</code>" in history
    rid, items, _ = _slate(api, "u1")
    assert set(items[:2]) == {"jazz-2", "jazz-3"}  # the nearest texts to the history first
    log_in(api, "write")
    token = csrf(api, "/dashboard")
    done = api.client.post(
        "/dashboard/users/u1/click", data={"csrf": token, "recommendation_id": rid, "item_id": items[0]}
    )
    assert done.status_code == 200 and f"Click on <code>{items[0]}</code> stored" in done.text
    assert "u1" in done.text and api.store.get_user("u1") is None  # shown by id, stored by pseudonym
    (history,) = re.findall(r'<table class="history" id="history">.*?</table>', done.text, re.S)
    assert f"<code>{items[0]}</code>" in history  # the click joined the same (single) pseudonym's history
