"""Every plot that `explorec evaluate --report` and `explorec simulate --report` draw on a real dataset
has a title, axis labels with units, and a legend that covers no axes.

The figures are the real ones: ``Figure.savefig`` is wrapped (it still writes every file) so that
the test can read each figure object the commands saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from explorec.cli import main

#: what names a unit in an axis label: one in parentheses, or the counted thing
UNIT = re.compile(r"\(.+\)|\b(fraction|bits|interactions|clicks|impressions|items|count)\b")


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Figure]]:
    figures: list[Figure] = []
    original = Figure.savefig

    def savefig(self: Figure, *args: Any, **kwargs: Any) -> Any:
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    yield figures


def categorical(axis: Any) -> bool:
    """Whether the axis's tick labels are names (a bar chart's systems or metrics), not numbers."""
    texts = [t.get_text().replace("\u2212", "-") for t in axis.get_ticklabels() if t.get_text()]
    if not texts:
        return False
    try:
        [float(t) for t in texts]
    except ValueError:
        return True
    return False


def check_labels(figures: list[Figure]) -> int:
    """Assert titles, labels with a unit in parentheses, legends clear of every axes; count the axes."""
    n = 0
    for fig in figures:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        for ax in fig.axes:
            n += 1
            where = f"{fig.get_suptitle() or '?'} / {ax.get_title() or '?'}"
            assert ax.get_title(), f"untitled axes in {where}"
            assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axis in {where}"
            for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
                # a unit: "(fraction)", "(bits)", "(count)", "(0-1)", ...; a category axis (systems,
                # metrics) has no unit, its label says what it lists
                assert UNIT.search(label) or categorical(axis), f"no unit in {label!r} ({where})"
            legend = ax.get_legend()
            if legend is not None:
                box = legend.get_window_extent(renderer)
                for other in fig.axes:
                    assert not box.overlaps(other.get_window_extent(renderer)), f"legend covers {where}"
    return n


def test_evaluate_report_with_tradeoff_on_movielens(
    datasets_dir: Path, tmp_path: Path, saved: list[Figure]
) -> None:
    argv = ["--quiet", "evaluate", "--dataset", "movielens-100k", "--data-dir", str(datasets_dir)]
    argv += ["--models", "popularity,itemknn", "--k", "10", "--item-vectors", "hashing", "--candidates", "30"]
    assert main([*argv, "--tradeoff", "mmr", "--report", str(tmp_path / "report")]) == 0
    written = sorted((tmp_path / "report" / "figures").glob("*.png"))
    assert len(saved) == len(written) == 8  # 7 report figures + the mmr trade-off sweep
    assert check_labels(saved) >= 12
    sweep = next(f for f in saved if "accuracy against beyond-accuracy" in f.get_suptitle())
    assert [ax.get_title().split(" (")[0] for ax in sweep.axes] == [
        "accuracy vs diversity",
        "accuracy vs coverage",
        "accuracy vs novelty",
        "accuracy vs exposure fairness",
    ]


def test_simulate_report_on_movielens(datasets_dir: Path, tmp_path: Path, saved: list[Figure]) -> None:
    argv = ["--quiet", "simulate", "--dataset", "movielens-100k", "--data-dir", str(datasets_dir)]
    argv += ["--item-vectors", "none", "--policies", "greedy,eps-greedy", "--steps", "100", "--seeds", "2"]
    argv += ["--max-items", "500", "--out", str(tmp_path), "--report", str(tmp_path / "report")]
    assert main(argv) == 0
    assert len(saved) == 4  # simulation.png and the report's reward, regret and cold-exposure curves
    assert check_labels(saved) == 4 + 3
