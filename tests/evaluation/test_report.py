"""The HTML report holds the metric table and embedded figures; results.json holds the numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from explorec.evaluation import EvaluationResult


def _result(seed: int, *, sampled: bool = False) -> EvaluationResult:
    rng = np.random.default_rng(seed)
    ndcg = rng.random(20)
    prefix = "sampled50:" if sampled else ""
    return EvaluationResult(
        metrics={f"{prefix}ndcg@10": float(ndcg.mean()), f"{prefix}recall@10": 0.25 + seed / 100},
        per_user={f"{prefix}ndcg@10": ndcg, f"{prefix}recall@10": np.full(20, 0.25 + seed / 100)},
        users=np.arange(20, dtype=np.int64),
        top_items=np.zeros((20, 10), dtype=np.int64),
        seconds=0.5,
        settings={
            "k": [10],
            "n_items": 100,
            "sampled": sampled,
            "sampled_negatives": 50 if sampled else None,
        },
        sampled=sampled,
    )


def test_import_stays_light() -> None:
    code = "import sys, explorec.evaluation; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_write_report(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    from explorec.evaluation.report import write_report

    extra = Figure()
    extra.add_subplot().plot([0, 1], [1, 0])
    results = {"pop<ular>": _result(1), "ease": _result(2), "ease-sampled": _result(3, sampled=True)}
    path = write_report(
        results, tmp_path / "out", title="Toy & co", extra_figures=[("trade-off curve", extra)]
    )
    assert path == tmp_path / "out" / "report.html"
    page = path.read_text()
    assert "<title>Toy &amp; co</title>" in page
    assert "pop&lt;ular&gt;" in page  # names are escaped
    assert "<th>ndcg@10</th>" in page and "<th>sampled50:ndcg@10</th>" in page
    assert f"{results['ease'].metrics['ndcg@10']:.4f}" in page
    assert "<td class='best'>0.2700</td>" in page  # best recall@10 of the two full-ranking systems
    assert page.count("data:image/png;base64,") == 4 + 1 + 1  # 4 bar plots, NDCG CDF, extra figure
    assert "trade-off curve" in page and "not comparable" in page
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    assert payload["results"]["ease"]["metrics"]["recall@10"] == 0.27
    assert payload["results"]["ease-sampled"]["sampled"] is True
