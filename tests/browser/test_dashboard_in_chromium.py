"""The dashboard in a real browser: headless Chromium against ``explorec serve --demo`` on loopback.

One service and one browser for the module (the demo takes most of the time to seed). The tests log
in with the printed admin key, look up a user, read the slate with its explanations, click an item
and see the next slate and the live charts change, search the catalogue by free text, and fail to
write with a read-only key. Each step leaves a screenshot (see conftest.py for the folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_helpers import DemoService
from playwright.sync_api import Browser, BrowserContext, Page, expect

USER = "U00000"
#: a chart's ``data-points`` (values drawn) when it shows something
SOME = re.compile(r"^[1-9][0-9]*$")
TIMEOUT_MS = 15_000


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def log_in(page: Page, service: DemoService, key: str) -> None:
    page.goto(service.dashboard)
    expect(page).to_have_url(f"{service.dashboard}/login?next=%2Fdashboard")
    page.fill("#api_key", key)
    page.click("#login")
    expect(page.locator("h1")).to_have_text("Overview")


def test_the_printed_address_serves_the_login_and_a_wrong_key_is_refused(
    demo_service: DemoService, context: BrowserContext, artifacts: Path
) -> None:
    assert demo_service.dashboard == f"{demo_service.base}/dashboard"
    page = context.new_page()
    page.goto(demo_service.dashboard)
    page.fill("#api_key", "exr_000000000000_not-a-key")
    page.click("#login")
    expect(page.locator("#message")).to_have_text("unknown or revoked API key")
    assert context.cookies() and all(c["name"] != "key" for c in context.cookies())
    log_in(page, demo_service, demo_service.admin_key)
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
    assert demo_service.admin_key not in cookie["value"]  # the key is encrypted inside the cookie
    expect(page.locator("#who")).to_contain_text("scope admin")
    page.screenshot(path=artifacts / "01-overview.png", full_page=True)


def test_a_click_changes_the_next_slate_and_the_live_charts(
    demo_service: DemoService, context: BrowserContext, artifacts: Path
) -> None:
    page = context.new_page()
    errors: list[str] = []
    log_in(page, demo_service, demo_service.admin_key)

    live = context.new_page()
    live.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    live.on("pageerror", lambda e: errors.append(str(e)))
    live.goto(f"{demo_service.dashboard}/live")
    expect(live.locator("#updated")).to_have_attribute("data-slates", "0")

    page.fill("input[name=user_id]", USER)
    page.click("form.lookup button")
    expect(page.locator("#user-id")).to_have_text(USER)
    rows = page.locator("#recs tbody tr")
    expect(rows).to_have_count(10)
    # every slot: a score or fallback stage, a propensity in (0, 1], and an explanation sentence
    for j in range(10):
        row = rows.nth(j)
        cells = row.locator("td")
        assert 0 < float(cells.nth(3).inner_text()) <= 1
        assert cells.nth(4).inner_text() in ("model", "item-to-item", "popular", "newest", "exploration")
        assert row.locator(".sentence").inner_text().startswith(row.get_attribute("data-item-id") or "?")
    evidence = page.locator("#recs .evidence li")
    assert evidence.count() > 0  # a user with history gets history items as evidence
    history = page.locator("#history tbody tr")
    assert history.count() > 0
    before = page.locator("#recommendation-id").inner_text()
    first = rows.nth(0).get_attribute("data-item-id")
    page.screenshot(path=artifacts / "02-user-before-click.png", full_page=True)

    expect(live.locator("#updated")).to_have_attribute("data-slates", "1")  # the slate just shown
    rows.nth(0).locator("button.click").click()
    expect(page.locator("#clicked")).to_contain_text(f"Click on {first} stored")
    after = page.locator("#recommendation-id").inner_text()
    assert after != before
    items_now = [rows.nth(j).get_attribute("data-item-id") for j in range(rows.count())]
    assert first not in items_now  # the clicked item is in the history now, and seen items are hidden
    assert page.locator("#history tbody tr").first.locator("code").inner_text() == first
    page.screenshot(path=artifacts / "03-user-after-click.png", full_page=True)

    expect(live.locator("#updated")).to_have_attribute("data-clicks", "1")
    expect(live.locator("#updated")).to_have_attribute("data-slates", "2")
    # the per-policy click-rate chart and the exploration chart have drawn points (uPlot canvases)
    for chart in ("#chart-policy", "#chart-explore", "#chart-coverage"):
        assert live.locator(f"{chart} canvas").count() > 0, chart
        assert int(live.locator(chart).get_attribute("data-points") or 0) >= 1, chart
    expect(live.locator('#totals dd[data-name="attributed clicks"]')).to_have_text("1")
    # API traffic shows in the ingestion and latency charts (this process's Prometheus metrics)
    headers = {"Authorization": f"Bearer {demo_service.admin_key}"}
    for _ in range(5):
        assert (
            httpx.get(f"{demo_service.base}/v1/users/U00001/recommendations", headers=headers).status_code
            == 200
        )
    expect(live.locator("#chart-latency")).to_have_attribute("data-points", SOME)
    expect(live.locator("#chart-ingest")).to_have_attribute("data-points", SOME)

    # a slate shown in an experiment, clicked: the per-variant chart gets its first points
    experiment = {
        "variants": [
            {"name": "greedy", "share": 0.5, "policy": "greedy"},
            {"name": "explore", "share": 0.5, "policy": "eps-greedy:0.5"},
        ]
    }
    put = httpx.put(f"{demo_service.base}/v1/experiments/dash-test", json=experiment, headers=headers)
    assert put.status_code == 200, put.text
    page.goto(f"{demo_service.dashboard}/users/{USER}?experiment=dash-test")
    expect(rows).to_have_count(10)
    rows.nth(1).locator("button.click").click()
    expect(page.locator("#clicked")).to_be_visible()
    expect(live.locator("#chart-variant")).to_have_attribute("data-points", SOME)
    expect(live.locator('#totals dd[data-name="attributed clicks"]')).to_have_text("2")
    live.screenshot(path=artifacts / "04-live.png", full_page=True)
    assert errors == []


def test_catalogue_free_text_search_and_newest_first(
    demo_service: DemoService, context: BrowserContext, artifacts: Path
) -> None:
    page = context.new_page()
    log_in(page, demo_service, demo_service.admin_key)
    page.goto(f"{demo_service.dashboard}/catalogue")
    rows = page.locator("#items tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#summary")).to_contain_text("1500 items")
    target = rows.nth(7)
    item_id = target.get_attribute("data-item-id")
    text = target.locator("td").nth(1).inner_text()
    page.fill("#q", text)
    page.click("#go")
    expect(page.locator("#summary")).to_contain_text("nearest to")
    assert rows.first.get_attribute("data-item-id") == item_id  # its own text finds it first
    assert float(rows.first.locator("td").nth(4).inner_text()) == pytest.approx(1.0, abs=1e-3)

    # a few words: the nearest items are those whose text has them
    page.fill("#q", "waterproof trail running shoes")
    page.click("#go")
    expect(page.locator("#summary")).to_contain_text("waterproof trail running shoes")
    for j in range(5):
        assert "trail running shoes" in rows.nth(j).locator("td").nth(1).inner_text().lower()
    page.screenshot(path=artifacts / "05-catalogue-search.png", full_page=True)

    page.fill("#q", "")
    page.check("#newest")
    page.click("#go")
    times = [rows.nth(j).locator("td").nth(3).inner_text() for j in range(rows.count())]
    assert times == sorted(times, reverse=True) and len(set(times)) > 1
    page.click("#next")
    expect(page.locator("#summary")).to_contain_text("page 2 of 60")


def test_a_read_only_key_can_look_but_not_click(
    demo_service: DemoService, context: BrowserContext, artifacts: Path
) -> None:
    page = context.new_page()
    log_in(page, demo_service, demo_service.read_key)
    page.goto(f"{demo_service.dashboard}/users/{USER}")
    rows = page.locator("#recs tbody tr")
    expect(rows).to_have_count(10)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        rows.nth(0).locator("button.click").click()
    assert answer.value.status == 403
    expect(page.locator("#message")).to_contain_text("needs a key of scope 'write'")
    expect(page.locator("#message")).to_contain_text("scope 'read'")
    page.screenshot(path=artifacts / "06-read-only-refused.png", full_page=True)
    page.click("#back")
    expect(page.locator("#user-id")).to_have_text(USER)
