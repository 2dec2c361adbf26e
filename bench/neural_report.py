"""Markdown tables from the ``bench/results/neural_*.json`` files written by ``bench/neural.py``.

Run: ``python bench/neural_report.py`` (prints to stdout; the tables of docs/benchmarks/neural.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def runs_table(doc: dict[str, Any]) -> str:
    rows = [
        "| run | NDCG@10 | Recall@10 | NDCG@50 | epochs (best) | valid NDCG@10 | s/epoch wall | s/epoch CPU "
        "| train s to best | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in doc["runs"].items():
        m = r["metrics"]
        neural = "epochs_run" in r
        rows.append(
            f"| {name} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['ndcg@50']:.4f} | "
            + (
                f"{r['epochs_run']} ({r['best_epoch']}) | {r['best_valid_ndcg@10']:.4f} | "
                f"{r['seconds_per_epoch']:.1f} | {r['cpu_seconds_per_epoch']:.1f} | "
                f"{r['train_seconds_to_best']:.0f} | {r['fit_seconds']:.0f} |"
                if neural
                else f"- | - | - | - | - | {r['fit_seconds']:.0f} |"
            )
        )
    return "\n".join(rows)


def significance_table(doc: dict[str, Any], keep: tuple[str, ...] = ()) -> str:
    rows = ["| a vs b | mean NDCG@10 a | b | a - b | t-test p | Wilcoxon p |", "|---|---|---|---|---|---|"]
    for pair, s in doc.get("significance", {}).items():
        if keep and not any(k in pair for k in keep):
            continue
        rows.append(
            f"| {pair} | {s['mean_a']:.4f} | {s['mean_b']:.4f} | {s['mean_diff']:+.4f} | "
            f"{s['t_pvalue']:.2g} | {s['wilcoxon_pvalue']:.2g} |"
        )
    return "\n".join(rows)


def seed_summary_table(doc: dict[str, Any]) -> str:
    """``bench/neural.py s3rec``'s summary: mean ± sd over seeds, and the seed-averaged paired test."""
    summary = doc["summary"]
    best = summary.get("best_baseline_by_valid")
    rows = [
        f"| configuration | seeds | NDCG@10 | Recall@10 | valid NDCG@10 | best epoch | CPU s / epoch "
        f"| seed-mean vs {best} (diff, t-test p) |",
        "|---|---:|---|---|---|---:|---:|---|",
    ]
    for config, r in summary.items():
        if not isinstance(r, dict) or "ndcg@10" not in r:
            continue

        def ms(key: str, digits: int = 4, r: dict[str, Any] = r) -> str:
            if key not in r:
                return "-"
            return f"{r[key]['mean']:.{digits}f} ± {r[key]['sd']:.{digits}f}"

        test = r.get(f"seed-mean vs {best}")
        versus = f"{test['mean_diff']:+.4f}, p = {test['t_pvalue']:.1g}" if test else "-"
        rows.append(
            f"| {config} | {r['n_seeds']} | {ms('ndcg@10')} | {ms('recall@10')} | {ms('best_valid_ndcg@10')} "
            f"| {ms('best_epoch', 0)} | {ms('cpu_seconds_per_epoch', 1)} | {versus} |"
        )
    return "\n".join(rows)


def main() -> None:
    for path in sorted(RESULTS.glob("neural_*.json")):
        doc = json.loads(path.read_text())
        print(f"## {path.name}\n")
        if "runs" in doc:
            print(runs_table(doc), "\n")
            if "significance" in doc:
                print(significance_table(doc), "\n")
            if "summary" in doc:
                print(seed_summary_table(doc), "\n")
        else:
            print(
                "```json\n"
                + json.dumps({k: v for k, v in doc.items() if k != "curve"}, indent=1)[:3000]
                + "\n```\n"
            )


if __name__ == "__main__":
    main()
