"""Accuracy / beyond-accuracy trade-off curves over a sweep of a re-ranker weight.

For each weight ``w`` of a sweep, every user's candidate list is re-ranked by ``make_reranker(w)`` and
the resulting top-``k`` lists are scored with :func:`explorec.evaluation.evaluate_topk` (same
metrics, same masking conventions as the full-ranking protocol). The curve records NDCG@k against
intra-list diversity, catalogue coverage, novelty and exposure Gini; :func:`tradeoff_figure` draws
them as matplotlib figures that :func:`explorec.evaluation.report.write_report` embeds through
``extra_figures``, and :func:`best_operating_point` answers "how much diversity for at most x %
accuracy loss".

The candidate lists are computed once (e.g. the base model's top-200 unseen items per user), so the
sweep isolates the re-ranker: at weight 0 every re-ranker here returns the base top-``k``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explorec import progress as bars
from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError, check_positive_int
from explorec.evaluation.protocol import evaluate_topk

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from explorec.rerank.base import RerankContext, Reranker
    from explorec.types import ScoredItems

logger = logging.getLogger(__name__)

#: beyond-accuracy metrics drawn against accuracy, and whether higher is better
BEYOND_KEYS: dict[str, bool] = {"diversity": True, "coverage": True, "novelty": True, "gini": False}
_LABELS = {
    "diversity": "intra-list diversity (1 - cosine, 0-1)",
    "coverage": "catalogue coverage (fraction of items)",
    "novelty": "novelty (mean self-information, bits)",
    "gini": "exposure Gini (0-1, lower = fairer)",
}
_TITLES = {
    "diversity": "accuracy vs diversity",
    "coverage": "accuracy vs coverage",
    "novelty": "accuracy vs novelty",
    "gini": "accuracy vs exposure fairness",
}


@dataclass
class TradeoffPoint:
    """One weight of a sweep: its metrics (``evaluate_topk`` keys) and the re-ranking wall time."""

    weight: float
    metrics: dict[str, float]
    seconds: float
    per_user: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict, repr=False)


@dataclass
class TradeoffCurve:
    """A re-ranker's sweep: ``points`` in sweep order."""

    name: str
    parameter: str
    points: list[TradeoffPoint]
    k: int = 10

    def values(self, metric: str) -> npt.NDArray[np.float64]:
        """``metric`` (e.g. ``"ndcg@10"``) at every point; NaN where a point lacks it."""
        return np.array([p.metrics.get(metric, np.nan) for p in self.points], dtype=np.float64)

    @property
    def weights(self) -> npt.NDArray[np.float64]:
        return np.array([p.weight for p in self.points], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "parameter": self.parameter,
            "k": self.k,
            "points": [{"weight": p.weight, "seconds": p.seconds, **p.metrics} for p in self.points],
        }


def rerank_lists(
    candidates: Sequence[ScoredItems],
    reranker: Reranker,
    k: int,
    *,
    item_vectors: npt.ArrayLike | None = None,
    context: RerankContext | None = None,
    histories: Sequence[npt.ArrayLike] | None = None,
) -> npt.NDArray[np.int64]:
    """``int64[n_lists, k]``: each candidate list re-ranked to ``k`` items (``-1`` pads short lists)."""
    from explorec.rerank.base import RerankContext

    k = check_positive_int("k", k)
    if histories is not None and len(histories) != len(candidates):
        raise DataError(f"histories has {len(histories)} entries for {len(candidates)} candidate lists")
    base = context if context is not None else RerankContext()
    out = np.full((len(candidates), k), -1, dtype=np.int64)
    for row, cands in enumerate(candidates):
        ctx = base if histories is None else base.with_history(histories[row])
        # the columns the re-ranker declares (requires), built by the one column builder
        frame = reranker.prepare(cands, item_vectors=item_vectors, context=base)
        picked = reranker.rerank(frame, min(k, max(len(cands), 1)), context=ctx)
        out[row, : len(picked)] = picked.items
    return out


def tradeoff_curve(
    candidates: Sequence[ScoredItems],
    users: npt.ArrayLike,
    test: Interactions,
    *,
    history: Interactions,
    make_reranker: Callable[[float], Reranker],
    weights: Sequence[float],
    name: str,
    parameter: str = "weight",
    k: int = 10,
    item_vectors: npt.ArrayLike | None = None,
    metric_vectors: npt.ArrayLike | None = None,
    context: RerankContext | None = None,
    histories: Sequence[npt.ArrayLike] | None = None,
    keep_per_user: bool = False,
    progress: bool = False,
) -> TradeoffCurve:
    """Sweep ``weights`` of ``make_reranker`` and score each setting.

    Parameters
    ----------
    candidates : sequence of ScoredItems
        One candidate list per user in ``users`` (e.g. the base model's top-200 unseen items).
    users : int[n]
        The user of each list; each must have a test interaction.
    test, history : Interactions
        As in :func:`explorec.evaluation.evaluate_topk` (``history`` gives novelty popularity).
    make_reranker : callable float -> Reranker
        E.g. ``lambda w: MMR(diversity=w)``.
    weights : sequence of float
        The sweep, in display order.
    name, parameter : str
        Labels (``"MMR"``, ``"diversity"``).
    k : int
        List length and metric cut-off.
    item_vectors : float[n_items, dim], optional
        Vectors the re-rankers use.
    metric_vectors : float[n_items, dim] or [n_items], optional
        Vectors (or categories) of the ILD metric; default ``item_vectors``.
    context, histories
        Passed to the re-rankers (see :func:`explorec.rerank.apply_rerankers`).
    keep_per_user : bool
        Keep every point's per-user metrics (for paired tests).
    progress : bool
        Progress bar over the sweep (only on a terminal).
    """
    u = np.asarray(users, dtype=np.int64).reshape(-1)
    if u.size != len(candidates):
        raise DataError(f"users has {u.size} entries for {len(candidates)} candidate lists")
    if not weights:
        raise ConfigError("weights: give at least one weight to sweep")
    vectors = item_vectors if metric_vectors is None else metric_vectors
    points = []
    bar = bars.bar(list(weights), desc=f"{name} sweep", unit="weight", show=progress)
    for w in bar:
        started = time.perf_counter()
        top = rerank_lists(
            candidates,
            make_reranker(float(w)),
            k,
            item_vectors=item_vectors,
            context=context,
            histories=histories,
        )
        seconds = time.perf_counter() - started
        result = evaluate_topk(
            top, u, test, history=history, k=(k,), item_vectors=vectors, n_items=test.n_items
        )
        per_user = dict(result.per_user) if keep_per_user else {}
        points.append(TradeoffPoint(float(w), dict(result.metrics), seconds, per_user))
        logger.info(
            "%s %s=%g: %s (%.2f s)",
            name,
            parameter,
            w,
            ", ".join(f"{key}={v:.4f}" for key, v in result.metrics.items()),
            seconds,
        )
    return TradeoffCurve(name, parameter, points, k)


