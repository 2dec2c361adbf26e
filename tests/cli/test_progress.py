"""Progress in the terminal: every long command shows bars and ends with a summary; --quiet hides both.

Bars are forced on (``explorec.progress.force``, what ``EXPLOREC_PROGRESS=1`` does) because pytest's
stderr is no terminal; one test runs a command under a real pseudo-terminal instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from explorec import progress
from explorec.cli import main

SUMMARY = r"explorec {}: done in [0-9.]+s: "


@pytest.fixture
def bars_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(progress, "_forced", True)
    monkeypatch.setattr(progress, "_disabled", False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv(progress.ENV, raising=False)
    yield


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def bar_shown(err: str, desc: str) -> bool:
    """A tqdm bar labelled ``desc`` was drawn: ``desc:  40%|####      | 2/5 [...]``."""
    return re.search(rf"{re.escape(desc)}: +\d+%\|", err) is not None


def check(capsys: pytest.CaptureFixture[str], command: str, bars: list[str], *argv: str) -> str:
    """Run ``argv`` with bars on: each of ``bars`` and the summary appear; then ``--quiet``: neither."""
    _, err = run(capsys, *argv)
    for desc in bars:
        assert bar_shown(err, desc), f"no {desc!r} bar in {err[-2000:]!r}"
    summary = re.search(SUMMARY.format(re.escape(command)) + r"(.*)", err)
    assert summary is not None, err[-2000:]
    _, quiet = run(capsys, "--quiet", *argv)
    assert "%|" not in quiet and "done in" not in quiet, quiet[-2000:]
    assert progress.enabled()  # --quiet of one call does not silence the next
    return summary.group(1)


@pytest.fixture(scope="module")
def itemknn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "itemknn"
    assert (
        main(["--quiet", "train", "--dataset", "synthetic", "--model", "itemknn", "--out", str(folder)]) == 0
    )
    return folder


