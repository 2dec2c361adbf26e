"""bench/_provenance.py: the record every benchmark results file carries."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_provenance", BENCH / "_provenance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def test_git_state_names_the_commit_and_sees_uncommitted_changes(tmp_path: Path) -> None:
    prov = _module()
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "one")
    head = _git(tmp_path, "rev-parse", "HEAD").strip()
    clean = prov.git_state(tmp_path)
    assert clean["commit"] == head and len(head) == 40
    assert clean["dirty"] is False and clean["changed_paths"] == []
    (tmp_path / "a.txt").write_text("2")
    (tmp_path / "new.py").write_text("x")
    dirty = prov.git_state(tmp_path)
    assert dirty["dirty"] is True
    assert sorted(dirty["changed_paths"]) == ["a.txt", "new.py"]
    assert dirty["n_changed_paths"] == 2


def test_git_state_outside_a_repository_says_so(tmp_path: Path) -> None:
    state = _module().git_state(tmp_path)
    assert state["commit"] is None


def test_record_has_command_versions_machine_and_both_load_averages() -> None:
    prov = _module()
    run = prov.Provenance(peers={"recbole": {"recbole": "9.9"}})
    run.add_peer("implicit", {"implicit": "0.7.2"})
    record = run.finish()
    json.dumps(record)  # results files are JSON
    assert record["versions"]["numpy"] == np.__version__
    assert record["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["peers"] == {"recbole": {"recbole": "9.9"}, "implicit": {"implicit": "0.7.2"}}
    assert record["machine"]["nproc"] >= 1 and record["machine"]["memory_gib"] > 0
    assert len(record["load_average_start"]) == 3 and len(record["load_average_end"]) == 3
    assert record["started_utc"] <= record["finished_utc"]
    assert sys.argv[0] in record["command"]