def best_operating_point(
    curve: TradeoffCurve,
    *,
    accuracy: str | None = None,
    beyond: str | None = None,
    max_loss: float = 0.02,
) -> dict[str, float]:
    """The point with the largest gain in ``beyond`` whose relative ``accuracy`` loss is ``<= max_loss``.

    Gains and losses are relative to the curve's first point (weight 0 = the base ranking in the
    sweeps here). Returns ``weight``, ``accuracy``, ``accuracy_change`` (relative), ``beyond``,
    ``beyond_change`` (relative); the first point itself when no other qualifies.
    """
    accuracy = accuracy or f"ndcg@{curve.k}"
    beyond = beyond or f"diversity@{curve.k}"
    acc, bey = curve.values(accuracy), curve.values(beyond)
    if np.isnan(acc).any() or np.isnan(bey).any():
        raise ConfigError(f"curve {curve.name!r} lacks {accuracy!r} or {beyond!r} at some point")
    acc_change = (acc - acc[0]) / acc[0] if acc[0] else np.zeros_like(acc)
    bey_change = (bey - bey[0]) / bey[0] if bey[0] else np.zeros_like(bey)
    ok = np.flatnonzero(acc_change >= -max_loss)
    best = int(ok[np.argmax(bey_change[ok])])
    return {
        "weight": float(curve.points[best].weight),
        "accuracy": float(acc[best]),
        "accuracy_change": float(acc_change[best]),
        "beyond": float(bey[best]),
        "beyond_change": float(bey_change[best]),
    }


def tradeoff_figure(
    curves: Sequence[TradeoffCurve],
    *,
    accuracy: str | None = None,
    beyond: Sequence[str] = ("diversity", "coverage", "novelty", "gini"),
    title: str = "",
) -> tuple[str, Figure]:
    """One figure, one panel per beyond-accuracy metric: accuracy (y) against it (x), a line per curve.

    Each line runs through the sweep in order; the first point (weight 0, the base ranking) is ringed
    and the weights are written next to the points. Returns ``(caption, Figure)`` for
    ``write_report(..., extra_figures=[...])``.
    """
    from matplotlib.figure import Figure

    if not curves:
        raise ConfigError("tradeoff_figure: give at least one curve")
    k = curves[0].k
    accuracy = accuracy or f"ndcg@{k}"
    panels = [b for b in beyond if any(not np.isnan(c.values(f"{b}@{k}")).all() for c in curves)]
    if not panels:
        raise ConfigError(f"tradeoff_figure: the curves hold none of {list(beyond)} at k={k}")
    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    # constrained layout keeps the legend (outside, right of the last panel) from covering data
    fig = Figure(figsize=(5.6 * cols + 1.6, 3.9 * rows), dpi=90, layout="constrained")
    for pos, metric in enumerate(panels):
        ax = fig.add_subplot(rows, cols, pos + 1)
        for curve in curves:
            x, y = curve.values(f"{metric}@{k}"), curve.values(accuracy)
            line = ax.plot(x, y, marker="o", markersize=3, label=f"{curve.name} ({curve.parameter})")[0]
            ax.plot(x[:1], y[:1], marker="o", markersize=9, fillstyle="none", color=line.get_color())
            for w, xi, yi in zip(curve.weights, x, y, strict=True):
                ax.annotate(f"{w:g}", (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel(f"{_LABELS.get(metric, metric)} @{k}")
        ax.set_ylabel(f"{accuracy} (fraction, higher = better)")
        ax.set_title(f"{_TITLES.get(metric, f'accuracy vs {metric}')} (labels: re-ranker weight)", fontsize=9)
        ax.grid(alpha=0.3)
        if pos == min(cols, len(panels)) - 1:  # the top-right panel: its legend goes right of the grid
            ax.legend(
                fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False
            )
    if title:
        fig.suptitle(title, fontsize=10)
    names = ", ".join(c.name for c in curves)
    caption = (
        f"{title + ': ' if title else ''}{accuracy} against {', '.join(panels)} over the re-ranker weight "
        f"({names}); ringed point = weight 0 (base ranking)"
    )
    return caption, fig


def save_figure(fig: Figure, path: str | Any, *, dpi: int = 90) -> None:
    """Write a figure as PNG (Agg backend; no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, format="png")
