"""``explorec train --from-service`` and the background trainer process, as a user runs them."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from registry_helpers import seeded_store

from explorec.cli import main
from explorec.online.registry import ModelRegistry
from explorec.online.trainer import start_trainer_process
from explorec.service.settings import load_settings


def write_config(tmp_path: Path, extra: str = "", url: str | None = None) -> Path:
    config = tmp_path / "explorec.toml"
    database = url if url is not None else f"sqlite:///{tmp_path / 'store.db'}"
    config.write_text(
        f'database_url = "{database}"\n'
        f'registry_dir = "{tmp_path / "registry"}"\n'
        'trainer_model = "ease"\n'
        "trainer_poll_s = 0.1\n"
        "trainer_interval_s = 3600\n" + extra
    )
    return config


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    seeded_store(tmp_path / "store.db").close()
    return tmp_path


def test_train_from_service_registers_and_gates(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded_store(store_url).close()
    seeded = tmp_path
    config = write_config(seeded, url=store_url)
    assert main(["train", "--from-service", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "retrain promoted: v-" in out and "ndcg@10" in out
    registry = ModelRegistry(seeded / "registry")
    first = registry.serving()
    assert first is not None and registry.info(first).n_events == 96

    worse = seeded / "worse.toml"
    worse.write_text(config.read_text().replace('trainer_model = "ease"', 'trainer_model = "popularity"'))
    assert main(["train", "--from-service", "--config", str(worse)]) == 1
    out = capsys.readouterr().out
    assert "retrain rejected" in out and "reason: ndcg@10" in out
    assert registry.serving() == first


def test_train_from_service_registers_a_text_model(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(seeded, extra='encoder = "hashing:64"\n')
    config.write_text(config.read_text().replace('trainer_model = "ease"', 'trainer_model = "textknn"'))
    assert main(["train", "--from-service", "--config", str(config)]) == 0
    assert "retrain promoted: v-" in capsys.readouterr().out
    registry = ModelRegistry(seeded / "registry")
    serving = registry.serving()
    assert serving is not None and registry.info(serving).model == "textknn"
    assert registry.load(serving).model.item_vectors_.shape == (12, 64)


def test_train_from_service_needs_a_registry(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = seeded / "bare.toml"
    config.write_text(f'database_url = "sqlite:///{seeded / "store.db"}"\n')
    assert main(["train", "--from-service", "--config", str(config)]) != 0
    assert "registry_dir is not set" in capsys.readouterr().err
    assert main(["train", "--from-service"]) != 0
    assert "--from-service needs --config FILE" in capsys.readouterr().err


def test_the_background_trainer_process_refits_on_request(seeded: Path) -> None:
    settings = load_settings(write_config(seeded))
    registry = ModelRegistry(seeded / "registry")
    process = start_trainer_process(settings)
    try:
        deadline = time.monotonic() + 180
        while registry.serving() is None:  # the first refit runs at start
            assert process.is_alive() and time.monotonic() < deadline, "no first version within 180 s"
            time.sleep(0.2)
        first = registry.serving()
        registry.request_retrain()
        # the attempt is recorded after the version is written: wait for the record, not the folder
        while len(registry.state().attempts) < 2:
            assert process.is_alive() and time.monotonic() < deadline, "no refit on request within 180 s"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.join(timeout=30)
    attempts = registry.state().attempts
    assert [a["status"] for a in attempts] == ["promoted", "promoted"]  # same data: not worse
    assert registry.info(registry.names()[1]).parent == first


def test_explorec_serve_starts_the_trainer_and_serves_its_versions(seeded: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(
        seeded,
        f'port = {port}\nencoder = "hashing:64"\ntrainer = true\nmodel_poll_s = 0.1\naccess_log = false\n',
    )
    cli = [sys.executable, "-m", "explorec"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    key = subprocess.run(
        [*cli, "keys", "create", "--scope", "write", "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout.strip()
    log = (seeded / "serve.log").open("w")
    proc = subprocess.Popen(
        [*cli, "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    headers = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180

        def models() -> dict[str, object] | None:
            try:
                r = httpx.get(f"{base}/v1/models", headers=headers, timeout=5)
            except httpx.HTTPError:
                return None
            return r.json() if r.status_code == 200 else None

        report = models()
        while report is None or report["loaded"] is None:  # the trainer's first refit, then the swap
            assert proc.poll() is None, (seeded / "serve.log").read_text()
            assert time.monotonic() < deadline, "no version served within 180 s"
            time.sleep(0.2)
            report = models()
        first = report["loaded"]
        answer = httpx.get(f"{base}/v1/users/auser0/recommendations?k=3", headers=headers, timeout=10)
        assert answer.json()["model_version"] == first
        assert httpx.post(f"{base}/v1/models/retrain", headers=headers, timeout=10).status_code == 202
        while report is None or report["loaded"] == first:
            assert proc.poll() is None, (seeded / "serve.log").read_text()
            assert time.monotonic() < deadline, "the requested refit was not served within 180 s"
            time.sleep(0.2)
            report = models()
        assert [a["status"] for a in report["attempts"]] == ["promoted", "promoted"]  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    # the trainer does not outlive the server
    match = re.search(r"background trainer: pid (\d+)", (seeded / "serve.log").read_text())
    assert match is not None
    trainer = Path(f"/proc/{match.group(1)}")
    gone_by = time.monotonic() + 30
    while trainer.exists() and "zombie" not in _state(trainer):
        assert time.monotonic() < gone_by, "the trainer process outlived the server by 30 s"
        time.sleep(0.2)


def _state(proc: Path) -> str:
    try:
        return (proc / "status").read_text().lower()
    except OSError:
        return "zombie"  # gone between the two reads
