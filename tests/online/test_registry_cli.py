"""``explorec train --from-service`` and the background trainer process, as a user runs them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from registry_helpers import seeded_store

from explorec.cli import main
from explorec.online.registry import ModelRegistry
from explorec.online.trainer import start_trainer_process
from explorec.service.settings import load_settings


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "store.db"}"\n'
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


def test_train_from_service_registers_and_gates(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(seeded)
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
        while len(registry.names()) < 2:
            assert process.is_alive() and time.monotonic() < deadline, "no refit on request within 180 s"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.join(timeout=30)
    attempts = registry.state().attempts
    assert [a["status"] for a in attempts] == ["promoted", "promoted"]  # same data: not worse
    assert registry.info(registry.names()[1]).parent == first
