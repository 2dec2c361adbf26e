"""The served fusion (registry name ``fusion``) beside the single models on amazon-scientific.

``fusion`` is ``explorec.models.fusion.TunedFusion``: EASE (``l2=50``) + the zero-shot text kNN
(all-MiniLM-L6-v2), per-user min-max normalised, the EASE weight picked on validation from a 0.1 grid;
one registered, saveable model that ``explorec train --model fusion`` builds and the service's
trainer refits and serves (``trainer_model = "fusion"``).

Protocol: amazon-scientific's shipped leave-one-out split; every model fitted on train; the fusion's
weights picked on the validation part (history = train) with ``fit_with_validation``; full-ranking
NDCG@10 / Recall@10 on test (history = train + valid), read once per model; paired t-test and Wilcoxon
over users against EASE. Also measured: the model exactly as ``explorec train --model fusion`` saves it
(no validation part given, so it holds out each user's last training interaction to pick the weights
and then refits on all of train), loaded back with ``explorec.models.saved.load_saved``.

Writes ``bench/results/fusion_served.json``.

    python bench/fusion_served.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance
from explorec.data.registry import load_dataset
from explorec.evaluation import EvaluationResult, evaluate, paired_test
from explorec.models.base import Recommender
from explorec.models.registry import make_model
from explorec.models.saved import load_saved

ROOT = Path(__file__).resolve().parents[1]
DATASET = "amazon-scientific"


def versus(a: EvaluationResult, b: EvaluationResult) -> dict[str, Any]:
    assert np.array_equal(a.users, b.users)
    test = paired_test(a.per_user["ndcg@10"], b.per_user["ndcg@10"])
    return {k: test[k] for k in ("mean_a", "mean_b", "mean_diff", "t_pvalue", "wilcoxon_pvalue", "n")}


def main() -> int:
    prov = Provenance()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "/work/shared/datasets"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fusion_served.json"))
    args = parser.parse_args()
    data = load_dataset(DATASET, data_dir=args.data_dir)
    split = data.split
    assert split is not None
    print(f"{DATASET}: {split.summary()}", flush=True)
    results: dict[str, EvaluationResult] = {}
    rows: dict[str, dict[str, Any]] = {}

    def record(label: str, model: Recommender, seconds: float, **extra: Any) -> None:
        result = evaluate(model, split.test, history=split.test_history, k=(10,))
        results[label] = result
        rows[label] = {
            "ndcg@10": round(result.metrics["ndcg@10"], 4),
            "recall@10": round(result.metrics["recall@10"], 4),
            "coverage@10": round(result.metrics["coverage@10"], 4),
            "fit_seconds": round(seconds, 1),
            **extra,
        }
        print(f"  {label:<34} {json.dumps(rows[label])}", flush=True)

    for label, name, params in (
        ("popularity", "popularity", {}),
        ("EASE (l2=50)", "ease", {"l2": 50.0}),
        ("textknn (zero-shot MiniLM)", "textknn", {}),
    ):
        t0 = time.perf_counter()
        model = make_model(name, **params).fit(split.train, data.catalog)
        record(label, model, time.perf_counter() - t0)

    t0 = time.perf_counter()
    fusion = make_model("fusion")
    fusion.fit_with_validation(split.train, split.valid, data.catalog)  # type: ignore[attr-defined]
    record(
        "fusion (weights on valid)",
        fusion,
        time.perf_counter() - t0,
        weights=fusion.weights_.tolist(),  # type: ignore[attr-defined]
        valid_grid=dict(
            zip(
                [round(float(c[0]), 2) for c in fusion.candidates_],  # type: ignore[attr-defined]
                np.round(fusion.valid_ndcg_, 4).tolist(),  # type: ignore[attr-defined]
                strict=True,
            )
        ),
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fusion"
        command = [
            sys.executable,
            "-m",
            "explorec",
            "--quiet",
            "train",
            "--dataset",
            DATASET,
            "--data-dir",
            args.data_dir,
            "--model",
            "fusion",
            "--out",
            str(folder),
            "--no-eval",
        ]
        t0 = time.perf_counter()
        subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        seconds = time.perf_counter() - t0
        saved = load_saved(folder)
        record(
            "fusion (explorec train, loaded)",
            saved.model,
            seconds,
            weights=saved.model.weights_.tolist(),  # type: ignore[attr-defined]
            command=" ".join(command[1:]),
        )

    base = results["EASE (l2=50)"]
    paired = {label: versus(r, base) for label, r in results.items() if label != "EASE (l2=50)"}
    for label, t in paired.items():
        print(
            f"  {label} vs EASE: {t['mean_a']:.4f} vs {t['mean_b']:.4f} "
            f"({t['mean_diff'] / t['mean_b']:+.1%}), t p={t['t_pvalue']:.2g}, "
            f"Wilcoxon p={t['wilcoxon_pvalue']:.2g}",
            flush=True,
        )
    payload = {
        "dataset": DATASET,
        "split": split.summary(),
        "rows": rows,
        "paired_vs_ease": paired,
        "provenance": prov.finish(),
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