def test_data_commands_summarise(bars_on: None, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = check(capsys, "data info", [], "data", "info", "--dataset", "synthetic")
    assert text.startswith("synthetic: 30232 interactions, 1000 users x 1500 items, density 2.02e-02")
    text = check(capsys, "data split", [], "data", "split", "--dataset", "synthetic", "--out", str(tmp_path))
    assert "synthetic split leave-one-out: 28232 train / 1000 valid / 1000 test interactions" in text
    assert check(capsys, "data list", [], "data", "list").endswith("present")


def test_embed_shows_the_encoding_bar(bars_on: None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("embed", "--dataset", "synthetic", "--model", "hashing:32", "--no-cache")
    text = check(capsys, "embed", ["encode (hashing)"], *argv)
    assert text.startswith("1500 items of synthetic as 32-d vectors (1499 encoded, 0 from the cache")


def test_train_shows_fit_and_validation_bars(
    bars_on: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ("train", "--dataset", "synthetic", "--model", "itemknn", "--out", str(tmp_path / "m"))
    text = check(capsys, "train", ["itemknn", "evaluate"], *argv)
    assert re.match(
        r"itemknn fitted on 28232 interactions in [0-9.]+s, validation ndcg@10=0\.\d{4}; saved -> ", text
    )


def test_epochs_bar_of_the_torch_models(bars_on: None, capsys: pytest.CaptureFixture[str]) -> None:
    from explorec.data.toy import known_answer_split
    from explorec.models.sasrec import SASRec

    split = known_answer_split()
    SASRec(**{**SASRec.contract_params(), "epochs": 3, "progress": True}).fit(split.train)
    err = capsys.readouterr().err
    assert bar_shown(err, "train") and "/3 [" in err and "loss=" in err
    SASRec(**{**SASRec.contract_params(), "epochs": 3, "progress": False}).fit(split.train)
    assert "%|" not in capsys.readouterr().err  # the model's own switch still wins


def test_evaluate_shows_the_bar_over_users(
    bars_on: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "metrics.json"
    argv = ("evaluate", "--dataset", "synthetic", "--models", "popularity,itemknn", "--json", str(report))
    text = check(capsys, "evaluate", ["evaluate", "itemknn"], *argv)
    ndcg = json.loads(report.read_text())["results"]["itemknn"]["metrics"]["ndcg@10"]
    assert text == (
        "2 model(s) on 1000 test users of synthetic (leave-one-out); "
        f"best ndcg@10: itemknn {ndcg:.4f} -> {report}"
    )
    rerank = ("evaluate", "--dataset", "synthetic", "--models", "popularity", "--rerank", "mmr:0.3")
    check(capsys, "evaluate", ["rerank popularity", "encode (hashing)"], *rerank, "--item-vectors", "hashing")


def test_recommend_shows_the_bar_over_users(
    bars_on: None, capsys: pytest.CaptureFixture[str], itemknn_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "recs.csv"
    argv = ("recommend", "--model-dir", str(itemknn_dir), "--users", "all", "--k", "5", "--output", str(out))
    text = check(capsys, "recommend", ["recommend"], *argv)
    assert re.match(
        rf"5000 recommendations for 1000 user\(s\) from itemknn \(v-[^)]+\) -> {re.escape(str(out))}$", text
    )
    # printed slates: no bar tears them apart, the summary still comes
    few = ("recommend", "--model-dir", str(itemknn_dir), "--users", "U00000", "--k", "3")
    printed, err = run(capsys, *few)
    assert "%|" not in err and "1. " in printed and re.search(SUMMARY.format("recommend"), err)


def test_model_commands_summarise(
    bars_on: None, capsys: pytest.CaptureFixture[str], itemknn_dir: Path
) -> None:
    text = check(capsys, "model info", [], "model", "info", str(itemknn_dir))
    assert "files match the manifest): itemknn, 1000 users x 1500 items" in text
    assert "complete version(s) in" in check(
        capsys, "model versions", [], "model", "versions", str(itemknn_dir)
    )


def test_simulate_shows_a_bar_per_run(
    bars_on: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["simulate", "--dataset", "synthetic", "--policies", "greedy,eps-greedy", "--steps", "40"]
    argv += [
        "--seeds",
        "1",
        "--k",
        "5",
        "--max-items",
        "200",
        "--item-vectors",
        "hashing",
        "--refit-every",
        "20",
    ]
    argv += [
        "--ground-truth",
        "ease",
        "--gt-param",
        "l2=50",
        "--model-param",
        "rank=16",
        "--out",
        str(tmp_path),
    ]
    text = check(capsys, "simulate", ["simulate greedy", "simulate eps-greedy"], *argv)
    payload = json.loads((tmp_path / "results.json").read_text())
    best = max(payload["summary"], key=lambda row: row["clicks_mean"])
    assert text.startswith(
        "2 policies x 1 seed(s) x 40 steps on synthetic; "
        f"most clicks: {best['policy']} {best['clicks_mean']:.1f}"
    )


def test_ope_shows_the_bootstrap_bar(
    bars_on: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 5, 2000)
    rewards = rng.random(2000) < 0.1 + 0.1 * actions  # action a clicks at 0.1 + 0.1 a
    path = tmp_path / "log.csv"
    lines = [f"{a},{int(r)},0.2" for a, r in zip(actions, rewards, strict=True)]
    path.write_text("action,reward,propensity\n" + "\n".join(lines) + "\n")
    out = tmp_path / "ope.json"
    argv = ("ope", "--log", str(path), "--policy", "uniform", "--bootstrap", "200", "--json", str(out))
    text = check(capsys, "ope", ["reward model", "bootstrap"], *argv)
    snips = json.loads(out.read_text())["estimates"]["snips"]
    assert text.startswith(f"uniform on 2000 logged rows: snips {snips['value']:.6f} [")
    assert snips["value"] == pytest.approx(0.3, abs=0.03)  # the uniform policy's true value


def test_a_real_terminal_gets_bars_and_a_pipe_does_not(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1"}
    env.pop(progress.ENV, None)
    env.pop("TQDM_DISABLE", None)
    argv = [
        sys.executable,
        "-m",
        "explorec",
        "embed",
        "--dataset",
        "synthetic",
        "--model",
        "hashing:16",
        "--no-cache",
    ]
    leader, follower = pty.openpty()
    # a terminal window of 24 rows x 100 columns (a fresh pseudo-terminal has 0 x 0: no room for a bar)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert bar_shown(terminal, "encode (hashing)") and re.search(SUMMARY.format("embed"), terminal)
    piped = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=True
    )
    assert "%|" not in piped.stderr and re.search(SUMMARY.format("embed"), piped.stderr)


def test_train_from_service_shows_the_fit_bar_and_summarises(
    bars_on: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "online"))
    from registry_helpers import seeded_store

    seeded_store(tmp_path / "store.db").close()
    config = tmp_path / "explorec.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "store.db"}"\nregistry_dir = "{tmp_path / "registry"}"\n'
        'trainer_model = "itemknn"\ntrainer_margin = 1\n'
    )
    text = check(capsys, "train", ["itemknn"], "train", "--from-service", "--config", str(config))
    assert re.match(
        rf"refit of itemknn on the store's events: promoted, ndcg@10 0\.\d{{4}}; registry {tmp_path}", text
    )
