"""Service settings: TOML file, EXPLOREC_* environment overrides, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorec.errors import ConfigError
from explorec.service.settings import ServiceSettings, load_settings


def test_defaults_bind_loopback_with_minilm_and_eps_greedy() -> None:
    s = ServiceSettings()
    assert (s.host, s.port, s.encoder, s.policy, s.rerank) == (
        "127.0.0.1",
        8000,
        "default",
        "eps-greedy:0.1",
        "mmr:0.3",
    )


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "explorec.toml"
    path.write_text('port = 9001\nrerank = "none"\nrate_limit = "50/second"\n')
    s = load_settings(path)
    assert (s.port, s.rerank, s.rate_limit) == (9001, None, "50/second")
    monkeypatch.setenv("EXPLOREC_PORT", "9002")
    monkeypatch.setenv("EXPLOREC_DATABASE_URL", "sqlite:///other.db")
    s = load_settings(path)
    assert (s.port, s.database_url, s.rerank) == (9002, "sqlite:///other.db", None)
    assert load_settings(path, port=9003).port == 9003  # explicit arguments win


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("prot = 1\n", "field 'prot': unknown field"),
        ("port = 0\n", "field 'port'"),
        ('policy = "linucb"\n', "policy must be one of greedy, eps-greedy, softmax, got 'linucb'"),
        ('rerank = "calibration:0.5"\n', "rerank must combine mmr, dpp"),
        ('rate_limit = "many"\n', "expected e.g. '100/second'"),
        ("port = [\n", "not valid TOML"),
    ],
)
def test_bad_configuration_names_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.toml") as info:
        load_settings(path)
    assert needle in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")
