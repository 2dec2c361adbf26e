"""A self-contained HTML report of one or more evaluation results, plus ``results.json``.

The HTML embeds its figures as base64 PNG (matplotlib's Agg renderer, imported only when a report is
written), so the file can be mailed or archived alone. Figures are built on ``matplotlib.figure.Figure``
directly, never through ``pyplot``, so no global state or GUI backend is touched.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from explorec.errors import ConfigError
from explorec.evaluation.protocol import ACCURACY, BEYOND, EvaluationResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.9em; color: #555; }
.note { color: #a33; }
"""


def _metric_order(results: dict[str, EvaluationResult]) -> list[str]:
    """Union of metric keys, grouped by cut-off then by the canonical metric order."""
    names = {key for r in results.values() for key in r.metrics}
    rank = {name: i for i, name in enumerate((*ACCURACY, *BEYOND))}

    def sort_key(key: str) -> tuple[str, int, int]:
        prefix, _, body = key.rpartition(":")
        base, _, k = body.partition("@")
        return prefix, int(k) if k.isdigit() else 0, rank.get(base, len(rank))

    return sorted(names, key=sort_key)


def metric_table_html(results: dict[str, EvaluationResult]) -> str:
    """HTML table: one row per result, one column per metric; the best value per column in bold.

    "Best" is the highest value, except for ``arp`` and ``gini`` (lower = less popularity bias).
    """
    keys = _metric_order(results)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    best: dict[str, float] = {}
    for key in keys:
        values = [r.metrics[key] for r in results.values() if key in r.metrics]
        lower = key.rpartition(":")[2].startswith(("arp@", "gini@"))
        best[key] = min(values) if lower else max(values)
    rows = []
    for name, result in results.items():
        label = html.escape(name) + (" <span class='note'>(sampled)</span>" if result.sampled else "")
        cells = []
        for key in keys:
            if key in result.metrics:
                value = result.metrics[key]
                cls = " class='best'" if len(results) > 1 and value == best[key] else ""
                cells.append(f"<td{cls}>{value:.4f}</td>")
            else:
                cells.append("<td>-</td>")
        rows.append(f"<tr><td>{label}</td><td>{result.users.size}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>system</th><th>users</th>{head}</tr>{''.join(rows)}</table>"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bar_figures(results: dict[str, EvaluationResult]) -> list[tuple[str, Figure]]:
    """One grouped bar plot per metric (per prefix): a group per cut-off k, a bar per system."""
    from matplotlib.figure import Figure

    families: dict[str, list[str]] = {}
    for key in _metric_order(results):
        families.setdefault(key.rpartition("@")[0], []).append(key)
    figures = []
    for family, keys in families.items():
        names = [n for n in results if any(key in results[n].metrics for key in keys)]
        width = 0.8 / len(names)
        fig = Figure(figsize=(max(3.2, 0.35 * len(names) * len(keys) + 1.6), 2.8))
        ax = fig.add_subplot()
        for j, name in enumerate(names):
            values = [results[name].metrics.get(key, math.nan) for key in keys]
            ax.bar(np.arange(len(keys)) + (j - (len(names) - 1) / 2) * width, values, width, label=name)
        ax.set_xticks(range(len(keys)), ["@" + key.rpartition("@")[2] for key in keys])
        ax.set_title(family, fontsize=10)
        if len(names) > 1:
            ax.legend(fontsize=7)
        figures.append((family, fig))
    return figures


def _ndcg_key(result: EvaluationResult) -> str | None:
    keys = [k for k in result.per_user if k.rpartition(":")[2].startswith("ndcg@")]
    return min(keys, key=lambda k: int(k.rpartition("@")[2])) if keys else None


def _ndcg_figure(results: dict[str, EvaluationResult]) -> tuple[str, Figure] | None:
    """Per-user NDCG distribution (at each result's smallest cut-off) as empirical CDFs."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.add_subplot()
    drawn = []
    for name, result in results.items():
        key = _ndcg_key(result)
        if key is None:
            continue
        values = np.sort(result.per_user[key])
        ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=f"{name} ({key})")
        drawn.append(key)
    if not drawn:
        return None
    ax.set_xlabel("per-user NDCG")
    ax.set_ylabel("share of users with NDCG <= x")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8)
    return "Per-user NDCG distribution (empirical CDF; lower curve = better)", fig


def write_report(
    results: dict[str, EvaluationResult],
    path: str | Path,
    *,
    title: str,
    extra_figures: Sequence[tuple[str, Figure]] | None = None,
) -> Path:
    """Write ``report.html`` (metric table, bar plot per metric, per-user NDCG CDF) and ``results.json``.

    Parameters
    ----------
    results : dict[str, EvaluationResult]
        System name -> result, in display order.
    path : str or Path
        The HTML file (when it ends in ``.html``) or a directory that receives ``report.html``;
        ``results.json`` is written next to the HTML file.
    title : str
        Page title.
    extra_figures : list of (caption, matplotlib Figure), optional
        Further figures (e.g. trade-off curves), embedded after the standard ones.

    Returns
    -------
    Path
        The HTML file.
    """
    if not results:
        raise ConfigError("write_report: results is empty; give at least one EvaluationResult")
    target = Path(path)
    html_path = target if target.suffix.lower() in (".html", ".htm") else target / "report.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)

    figures: list[tuple[str, Figure]] = _bar_figures(results)
    ndcg_fig = _ndcg_figure(results)
    if ndcg_fig is not None:
        figures.append(ndcg_fig)
    figures.extend(extra_figures or [])
    blocks = [
        f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{_png(fig)}'>"
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for cap, fig in figures
    ]
    settings = "".join(
        f"<li><b>{html.escape(name)}</b>: {html.escape(json.dumps(r.to_dict()['settings']))}</li>"
        for name, r in results.items()
    )
    texts = "".join(
        f"<h3>{html.escape(n)}</h3><pre>{html.escape(r.table())}</pre>" for n, r in results.items()
    )
    sampled_note = (
        "<p class='note'>Results marked (sampled) rank test items against sampled negatives only; "
        "their numbers are not comparable with full-ranking ones.</p>"
        if any(r.sampled for r in results.values())
        else ""
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{sampled_note}<h2>Metrics</h2>{metric_table_html(results)}"
        f"<h2>Figures</h2>{''.join(blocks)}<h2>Tables</h2>{texts}<h2>Settings</h2><ul>{settings}</ul>"
        "</body></html>"
    )
    html_path.write_text(page, encoding="utf-8")
    json_path = html_path.parent / "results.json"
    payload: dict[str, Any] = {"title": title, "results": {n: r.to_dict() for n, r in results.items()}}
    json_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    logger.info("wrote %s and %s", html_path, json_path)
    return html_path
