"""``explorec simulate --service``: simulated users drive a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from explorec.cli import main
from explorec.cli.simulate_service import check_loopback
from explorec.errors import ConfigError
from explorec.store import Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(base URL, admin key, database URL) of a real ``explorec serve`` process."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    port = free_port()
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "{url}"\nencoder = "hashing:128"\nport = {port}\naccess_log = false\n'
        'rate_limit = "100000/minute"\npolicy = "greedy"\nrerank = "none"\n'
    )
    with Store.open(url) as store:
        store.migrate()
        key = store.create_key(scope="admin", name="simulation")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "explorec", "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the service did not become ready within 90 s")
        yield base, key, url
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def test_simulated_users_drive_the_service_end_to_end(
    service: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, key, db = service
    out = tmp_path / "run"
    argv = ["simulate", "--dataset", "synthetic", "--service", base, "--api-key", key, "--steps", "300"]
    argv += ["--max-items", "300", "--cold-fraction", "0.2", "--out", str(out), "--experiment", "e2e"]
    assert main(argv) == 0
    summary = json.loads((out / "service.json").read_text())
    variants = summary["variants"]
    assert set(variants) == {"greedy", "explore"}
    assert sum(v["slates"] for v in variants.values()) == 300
    assert summary["released_items"] == 60  # 20 % of 300 items, released over the first half
    for name, v in variants.items():
        assert v["slates"] > 100, (name, v["slates"])  # a 50/50 split of 300 users
        # the service counted exactly the clicks the simulated users sent, per variant
        assert v["service_click_rate"] == pytest.approx(v["clicks"] / v["impressions"])
        assert v["service_state"]["clicks"] == v["clicks"]
        assert v["off_policy"] is not None and v["off_policy"]["slates"] > 0
        assert len(v["clicks_over_time"]) == 10
    assert variants["explore"]["cold_impressions"] > 0
    # every impression the service logged names experiment and variant
    with Store.open(db) as store:
        records = [r for _, r in store.read_impressions()]
    assert len(records) == 300
    assert {r.experiment for r in records} == {"e2e"}
    assert {r.variant for r in records} == {"greedy", "explore"}
    captured = capsys.readouterr()
    assert "clicks/1000" in captured.out and "explore" in captured.out
    # the closing summary (stderr): what ran, against what, the click rates, where the JSON went
    assert "explorec simulate: done in " in captured.err
    assert f"300 simulated users drove {base} (experiment e2e); clicks per 1000 slots: " in captured.err


def test_only_loopback_services_are_driven(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--service", "http://example.com:8000", "--api-key", "k"]) != 0
    assert "only drive a service on a loopback address" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="loopback"):
        check_loopback("http://10.0.0.1:8000")
    assert check_loopback("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
