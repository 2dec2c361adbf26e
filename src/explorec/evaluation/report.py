"""Readable HTML reports with the JSON behind them: offline evaluation and simulation.

:func:`write_report` (``explorec evaluate --report DIR``) writes

* ``report.html``: the metric table (best value per column in bold), one grouped bar chart per
  **metric family** (accuracy; coverage and diversity; novelty; popularity bias: each family shares
  one unit), **accuracy against diversity / coverage / novelty** scatter plots with the **Pareto
  front** (the systems no other system beats on both axes), **per-user distributions** (box plots of
  each per-user metric at the smallest cut-off, and the NDCG empirical CDF) with a table of their
  quantiles, and any extra figures;
* ``results.json``: every number the page shows (metrics, per-user quantiles, Pareto fronts) and the
  data of each plot;
* ``figures/*.png``: each figure as a file (the page also embeds them, so it can be mailed alone).

:func:`write_simulation_report` (``explorec simulate --report DIR``) does the same for simulator
runs: reward (clicks per step), pseudo-regret and cold-item exposure over time, each the mean over
seeds with a 95% confidence band (t interval across seeds; a band needs at least two seeds).

Every plot has a title, axis labels with units, and its legend outside the axes, so it never covers
data. Figures are built on ``matplotlib.figure.Figure`` (Agg), never through ``pyplot``: no global
state, no GUI backend; matplotlib is imported only when a report is written.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError
from explorec.evaluation.protocol import ACCURACY, BEYOND, EvaluationResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from explorec.evaluation.simulator import SimulationResult

logger = logging.getLogger(__name__)

#: metric family -> (its metrics, the unit of its y axis); one grouped chart per family
FAMILIES: dict[str, tuple[tuple[str, ...], str]] = {
    "accuracy": (ACCURACY, "score (fraction, 0-1)"),
    "coverage and diversity": (("coverage", "diversity", "gini"), "fraction (0-1)"),
    "novelty": (("novelty",), "bits (mean self-information)"),
    "popularity bias": (("arp",), "mean training interactions per recommended item"),
}
#: beyond-accuracy axes of the trade-off scatter plots (higher is better for each)
TRADEOFF_AXES = ("diversity", "coverage", "novelty")
#: metrics where lower is better
LOWER_IS_BETTER = ("arp", "gini")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.9em; color: #555; max-width: 60em; }
.note { color: #a33; }
"""
_DIGITS = 4


def fmt(value: float) -> str:
    """How every number appears on a page (``results.json`` holds the unrounded value)."""
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{_DIGITS}f}"
    )


@dataclass
class ReportFigure:
    """One figure of a report: its file stem, caption, the figure, and the numbers it plots."""

    name: str
    caption: str
    figure: Figure
    data: dict[str, Any] = field(default_factory=dict)


