"""Pseudonymised ids as a user runs them: ``explorec serve`` (uvicorn's access log on, the background
trainer on), ``explorec simulate --service``, ``explorec ope --service-db`` and ``explorec train
--from-service``; then the server's whole log, the SQLite file and its WAL and the model registry are
grepped for every raw user id the clients sent."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from explorec.cli import main
from explorec.service.pseudonym import user_key
from explorec.service.settings import ServiceSettings

SECRET = "a secret for the serve test, at least 32 bytes long"
RAW = ["raw-user-XYZ-123", "raw-user-ABC-456", "raw-user-DEL-789"]
#: the ids explorec simulate --service sends (user-<index>) and anything like them
SIMULATED = re.compile(rb"user-[0-9]+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the service did not become ready within 90 s")


def folder_bytes(folder: Path) -> bytes:
    """Every file's bytes, and the strings of every ``.npz`` array (compressed, UTF-32 inside)."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        out.append(path.read_bytes())
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                for name in arrays.files:
                    if arrays[name].dtype.kind in "US":
                        out.append("\n".join(map(str, arrays[name].ravel().tolist())).encode())
    return b"\n".join(out)


def test_no_raw_user_id_in_the_server_log_store_or_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'served.db'}"
    port = free_port()
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "{db}"\nencoder = "hashing:64"\nport = {port}\naccess_log = true\n'
        'rate_limit = "100000/minute"\npolicy = "greedy"\nrerank = "none"\n'
        f'registry_dir = "{tmp_path / "registry"}"\ntrainer = true\ntrainer_interval_s = 3600\n'
        'trainer_poll_s = 0.2\ntrainer_model = "popularity"\ntrainer_metric = "ndcg@5"\n'
        "trainer_margin = 1.0\nmodel_poll_s = 0.2\n"
    )
    assert main(["keys", "create", "--scope", "admin", "--config", str(config)]) == 0
    key = capsys.readouterr().out.strip()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "OMP_NUM_THREADS": "1",
        "EXPLOREC_PSEUDONYMISE_SECRET": SECRET,
    }
    log = tmp_path / "server.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "explorec", "serve", "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {key}"}
    try:
        wait_ready(base, proc, log)
        out = tmp_path / "run"
        argv = ["simulate", "--dataset", "synthetic", "--service", base, "--api-key", key, "--steps", "40"]
        argv += ["--max-items", "300", "--cold-fraction", "0.1", "--out", str(out), "--experiment", "anon"]
        assert main(argv) == 0
        summary = json.loads((out / "service.json").read_text())
        assert sum(v["slates"] for v in summary["variants"].values()) == 40
        with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
            users = {"users": [{"user_id": u, "fields": {}} for u in RAW]}
            assert http.post("/v1/users", json=users).status_code == 200
            items = http.get("/v1/users/user-0/recommendations", params={"k": 4}).json()["items"]
            events = [
                {"event_id": f"raw-{j}-{i}", "user_id": u, "item_id": item["item_id"], "type": "view"}
                for j, u in enumerate(RAW)
                for i, item in enumerate(items)
            ]
            assert http.post("/v1/feedback", json={"events": events}).json()["accepted"] == len(events)
            for j, user in enumerate(RAW):
                slate = http.get(f"/v1/users/{user}/recommendations", params={"k": 3, "explain": True})
                assert slate.status_code == 200 and slate.json()["user_id"] == user
                rec = slate.json()["recommendation_id"]
                click = {
                    "event_id": f"click-{j}",
                    "user_id": user,
                    "item_id": slate.json()["items"][0]["item_id"],
                    "type": "click",
                    "recommendation_id": rec,
                }
                assert http.post("/v1/feedback", json={"events": [click]}).status_code == 200
                assert http.get(f"/v1/recommendations/{rec}/explanation").status_code == 200
                variant = http.get(f"/v1/users/{user}/recommendations", params={"experiment": "anon"})
                assert variant.status_code == 200
            assert http.get("/v1/users/bad id here/recommendations").status_code == 422
            assert http.delete(f"/v1/users/{RAW[2]}").json() == {"id": RAW[2], "deleted": True}
            # the background trainer (a separate process, given no secret) refits on request; its
            # refit at start-up may have run before any event was stored, so wait for a later one
            asked = time.time()
            assert http.post("/v1/models/retrain").status_code == 202
            deadline = time.monotonic() + 90
            later: list[dict[str, object]] = []
            while time.monotonic() < deadline and not later:
                time.sleep(0.3)
                later = [a for a in http.get("/v1/models").json()["attempts"] if a["time"] >= asked]
            assert later and later[-1]["status"] == "promoted", later
            metrics = http.get("/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    capsys.readouterr()
    assert main(["ope", "--service-db", db, "--policy", "uniform", "--estimators", "ips,snips"]) == 0
    assert main(["train", "--from-service", "--config", str(config)]) == 0
    printed = capsys.readouterr()

    server_log = log.read_bytes()
    assert b'"GET /v1/users/' in server_log and b"/recommendations" in server_log  # the access log is on
    assert b"background trainer: pid" in server_log
    assert b"user ids: pseudonymised at the edge" in server_log
    pseudonym = user_key(ServiceSettings(pseudonymise_secret=SECRET), RAW[0])
    assert f"/v1/users/{pseudonym}/recommendations".encode() in server_log
    haystacks = {
        "server log": server_log,
        "store": b"".join(p.read_bytes() for p in sorted(tmp_path.glob("served.db*"))),
        "registry": folder_bytes(tmp_path / "registry"),
        "metrics": metrics.encode(),
        "ope and train output": (printed.out + printed.err).encode(),
    }
    for where, data in haystacks.items():
        for raw in RAW:
            assert raw.encode() not in data, f"{raw} found in the {where}"
        found = SIMULATED.findall(data)
        assert not found, f"simulated ids {found[:3]} found in the {where}"
    assert SECRET.encode() not in server_log
    assert pseudonym.encode() in haystacks["store"] and pseudonym.encode() in haystacks["registry"]
