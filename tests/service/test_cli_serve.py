"""``explorec keys`` and ``explorec serve`` as a user runs them: a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from service_helpers import free_port, start_serve, wait_ready

from explorec.cli import main


def test_keys_create_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    assert main(["keys", "create", "--scope", "write", "--name", "shop", "--database-url", url]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("exr_")
    assert main(["keys", "list", "--database-url", url]) == 0
    listing = capsys.readouterr().out
    assert "\twrite\tactive\tshop" in listing and secret not in listing
    key_id = listing.split("\t")[0]
    assert main(["keys", "revoke", key_id, "--database-url", url]) == 0
    assert main(["keys", "revoke", key_id, "--database-url", url]) == 1


def test_serve_runs_uvicorn_on_loopback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    port = free_port()
    config = tmp_path / "explorec.toml"
    config.write_text(f'database_url = "{url}"\nencoder = "hashing:64"\nport = {port}\n')
    assert main(["keys", "create", "--scope", "admin", "--config", str(config)]) == 0
    proc = start_serve(config)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, 60)
        assert httpx.get(f"{base}/v1/items/x", timeout=5).status_code == 401
        login = httpx.get(f"{base}/dashboard", timeout=5, follow_redirects=True)
        assert login.status_code == 200 and str(login.url) == f"{base}/dashboard/login?next=%2Fdashboard"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"explorec service on http://127.0.0.1:{port}" in out
    assert f"dashboard: http://127.0.0.1:{port}/dashboard" in out
    assert "Uvicorn running on http://127.0.0.1" in out


@pytest.mark.parametrize("worker_sockets", ["reuseport", "shared"])
def test_serve_with_two_workers_serves_an_item_written_through_either_in_the_next_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], worker_sockets: str
) -> None:
    # each worker is a replica with its own served state; an item posted through one must be
    # recommendable, similar and accept feedback through the other in the very next request
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    port = free_port()
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "{url}"\nencoder = "hashing:64"\nport = {port}\nworkers = 2\n'
        f'worker_sockets = "{worker_sockets}"\n'
        "refresh_interval_s = 3600\naccess_log = false\n"  # no background sync: only the request path
    )
    assert main(["keys", "create", "--scope", "admin", "--config", str(config)]) == 0
    headers = {"Authorization": f"Bearer {capsys.readouterr().out.strip()}"}
    proc = start_serve(config)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, 90)
        for j in range(12):
            # a new connection per request, so that requests land on either worker
            item = {"item_id": f"n{j}", "text": f"new thing {j}", "categories": [f"c{j}"]}
            r = httpx.post(f"{base}/v1/items", json={"items": [item]}, headers=headers, timeout=30)
            assert r.status_code == 200, r.text
            r = httpx.get(
                f"{base}/v1/users/stranger/recommendations?k=1&category=c{j}", headers=headers, timeout=30
            )
            assert r.status_code == 200 and [i["item_id"] for i in r.json()["items"]] == [f"n{j}"], r.text
            assert httpx.get(f"{base}/v1/items/n{j}/similar", headers=headers, timeout=30).status_code == 200
            event = {"event_id": f"e{j}", "user_id": "u1", "item_id": f"n{j}", "type": "click"}
            r = httpx.post(f"{base}/v1/feedback", json={"events": [event]}, headers=headers, timeout=30)
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        # either worker answers /metrics with the service's totals, not its own share of the 36 requests
        for _ in range(4):
            text = httpx.get(f"{base}/metrics", headers=headers, timeout=30).text
            assert "explorec_items_upserted_total 12.0" in text, text
            assert "explorec_events_ingested_total 12.0" in text, text
            assert "explorec_impressions_logged_total 12.0" in text, text
            assert 'explorec_request_seconds_count{method="POST",route="/v1/feedback",status="200"} 12.0' in (
                text
            ), text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "2 worker processes" in out
    assert ("one SO_REUSEPORT socket each" in out) == (worker_sockets == "reuseport"), out[-2000:]
    assert out.count("Application startup complete") == 2, out[-2000:]