def _path(*parts: str) -> str:
    """The ``data-key`` of a table cell: where its number lives in ``results.json`` ("|"-separated)."""
    return html.escape("|".join(parts), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "figure"


def _base(key: str) -> tuple[str, str, int]:
    """``"sampled50:ndcg@10"`` -> ``("sampled50:", "ndcg", 10)``; k is 0 for catalogue-wide keys."""
    prefix, _, body = key.rpartition(":")
    base, _, k = body.partition("@")
    return (prefix + ":" if prefix else ""), base, int(k) if k.isdigit() else 0


def _metric_order(results: dict[str, EvaluationResult]) -> list[str]:
    """Union of metric keys, grouped by prefix, cut-off, then the canonical metric order."""
    names = {key for r in results.values() for key in r.metrics}
    rank = {name: i for i, name in enumerate((*ACCURACY, *BEYOND))}

    def sort_key(key: str) -> tuple[str, int, int]:
        prefix, base, k = _base(key)
        return prefix, k, rank.get(base, len(rank))

    return sorted(names, key=sort_key)


def _unit(base: str) -> str:
    if base == "novelty":
        return "bits"
    if base == "arp":
        return "training interactions"
    return "fraction"


def _legend_outside(ax: Axes) -> None:
    # outside the axes, to the right: a legend there cannot cover a bar, a point or a curve
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def metric_table_html(results: dict[str, EvaluationResult]) -> str:
    """HTML table: one row per result, one column per metric; the best value per column in bold.

    "Best" is the highest value, except for ``arp`` and ``gini`` (lower = less popularity bias).
    """
    keys = _metric_order(results)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    best: dict[str, str] = {}
    for key in keys:
        values = [r.metrics[key] for r in results.values() if key in r.metrics]
        lower = _base(key)[1] in LOWER_IS_BETTER
        best[key] = fmt(min(values) if lower else max(values))
    rows = []
    for name, result in results.items():
        label = html.escape(name) + (" <span class='note'>(sampled)</span>" if result.sampled else "")
        cells = []
        for key in keys:
            if key in result.metrics:
                text = fmt(result.metrics[key])
                cls = " class='best'" if len(results) > 1 and text == best[key] else ""
                cells.append(f"<td{cls} data-key='{_path('results', name, 'metrics', key)}'>{text}</td>")
            else:
                cells.append("<td>-</td>")
        rows.append(
            f"<tr><td>{label}</td><td data-key='{_path('results', name, 'n_users')}'>{result.users.size}</td>"
            f"{''.join(cells)}</tr>"
        )
    return f"<table class='metrics'><tr><th>system</th><th>users</th>{head}</tr>{''.join(rows)}</table>"


# ---------------------------------------------------------------------- evaluation figures
def family_figures(results: dict[str, EvaluationResult]) -> list[ReportFigure]:
    """One grouped bar chart per metric family (and prefix): a group per metric@k, a bar per system."""
    from matplotlib.figure import Figure

    keys = _metric_order(results)
    out = []
    prefixes = list(dict.fromkeys(_base(k)[0] for k in keys))
    for prefix in prefixes:
        for family, (members, unit) in FAMILIES.items():
            fam = [k for k in keys if _base(k)[0] == prefix and _base(k)[1] in members]
            if not fam:
                continue
            names = [n for n in results if any(k in results[n].metrics for k in fam)]
            width = 0.8 / len(names)
            fig = Figure(figsize=(max(4.5, 0.3 * len(names) * len(fam) + 2.5), 3.4), layout="constrained")
            ax = fig.add_subplot()
            values: dict[str, list[float | None]] = {}
            for j, name in enumerate(names):
                row = [results[name].metrics.get(k, math.nan) for k in fam]
                values[name] = [None if math.isnan(v) else float(v) for v in row]
                ax.bar(np.arange(len(fam)) + (j - (len(names) - 1) / 2) * width, row, width, label=name)
            ax.set_xticks(range(len(fam)), [k.removeprefix(prefix) for k in fam], rotation=30, ha="right")
            ax.set_xlabel("metric @ cut-off k")
            ax.set_ylabel(unit)
            title = f"{prefix}{family}"
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            _legend_outside(ax)
            caption = f"{title}: {', '.join(members)} per system ({unit})"
            out.append(
                ReportFigure(f"family-{_slug(title)}", caption, fig, {"metrics": fam, "values": values})
            )
    return out


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates (higher is better on both axes), by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (ox >= x and oy >= y) and (ox > x or oy > y) for j, (ox, oy) in enumerate(points) if j != i
        )
        if not dominated and not (math.isnan(x) or math.isnan(y)):
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def _comparable_groups(names: Sequence[str]) -> list[list[int]]:
    """Indices of ``names`` grouped by the prefix before ``/`` (the test set a system was scored on,
    e.g. ``warm/ease``, ``cold/ease``); names without a prefix form one group."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.split("/", 1)[0] if "/" in name else "", []).append(i)
    return list(groups.values())


def tradeoff_scatter(results: dict[str, EvaluationResult]) -> ReportFigure | None:
    """Accuracy (NDCG at the smallest cut-off) against diversity, coverage and novelty, with fronts."""
    from matplotlib.figure import Figure

    full = {n: r for n, r in results.items() if not r.sampled}
    ks = sorted({_base(k)[2] for r in full.values() for k in r.metrics if _base(k)[1] == "ndcg"})
    if not ks:
        return None
    k = ks[0]
    acc = f"ndcg@{k}"
    axes = [a for a in TRADEOFF_AXES if any(f"{a}@{k}" in r.metrics or a in r.metrics for r in full.values())]
    if not axes:
        return None
    fig = Figure(figsize=(4.2 * len(axes) + 1.8, 3.6), layout="constrained")
    data: dict[str, Any] = {"accuracy": acc, "panels": {}}
    markers = "osD^vP*Xhp"
    for col, beyond in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), col + 1)
        names, pts = [], []
        for name, r in full.items():
            key = f"{beyond}@{k}" if f"{beyond}@{k}" in r.metrics else beyond
            if key in r.metrics and acc in r.metrics:
                names.append(name)
                pts.append((float(r.metrics[key]), float(r.metrics[acc])))
        for j, (name, (x, y)) in enumerate(zip(names, pts, strict=True)):
            ax.scatter([x], [y], marker=markers[j % len(markers)], s=45, label=name, zorder=3)
        front: list[int] = []
        for members in _comparable_groups(names):
            # systems evaluated on different test sets (``warm/ease`` vs ``cold/ease``) do not compete
            group_front = [members[i] for i in pareto_front([pts[m] for m in members])]
            front.extend(group_front)
            if group_front:
                ax.plot(
                    [pts[i][0] for i in group_front],
                    [pts[i][1] for i in group_front],
                    "k--",
                    lw=1,
                    label="Pareto front" if col == len(axes) - 1 and len(front) == len(group_front) else None,
                    zorder=2,
                )
        ax.set_xlabel(f"{beyond}@{k} ({_unit(beyond)}, higher = better)")
        ax.set_ylabel(f"{acc} (fraction, higher = better)")
        ax.set_title(f"accuracy vs {beyond}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.margins(0.15)
        data["panels"][beyond] = {
            "points": {n: {"x": x, "y": y} for n, (x, y) in zip(names, pts, strict=True)},
            "front": [names[i] for i in front],
        }
    _legend_outside(fig.axes[-1])
    caption = (
        f"{acc} against {', '.join(axes)}: one point per system; the dashed line joins the Pareto front "
        "(systems no other system beats on both axes; systems scored on different test sets, named "
        "'set/system', are compared only within their set)"
    )
    return ReportFigure("tradeoff-pareto", caption, fig, data)


def _per_user_keys(results: dict[str, EvaluationResult]) -> list[str]:
    keys = {k for r in results.values() for k in r.per_user if not r.sampled}
    ks = sorted({_base(k)[2] for k in keys})
    if not ks:
        return []
    rank = {name: i for i, name in enumerate((*ACCURACY, *BEYOND))}
    return sorted((k for k in keys if _base(k)[2] == ks[0]), key=lambda k: rank.get(_base(k)[1], 99))


def per_user_summary(results: dict[str, EvaluationResult]) -> dict[str, dict[str, dict[str, float]]]:
    """metric -> system -> {mean, p10, median, p90} of the per-user values (smallest cut-off)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in _per_user_keys(results):
        out[key] = {}
        for name, r in results.items():
            if key in r.per_user and not r.sampled:
                v = np.asarray(r.per_user[key], dtype=np.float64)
                p10, med, p90 = np.quantile(v, [0.1, 0.5, 0.9])
                out[key][name] = {
                    "mean": float(v.mean()),
                    "p10": float(p10),
                    "median": float(med),
                    "p90": float(p90),
                }
    return out


