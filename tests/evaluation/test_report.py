"""Reports: grouped family charts, Pareto scatter plots, per-user distributions, simulation curves;
every number on the page agrees with results.json, and legends never cover the data."""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explorec.evaluation import EvaluationResult

CELL = re.compile(r"<td(?: class='best')? data-key='([^']*)'>([^<]*)</td>")
ANY_CELL = re.compile(r"<td[^>]*>([^<]*)</td>")
IMG = re.compile(r"<img alt='[^']*' data-file='([^']+)' src='data:image/png;base64,([^']+)'>")


def _result(seed: int, *, sampled: bool = False) -> EvaluationResult:
    rng = np.random.default_rng(seed)
    ndcg = rng.random(20)
    prefix = "sampled50:" if sampled else ""
    div = 0.9 - seed / 10
    return EvaluationResult(
        metrics={
            f"{prefix}ndcg@10": float(ndcg.mean()),
            f"{prefix}recall@10": 0.25 + seed / 100,
            **({} if sampled else {"diversity@10": div, "coverage@10": seed / 10, "novelty@10": 2.0 + seed}),
        },
        per_user={
            f"{prefix}ndcg@10": ndcg,
            f"{prefix}recall@10": np.full(20, 0.25 + seed / 100),
            **({} if sampled else {"diversity@10": np.full(20, div)}),
        },
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


def _lookup(payload: dict[str, Any], key: str) -> Any:
    node: Any = payload
    for part in html.unescape(key).split("|"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def check_numbers_agree(page: str, payload: dict[str, Any]) -> int:
    """Every table cell holding a number names its JSON path, and shows that value (4 decimals)."""
    numeric = [c for c in ANY_CELL.findall(page) if re.fullmatch(r"-?[0-9.]+(e-?[0-9]+)?", c.strip())]
    cells = CELL.findall(page)
    assert len(cells) == len(numeric) > 0  # no number on the page without its source
    for key, text in cells:
        value = _lookup(payload, key)
        if isinstance(value, int) and not isinstance(value, bool) and "." not in text:
            assert text == str(value), key
        else:
            assert text == f"{float(value):.4f}", key
    return len(cells)


def check_figures(page: str, out: Path, payload: dict[str, Any]) -> list[Path]:
    images = IMG.findall(page)
    files = [out / f for f, _ in images]
    assert [f["file"] for f in payload["figures"]] == [f for f, _ in images]
    for path, (_, b64) in zip(files, images, strict=True):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and base64.b64decode(b64) == data
    return files


def test_import_stays_light() -> None:
    code = "import sys, explorec.evaluation; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pareto_front_known_answer() -> None:
    from explorec.evaluation.report import pareto_front

    # (0.1, 0.9) and (0.9, 0.1) and (0.6, 0.6) trade off; (0.5, 0.5) is beaten by (0.6, 0.6)
    pts = [(0.5, 0.5), (0.1, 0.9), (0.6, 0.6), (0.9, 0.1), (0.6, 0.6)]
    assert pareto_front(pts) == [1, 2, 4, 3]
    assert pareto_front([(0.2, 0.2)]) == [0]


def test_pareto_fronts_compare_systems_only_within_their_test_set() -> None:
    from explorec.evaluation.report import tradeoff_scatter

    # seed 1 beats seed 0 on coverage; the cold run is dominated by both warm runs on every axis but
    # was scored on another test set, so it is its own set's front
    results = {"warm/a": _result(0), "warm/b": _result(3), "cold/a": _result(1)}
    results["cold/a"].metrics.update({"ndcg@10": 0.0, "coverage@10": 0.0, "diversity@10": 0.0})
    figure = tradeoff_scatter(results)
    assert figure is not None
    for axis, panel in figure.data["panels"].items():
        warm = {n: (p["x"], p["y"]) for n, p in panel["points"].items() if n.startswith("warm/")}
        assert "cold/a" in panel["front"], axis
        assert {n for n in panel["front"] if n.startswith("warm/")} == {
            n
            for n, (x, y) in warm.items()
            if not any(ox >= x and oy >= y and (ox, oy) != (x, y) for ox, oy in warm.values())
        }


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
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "<title>Toy &amp; co</title>" in page and "pop&lt;ular&gt;" in page
    assert "<th>ndcg@10</th>" in page and "<th>sampled50:ndcg@10</th>" in page
    assert "<td class='best' data-key='results|ease|metrics|recall@10'>0.2700</td>" in page
    # families: accuracy, coverage+diversity, novelty, sampled accuracy; scatter; boxes; CDF; extra
    names = [Path(f).stem.split("-", 1)[1] for f in (f["file"] for f in payload["figures"])]
    assert names == [
        "family-accuracy",
        "family-coverage-and-diversity",
        "family-novelty",
        "family-sampled50-accuracy",
        "tradeoff-pareto",
        "per-user-boxes",
        "per-user-ndcg-cdf",
        "extra-trade-off-curve",
    ]
    check_figures(page, tmp_path / "out", payload)
    check_numbers_agree(page, payload)
    # ease: more coverage and novelty, less diversity than pop<ular>; its ndcg decides the fronts
    fronts = payload["pareto_fronts"]
    better = "ease" if results["ease"].metrics["ndcg@10"] >= results["pop<ular>"].metrics["ndcg@10"] else None
    assert fronts["coverage"] == ["ease"] if better else sorted(fronts["coverage"]) == ["ease", "pop<ular>"]
    assert "not comparable" in page and payload["results"]["ease-sampled"]["sampled"] is True


def test_every_plot_is_labelled_and_no_legend_covers_its_axes() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from explorec.evaluation.report import family_figures, per_user_figures, tradeoff_scatter

    results = {f"system-{j}": _result(j) for j in range(5)}
    scatter = tradeoff_scatter(results)
    assert scatter is not None
    figures = [*family_figures(results), scatter, *per_user_figures(results)]
    for f in figures:
        canvas = FigureCanvasAgg(f.figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        for ax in f.figure.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), f.name
            assert "(" in ax.get_ylabel(), f.name  # the unit
        for ax in f.figure.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            box = legend.get_window_extent(renderer)
            for other in f.figure.axes:
                assert not box.overlaps(other.get_window_extent(renderer)), f.name


def test_evaluate_report_on_movielens(datasets_dir: Path, tmp_path: Path) -> None:
    from explorec.cli import main

    out = tmp_path / "report"
    args = ["evaluate", "--dataset", "movielens-100k", "--data-dir", str(datasets_dir)]
    assert (
        main(
            [
                *args,
                "--models",
                "popularity,itemknn",
                "--k",
                "10",
                "--item-vectors",
                "hashing",
                "--report",
                str(out),
            ]
        )
        == 0
    )
    page = (out / "report.html").read_text()
    payload = json.loads((out / "results.json").read_text())
    assert payload["dataset"] == "movielens-100k" and set(payload["results"]) == {"popularity", "itemknn"}
    files = check_figures(page, out, payload)
    assert len(files) == 7 and all(f.stat().st_size > 5000 for f in files)
    n = check_numbers_agree(page, payload)
    assert n >= 2 * 12  # two systems x (users + metrics), plus per-user quantiles
    panels = next(f["data"]["panels"] for f in payload["figures"] if "tradeoff" in f["file"])
    assert set(panels) == {"diversity", "coverage", "novelty"}
    for axis, panel in panels.items():
        assert panel["front"] == payload["pareto_fronts"][axis] and panel["front"]
        for name, point in panel["points"].items():
            assert point["y"] == payload["results"][name]["metrics"]["ndcg@10"]
            assert point["x"] == payload["results"][name]["metrics"][f"{axis}@10"]
    settings = re.findall(r"<li><b>([^<]+)</b>: ([^<]+)</li>", page)
    assert [n for n, _ in settings] == ["popularity", "itemknn"]
    for name, text in settings:  # the settings shown are those in the JSON
        assert json.loads(html.unescape(text)) == payload["results"][name]["settings"]
    # itemknn beats popularity on accuracy and coverage on MovieLens 100k: it alone is that front
    assert payload["pareto_fronts"]["coverage"] == ["itemknn"]


def test_simulate_report_on_movielens(datasets_dir: Path, tmp_path: Path) -> None:
    from explorec.cli import main

    out = tmp_path / "sim"
    args = [
        "simulate",
        "--dataset",
        "movielens-100k",
        "--data-dir",
        str(datasets_dir),
        "--item-vectors",
        "none",
    ]
    args += ["--policies", "greedy,eps-greedy", "--steps", "200", "--seeds", "2", "--max-items", "800"]
    assert main([*args, "--out", str(out), "--report", str(out / "report")]) == 0
    page = (out / "report" / "report.html").read_text()
    payload = json.loads((out / "report" / "results.json").read_text())
    files = check_figures(page, out / "report", payload)
    assert [f.stem for f in files] == ["00-sim-reward", "01-sim-cumulative-regret", "02-sim-cold-exposure"]
    check_numbers_agree(page, payload)
    runs = {(r["policy"], r["seed"]): r for r in payload["runs"]}
    for curve in ("reward", "cumulative regret", "cold exposure"):
        for policy in ("greedy", "eps-greedy"):
            c = payload["curves"][curve][policy]
            low, mean, high = (np.array(c[x]) for x in ("low", "mean", "high"))
            assert len(c["step"]) == 200 and np.all(low <= mean + 1e-12) and np.all(mean <= high + 1e-12)
            if curve != "cold exposure":  # greedy may show no cold item in either seed: a zero band
                assert np.any(high > low)  # two seeds that differ: a real band
    for policy in ("greedy", "eps-greedy"):
        clicks = np.mean([runs[(policy, s)]["clicks"] for s in (0, 1)])
        assert payload["curves"]["reward"][policy]["mean"][-1] == pytest.approx(clicks / 200)
        regret = np.mean([runs[(policy, s)]["regret"] for s in (0, 1)])
        assert payload["curves"]["cumulative regret"][policy]["mean"][-1] == pytest.approx(regret)


def test_simulate_report_with_service_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from explorec.cli import main

    args = ["simulate", "--service", "http://127.0.0.1:9", "--api-key", "k", "--report", "somewhere"]
    assert main(args) == 2
    assert (
        "--report somewhere: the HTML report covers the in-process simulation only" in capsys.readouterr().err
    )
