"""End-to-end CLI runs on the generated dataset and on real MovieLens 100k."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorec.cli import main
from explorec.persist import resolve_version

SMALL = ["--dataset", "synthetic"]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("data", "train", "evaluate", "recommend", "model", "embed", "simulate", "ope", "demo"):
        assert command in out


def test_data_info_real_dataset(datasets_dir: Path, tmp_path: Path) -> None:
    facts = tmp_path / "info.json"
    code = main(
        ["data", "info", "--dataset", "movielens-100k", "--data-dir", str(datasets_dir), "--json", str(facts)]
    )
    assert code == 0
    info = json.loads(facts.read_text())
    assert (info["interactions"], info["users"], info["items"]) == (100000, 943, 1682)


def test_evaluate_with_fusion_and_rerank(tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    code = main(
        [
            "evaluate",
            *SMALL,
            "--models",
            "popularity,itemknn",
            "--fuse",
            "popularity+itemknn",
            "--k",
            "10",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    payload = json.loads(out.read_text())
    results = payload["results"]
    assert set(results) == {"popularity", "itemknn", "fusion-weighted(popularity+itemknn)"}
    assert results["itemknn"]["metrics"]["ndcg@10"] > results["popularity"]["metrics"]["ndcg@10"]
    assert "itemknn vs popularity" in payload["paired_tests"]

    reranked = tmp_path / "reranked.json"
    code = main(
        [
            "evaluate",
            *SMALL,
            "--models",
            "itemknn",
            "--rerank",
            "pop-debias:0.5",
            "--k",
            "10",
            "--json",
            str(reranked),
        ]
    )
    assert code == 0
    assert "itemknn+pop-debias:0.5" in json.loads(reranked.read_text())["results"]


def test_train_then_recommend_external_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "model"
    assert main(["train", *SMALL, "--model", "itemknn", "--param", "k=50", "--out", str(model_dir)]) == 0
    run = json.loads((resolve_version(model_dir) / "run.json").read_text())
    assert run["params"]["k"] == 50 and "ndcg@10" in run["valid_metrics"]
    slates = tmp_path / "slates.json"
    code = main(
        [
            "recommend",
            "--model-dir",
            str(model_dir),
            "--users",
            "U00000,U00001",
            "--k",
            "5",
            "--policy",
            "eps-greedy:0.2",
            "--json",
            str(slates),
        ]
    )
    assert code == 0
    out = json.loads(slates.read_text())
    assert [s["user_id"] for s in out] == ["U00000", "U00001"]
    assert all(len(s["items"]) == 5 and s["policy"] == "eps-greedy" for s in out)
    assert all(0 < row["propensity"] <= 1 for s in out for row in s["items"])


def test_unknown_user_and_bad_k_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "model"
    assert main(["train", *SMALL, "--model", "popularity", "--out", str(model_dir), "--no-eval"]) == 0
    assert main(["recommend", "--model-dir", str(model_dir), "--users", "nobody"]) == 2
    assert "unknown user_id 'nobody'" in capsys.readouterr().err
    assert main(["evaluate", *SMALL, "--models", "popularity", "--k", "0"]) == 2
    assert "--k" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", "no-such-dataset"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_report_with_tradeoff_curves(tmp_path: Path) -> None:
    code = main(
        [
            "evaluate",
            *SMALL,
            "--models",
            "itemknn",
            "--item-vectors",
            "hashing",
            "--k",
            "10",
            "--report",
            str(tmp_path),
            "--tradeoff",
            "mmr",
        ]
    )
    assert code == 0
    html = (tmp_path / "report.html").read_text()
    assert "accuracy against beyond-accuracy" in html
    assert html.count("<img") >= 2