def per_user_figures(results: dict[str, EvaluationResult]) -> list[ReportFigure]:
    """Box plots of every per-user metric at the smallest cut-off, and the per-user NDCG CDF."""
    from matplotlib.figure import Figure

    keys = _per_user_keys(results)
    out: list[ReportFigure] = []
    if not keys:
        return out
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(4.0 * cols, 3.0 * rows), layout="constrained")
    names = [n for n, r in results.items() if not r.sampled]
    for j, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, j + 1)
        shown = [n for n in names if key in results[n].per_user]
        ax.boxplot([results[n].per_user[key] for n in shown], showmeans=True)
        ax.set_xticks(range(1, len(shown) + 1), shown, rotation=30, ha="right", fontsize=8)
        base = _base(key)[1]
        ax.set_ylabel(f"{key} per user ({_unit(base)})")
        ax.set_xlabel("system")
        ax.set_title(f"per-user {key}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    out.append(
        ReportFigure(
            "per-user-boxes",
            "Per-user metric distributions: box = quartiles, line = median, triangle = mean, "
            "whiskers = 1.5 IQR",
            fig,
            {"metrics": keys},
        )
    )
    ndcg = [k for k in keys if _base(k)[1] == "ndcg"]
    if ndcg:
        key = ndcg[0]
        fig = Figure(figsize=(6.2, 3.5), layout="constrained")
        ax = fig.add_subplot()
        for name in names:
            if key in results[name].per_user:
                v = np.sort(results[name].per_user[key])
                ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=name)
        ax.set_xlabel(f"per-user {key} (fraction)")
        ax.set_ylabel("share of users with value <= x (0-1)")
        ax.set_xlim(0, 1)
        ax.set_title(f"per-user {key}: empirical CDF", fontsize=10)
        ax.grid(alpha=0.3)
        _legend_outside(ax)
        out.append(
            ReportFigure(
                "per-user-ndcg-cdf", f"Per-user {key} distribution (empirical CDF; lower curve = better)", fig
            )
        )
    return out


