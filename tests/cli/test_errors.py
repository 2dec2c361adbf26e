"""Every mistake a user can make on the command line ends in one line, exit status 2, no traceback.

Each case names what it got wrong (the parameter, file or field), what is allowed, and what it got.
The cases are the ones that used to end in tracebacks or silent defaults (issue 11).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from explorec.cli import main
from explorec.data.synthetic import load_synthetic
from explorec.errors import ConfigError
from explorec.models.registry import make_model

SMALL = ["--dataset", "synthetic"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a saved popularity model, a bandit log, and a plain file where folders are expected."""
    root = tmp_path_factory.mktemp("errors")
    assert main(["train", *SMALL, "--model", "popularity", "--no-eval", "--out", str(root / "model")]) == 0
    (root / "afile").write_text("not a folder\n")
    (root / "log.csv").write_text(
        "action,reward,propensity\n" + "".join(f"{a % 4},{a % 2},0.25\n" for a in range(40))
    )
    return root


# (argv with {ws} for the workspace, substrings the one-line message must hold)
CASES: list[tuple[str, list[str], list[str]]] = [
    (
        "param-name-typo",
        ["evaluate", *SMALL, "--models", "ease", "--param", "ease.lamda=3"],
        ["model 'ease'", "unknown parameter(s) ['lamda']", "allowed: ['l2']"],
    ),
    (
        "param-bad-value",
        ["evaluate", *SMALL, "--models", "ease", "--param", "ease.l2=abc"],
        ["parameter 'l2'", "must be a finite number", "got 'abc'"],
    ),
    (
        "train-param-bad-value",
        ["train", *SMALL, "--model", "itemknn", "--param", "k=2.5", "--out", "{ws}/new"],
        ["parameter 'k'", "must be an integer", "got 2.5"],
    ),
    (
        "param-wrong-model",
        ["evaluate", *SMALL, "--models", "ease", "--param", "itemknn.k=3"],
        ["--param 'itemknn.k=3'", "MODEL.KEY=VALUE", "['ease']"],
    ),
    (
        "policy-bad-value",
        ["recommend", "--model-dir", "{ws}/model", "--users", "U00001", "--policy", "eps-greedy:abc"],
        ["--policy 'eps-greedy:abc'", "parameter 'epsilon'", "finite number", "got 'abc'"],
    ),
    (
        "policy-nan",
        ["recommend", "--model-dir", "{ws}/model", "--users", "U00001", "--policy", "softmax:nan"],
        ["--policy 'softmax:nan'", "parameter 'temperature'", "finite number", "got 'nan'"],
    ),
    (
        "policy-unknown-option",
        ["recommend", "--model-dir", "{ws}/model", "--users", "U00001", "--policy", "softmax:0.5:temp=1"],
        ["unknown parameter 'temp'", "allowed: temperature, standardize, seed, n_mc"],
    ),
    (
        "rerank-bad-weight",
        ["recommend", "--model-dir", "{ws}/model", "--users", "U00001", "--rerank", "mmr:abc"],
        ["re-ranker 'mmr:abc'", "parameter 'diversity'", "got 'abc'"],
    ),
    (
        "ope-unknown-policy-param",
        ["ope", "--log", "{ws}/log.csv", "--policy", "eps-greedy", "--policy-param", "eps=0.1"],
        ["--policy-param", "unknown parameter 'eps'", "allowed: epsilon, seed, n_mc"],
    ),
    (
        "ope-bad-policy-param",
        ["ope", "--log", "{ws}/log.csv", "--policy", "eps-greedy", "--policy-param", "epsilon=abc"],
        ["parameter 'epsilon'", "finite number", "got 'abc'"],
    ),
    (
        "ope-uniform-takes-no-param",
        ["ope", "--log", "{ws}/log.csv", "--policy", "uniform", "--policy-param", "epsilon=0.1"],
        ["'uniform' takes no parameters", "['epsilon']"],
    ),
    (
        "reward-range-reversed",
        ["ope", "--log", "{ws}/log.csv", "--policy", "uniform", "--reward-range", "1,0"],
        ["--reward-range", "LOW < HIGH", "got '1,0'"],
    ),
    (
        "reward-range-not-numbers",
        ["ope", "--log", "{ws}/log.csv", "--policy", "uniform", "--reward-range", "0,one"],
        ["--reward-range", "LOW,HIGH", "got '0,one'"],
    ),
    (
        "report-is-a-file",
        ["evaluate", *SMALL, "--models", "popularity", "--report", "{ws}/afile"],
        ["--report", "afile", "exists and is not a folder; expected a folder"],
    ),
    (
        "out-is-a-file",
        ["train", *SMALL, "--model", "popularity", "--out", "{ws}/afile"],
        ["--out", "afile", "exists and is not a folder; expected a folder"],
    ),
    (
        "json-is-a-folder",
        ["evaluate", *SMALL, "--models", "popularity", "--json", "{ws}/model"],
        ["--json", "model", "is a folder; expected a file"],
    ),
    (
        "template-bad-format",
        ["embed", *SMALL, "--model", "hashing:8", "--no-cache", "--template", "{title:zz}"],
        ["template '{title:zz}'", "format 'zz' of field {title}", "allowed: 'list'"],
    ),
    (
        "template-unclosed",
        ["embed", *SMALL, "--model", "hashing:8", "--no-cache", "--template", "{title"],
        ["template '{title'", "is not a format string", "expected '}'"],
    ),
    (
        "template-unknown-field",
        ["embed", *SMALL, "--model", "hashing:8", "--no-cache", "--template", "{colour}"],
        ["template field 'colour'", "available:"],
    ),
    (
        "hashing-not-a-number",
        ["embed", *SMALL, "--model", "hashing:abc", "--no-cache"],
        ["encoder 'hashing:abc'", "hashing:<dim>", "parameter 'dim' must be an integer, got 'abc'"],
    ),
    (
        "hashing-negative",
        ["embed", *SMALL, "--model", "hashing:-4", "--no-cache"],
        ["encoder 'hashing:-4'", "dim must be a positive integer, got -4"],
    ),
    (
        "split-param-unknown",
        ["evaluate", *SMALL, "--models", "popularity", "--split", "random", "--split-param", "ratio=0.5"],
        ["split method 'random'", "unknown parameters ['ratio']", "ratios"],
    ),
    (
        "simulate-policy-param-typo",
        [
            "simulate",
            *SMALL,
            "--policies",
            "ucb",
            "--policy-param",
            "ucb.cc=0.1",
            "--steps",
            "5",
            "--seeds",
            "1",
            "--item-vectors",
            "none",
            "--out",
            "{ws}/sim",
        ],
        ["simulation policy 'ucb'", "unknown parameter 'cc'", "did you mean 'c'", "allowed: c,"],
    ),
    (
        "missing-log-file",
        ["ope", "--log", "{ws}/nope.csv", "--policy", "uniform"],
        ["nope.csv"],
    ),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_mistakes_end_in_one_line(
    workspace: Path, argv: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main([a.replace("{ws}", str(workspace)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"explorec {argv[0]}: error: ")
    assert "Traceback" not in err
    for part in expected:
        assert part in lines[0], (part, lines[0])


def test_version_and_log_levels(capsys: pytest.CaptureFixture[str]) -> None:
    from explorec import __version__
    from explorec.cli import log_level

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"explorec {__version__}"
    # regression: -v and -vv were the same level
    assert [log_level(v, False) for v in (0, 1, 2, 3)] == [30, 20, 10, 10]
    assert log_level(0, True) == 40
    with pytest.raises(SystemExit) as exc:
        main(["-v", "--quiet", "data", "list"])
    assert exc.value.code == 2  # argparse: -v and --quiet exclude each other


def test_float_user_indices_are_refused_not_truncated() -> None:
    data = load_synthetic(n_users=20, n_items=30).interactions
    model = make_model("popularity").fit(data)
    with pytest.raises(ConfigError, match=r"users: indices must be whole numbers in \[0, 20\), got 1.7"):
        model.score([1.7])
    from explorec.pipeline import recommend

    with pytest.raises(ConfigError, match=r"got 0\.5"):
        recommend(model, np.array([0.5]), k=3)
    assert model.score(np.array([1.0])).shape == (1, 30)  # a whole float is the index it names


def test_user_index_of_a_single_string_names_the_whole_id() -> None:
    # regression: user_index("U00001") iterated the characters and reported unknown user_id 'U'
    data = load_synthetic(n_users=5, n_items=30).interactions
    first = str(data.user_ids[0])
    with pytest.raises(ConfigError, match=rf"expected a list of ids, got the single string '{first}'"):
        data.user_index(first)
    assert data.user_index([first]).tolist() == [0]


def test_progress_bars_follow_the_terminal_and_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from explorec import progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.resolve(None) is False  # not a terminal: no bar by default
    assert progress.resolve(True) is True
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress.resolve(None) is True  # encoding inside evaluate/recommend shows a bar
    assert progress.resolve(False) is False
    monkeypatch.setattr(progress, "_disabled", False)
    monkeypatch.setenv("TQDM_DISABLE", "")  # recorded, so that teardown removes what disable() sets
    progress.disable()  # --quiet
    assert progress.resolve(None) is False and progress.resolve(True) is False
    assert os.environ["TQDM_DISABLE"] == "1"
