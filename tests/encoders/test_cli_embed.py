from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from explorec.cli import main


def test_embed_reports_throughput_and_writes_vectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "v.npy", tmp_path / "r.json"
    code = main(
        ["embed", "--dataset", "synthetic", "--model", "hashing:32", "--out", str(out), "--json", str(report)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "encoded_texts_per_second" in printed and "cache_hits" in printed
    payload = json.loads(report.read_text())
    vectors = np.load(out)
    assert vectors.shape == (payload["n_items"], 32)
    assert payload["template"] == "synthetic" and payload["cache"] is None  # hashing is never cached


def test_embed_missing_model_path_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["embed", "--dataset", "synthetic", "--model", str(tmp_path / "nope")])
    assert code == 2
    assert "does not exist; expected a directory" in capsys.readouterr().err