def _per_user_table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    rows = []
    for key, systems in summary.items():
        for name, q in systems.items():
            cells = "".join(
                f"<td data-key='{_path('per_user_summary', key, name, s)}'>{fmt(q[s])}</td>"
                for s in ("mean", "p10", "median", "p90")
            )
            rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(name)}</td>{cells}</tr>")
    head = "<tr><th>metric</th><th>system</th><th>mean</th><th>p10</th><th>median</th><th>p90</th></tr>"
    return f"<table class='per-user'>{head}{''.join(rows)}</table>"


# ---------------------------------------------------------------------- writing
def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _target(path: str | Path) -> Path:
    target = Path(path)
    html_path = target if target.suffix.lower() in (".html", ".htm") else target / "report.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    return html_path


def _write(
    html_path: Path, title: str, body: str, figures: Sequence[ReportFigure], payload: dict[str, Any]
) -> Path:
    fig_dir = html_path.parent / "figures"
    fig_dir.mkdir(exist_ok=True)
    blocks = []
    described = []
    for j, f in enumerate(figures):
        png = _png(f.figure)
        name = f"{j:02d}-{f.name}.png"
        (fig_dir / name).write_bytes(png)
        b64 = base64.b64encode(png).decode("ascii")
        blocks.append(
            f"<figure><img alt='{html.escape(f.caption)}' data-file='figures/{name}' "
            f"src='data:image/png;base64,{b64}'><figcaption>{html.escape(f.caption)}</figcaption></figure>"
        )
        described.append({"file": f"figures/{name}", "caption": f.caption, "data": f.data})
    payload = {**payload, "figures": described}
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}<h2>Figures</h2>{''.join(blocks)}"
        "<p>Every number on this page is in <a href='results.json'>results.json</a>, rounded to "
        f"{_DIGITS} decimals here.</p></body></html>"
    )
    html_path.write_text(page, encoding="utf-8")
    json_path = html_path.parent / "results.json"
    json_path.write_text(json.dumps(payload, indent=2, default=float), encoding="utf-8")
    logger.info("wrote %s, %s and %d figures", html_path, json_path, len(figures))
    return html_path


def write_report(
    results: dict[str, EvaluationResult],
    path: str | Path,
    *,
    title: str,
    extra_figures: Sequence[tuple[str, Figure]] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``report.html``, ``results.json`` and ``figures/`` (see the module docstring).

    Parameters
    ----------
    results : dict[str, EvaluationResult]
        System name -> result, in display order.
    path : str or Path
        The HTML file (when it ends in ``.html``) or a directory that receives ``report.html``;
        ``results.json`` and ``figures/`` are written next to the HTML file.
    title : str
        Page title.
    extra_figures : list of (caption, matplotlib Figure), optional
        Further figures (e.g. trade-off curves), embedded after the standard ones.
    extra : dict, optional
        Further JSON fields for ``results.json`` (dataset, split, paired tests...).

    Returns
    -------
    Path
        The HTML file.
    """
    if not results:
        raise ConfigError("write_report: results is empty; give at least one EvaluationResult")
    html_path = _target(path)
    figures = family_figures(results)
    scatter = tradeoff_scatter(results)
    if scatter is not None:
        figures.append(scatter)
    figures.extend(per_user_figures(results))
    figures.extend(ReportFigure(f"extra-{_slug(cap)}", cap, fig) for cap, fig in extra_figures or [])
    summary = per_user_summary(results)
    fronts = {} if scatter is None else {a: p["front"] for a, p in scatter.data["panels"].items()}
    front_html = "".join(
        f"<li>accuracy vs {html.escape(a)}: {html.escape(', '.join(f))}</li>" for a, f in fronts.items()
    )
    settings = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(json.dumps(r.to_dict()['settings']))}</li>"
        for name, r in results.items()
    )
    sampled_note = (
        "<p class='note'>Results marked (sampled) rank test items against sampled negatives only; "
        "their numbers are not comparable with full-ranking ones.</p>"
        if any(r.sampled for r in results.values())
        else ""
    )
    body = (
        f"{sampled_note}<h2>Metrics</h2>{metric_table_html(results)}"
        + (f"<h2>Pareto fronts</h2><ul>{front_html}</ul>" if front_html else "")
        + (f"<h2>Per-user distributions</h2>{_per_user_table(summary)}" if summary else "")
        + f"<h2>Settings</h2><ul>{settings}</ul>"
    )
    payload: dict[str, Any] = {
        "title": title,
        **(extra or {}),
        "results": {n: r.to_dict() for n, r in results.items()},
        "per_user_summary": summary,
        "pareto_fronts": fronts,
    }
    return _write(html_path, title, body, figures, payload)


# ---------------------------------------------------------------------- simulation
def _band(runs: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean over seeds (rows) and the half-width of its 95% t interval (0 with one seed)."""
    from scipy import stats

    mean = runs.mean(axis=0)
    n = runs.shape[0]
    if n < 2:
        return mean, np.zeros_like(mean)
    half = stats.t.ppf(0.975, n - 1) * runs.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, np.asarray(half, dtype=np.float64)


def _running_mean(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Mean of the first t values, for every t, per row."""
    return np.asarray(np.cumsum(x, axis=-1) / np.arange(1, x.shape[-1] + 1), dtype=np.float64)


#: simulation curves: name -> (trace, how it is plotted, y-axis label)
SIM_CURVES: dict[str, tuple[str, str]] = {
    "reward": ("clicks per slate, running mean over the steps so far", "clicks per slate"),
    "cumulative regret": (
        "cumulative pseudo-regret (oracle - shown expected clicks)",
        "expected clicks lost",
    ),
    "cold exposure": (
        "share of shown slots that hold cold (held-back) items, running mean over the steps so far",
        "share of slots (0-1)",
    ),
}


def simulation_curves(results: Sequence[SimulationResult]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """curve -> policy -> {step, mean, low, high, seeds}: the numbers the simulation plots show."""
    policies = list(dict.fromkeys(r.policy for r in results))
    n_steps = min(r.clicks.size for r in results)
    out: dict[str, dict[str, dict[str, list[float]]]] = {c: {} for c in SIM_CURVES}
    for p in policies:
        runs = [r for r in results if r.policy == p]
        k = max(1, max((len(rec) for r in runs for rec in r.impressions), default=1))
        traces = {
            "reward": _running_mean(np.stack([r.clicks[:n_steps] for r in runs])),
            "cumulative regret": np.cumsum(np.stack([r.regret[:n_steps] for r in runs]), axis=1),
            "cold exposure": _running_mean(np.stack([r.cold_impressions[:n_steps] for r in runs]) / k),
        }
        for curve, values in traces.items():
            mean, half = _band(values)
            out[curve][p] = {
                "step": list(range(1, n_steps + 1)),
                "mean": mean.tolist(),
                "low": (mean - half).tolist(),
                "high": (mean + half).tolist(),
                "seeds": [float(len(runs))],
            }
    return out


def _summary_cell(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "<td>-</td>"  # no number (e.g. no examination estimate): nothing to source
    text = str(value) if isinstance(value, int) else fmt(float(value))
    return f"<td data-key='{key}'>{text}</td>"


def write_simulation_report(
    results: Sequence[SimulationResult],
    summary: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    title: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``report.html``, ``results.json`` and ``figures/`` for simulator runs.

    Parameters
    ----------
    results : sequence of SimulationResult
        Every run (policies x seeds).
    summary : sequence of dict
        One row per policy (``explorec.cli.simulate.summarise``), shown as the summary table.
    path : str or Path
        Folder (or ``.html`` file) of the report.
    title : str
        Page title.
    extra : dict, optional
        Further JSON fields (dataset, settings).
    """
    from matplotlib.figure import Figure

    if not results:
        raise ConfigError("write_simulation_report: no simulation results")
    html_path = _target(path)
    curves = simulation_curves(results)
    seeds = len({r.seed for r in results})
    figures = []
    for curve, (what, unit) in SIM_CURVES.items():
        fig = Figure(figsize=(7.5, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for policy, c in curves[curve].items():
            (line,) = ax.plot(c["step"], c["mean"], lw=1.3, label=policy)
            if seeds > 1:
                ax.fill_between(c["step"], c["low"], c["high"], color=line.get_color(), alpha=0.2, lw=0)
        ax.set_xlabel("simulation step (one slate per step)")
        ax.set_ylabel(unit)
        ax.set_title(f"{curve} over time", fontsize=10)
        ax.grid(alpha=0.3)
        _legend_outside(ax)
        band = "band: 95% t interval across seeds" if seeds > 1 else "one seed: no band"
        figures.append(
            ReportFigure(
                f"sim-{_slug(curve)}", f"{what}; mean over {seeds} seed(s), {band}", fig, {"curve": curve}
            )
        )
    columns = [k for k in summary[0] if k != "policy"] if summary else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for j, row in enumerate(summary):
        cells = "".join(_summary_cell(row[c], _path("summary", str(j), c)) for c in columns)
        rows.append(f"<tr><td>{html.escape(str(row['policy']))}</td>{cells}</tr>")
    body = f"<h2>Summary</h2><table class='summary'><tr><th>policy</th>{head}</tr>{''.join(rows)}</table>"
    payload: dict[str, Any] = {
        "title": title,
        **(extra or {}),
        "summary": list(summary),
        "runs": [r.summary() for r in results],
        "curves": curves,
    }
    return _write(html_path, title, body, figures, payload)
