"""Check every headline number of docs/BENCHMARKS.md against the results JSON that produced it.

``python bench/audit_docs.py [--markdown]``. Each claim names the number as the document prints it,
the results file under ``bench/results/``, the key path inside it and the script that writes that
file. The check fails (exit 1) when the file or key is missing, when the JSON value, rounded as the
document rounds it, differs from the printed number, or when the printed number no longer appears in
docs/BENCHMARKS.md. ``--markdown`` prints the audit table that docs/BENCHMARKS.md carries, with
whether each results file has a provenance record (``bench/_provenance.py``) and from which commit.

It also lists every ``bench/results/*.json`` whose numbers are not tied to a commit: files with no
provenance record at all, and merged files (one entry per dataset or run, written by several
invocations) where some entries carry their own record and others do not. ``--provenance`` prints only
that list; ``--strict-provenance`` makes such files a failure too.

The exploration section (``bench/simulate.py``) is audited by its owner's write-up
(docs/benchmarks/exploration.md) and is not listed here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "BENCHMARKS.md"


@dataclass(frozen=True)
class Claim:
    """A number as printed in docs/BENCHMARKS.md and where it comes from."""

    section: str
    what: str
    printed: str
    file: str
    path: str  # "/"-separated keys; list items by index
    script: str
    scale: float = 1.0  # e.g. 100 for a percentage
    transform: Callable[[Any], float] | None = None

    def value(self) -> float:
        node: Any = json.loads((RESULTS / self.file).read_text())
        for key in self.path.split("/"):
            node = node[int(key)] if isinstance(node, list) else node[key]
        return float(self.transform(node) if self.transform else node) * self.scale

    def grouped(self) -> str:
        """The printed number with thousands separators, as the docs write large numbers (13,311)."""
        whole, dot, frac = self.printed.partition(".")
        return f"{int(whole):,}{dot}{frac}" if whole.isdigit() else self.printed

    def matches(self, value: float) -> bool:
        decimals = len(self.printed.split(".")[1]) if "." in self.printed else 0
        return abs(round(value, decimals) - float(self.printed)) < 0.5 * 10**-decimals + 1e-12


def _row(model: str) -> Callable[[Any], float]:
    def pick(rows: Any) -> float:
        return float(next(r for r in rows if r["model"] == model)["ndcg@10"])

    return pick


def _where(**match: Any) -> Callable[[Any], dict[str, Any]]:
    def pick(rows: Any) -> dict[str, Any]:
        row: dict[str, Any] = next(r for r in rows if all(r[k] == v for k, v in match.items()))
        return row

    return pick


def _dp_claim(dataset: str, epsilon: str, printed: str) -> Claim:
    """Test NDCG@10 of the DP sweep's trained SASRec at ``epsilon`` (as ``dp_summary.json`` spells it)."""
    label = "∞" if epsilon == "inf" else f"{float(epsilon):g}"
    return Claim(
        "privacy",
        f"DP-SGD SASRec (trained settings) NDCG@10, {dataset}, ε = {label}",
        printed,
        "dp_summary.json",
        "summary",
        "python bench/dp.py --plot-only",
        transform=lambda rows: _where(dataset=dataset, model="sasrec", profile="trained", epsilon=epsilon)(
            rows
        )["ndcg@10_mean"],
    )


def _relative_gain(entry: Any) -> float:
    return float(entry["mean_diff"] / entry["mean_b"])


def _fewshot(model: str, k: int) -> Callable[[Any], float]:
    def pick(rows: Any) -> float:
        return float(next(r for r in rows if r["model"] == model and r["k"] == k)["ndcg@10"])

    return pick


BASE = "python bench/baselines.py"
NEURAL_S = "python bench/neural.py scientific"
LM = "python bench/cold_start.py"
PEERS = "python bench/peers/compare_recbole.py --dataset amazon-scientific"
IMPL = "python bench/peers/compare_implicit.py"
SOCKETS = "python bench/service_load.py --concurrency 1,4,8,16 --worker-sockets {mode} --recall-users 0"
LOAD3 = (
    "python bench/service_load.py --concurrency {c} --recall-users 0"
    " --out bench/results/service_load_session3_{f}.json"
)
ML = "datasets/movielens-100k/results"
SC = "datasets/amazon-scientific/results"
CLAIMS: list[Claim] = [
    # foundation
    Claim(
        "foundation", "ml-100k EASE NDCG@10", "0.3326", "baselines.json", f"{ML}/ease/metrics/ndcg@10", BASE
    ),
    Claim(
        "foundation",
        "ml-100k EASE Recall@10",
        "0.2742",
        "baselines.json",
        f"{ML}/ease/metrics/recall@10",
        BASE,
    ),
    Claim(
        "foundation",
        "ml-100k item-kNN NDCG@10",
        "0.2957",
        "baselines.json",
        f"{ML}/itemknn/metrics/ndcg@10",
        BASE,
    ),
    Claim(
        "foundation",
        "ml-100k popularity NDCG@10",
        "0.1349",
        "baselines.json",
        f"{ML}/popularity/metrics/ndcg@10",
        BASE,
    ),
    Claim(
        "foundation",
        "Scientific EASE NDCG@10",
        "0.0933",
        "baselines.json",
        f"{SC}/ease/metrics/ndcg@10",
        BASE,
    ),
    Claim(
        "foundation",
        "Scientific EASE Recall@10",
        "0.1312",
        "baselines.json",
        f"{SC}/ease/metrics/recall@10",
        BASE,
    ),
    Claim(
        "foundation",
        "Scientific item-kNN NDCG@10",
        "0.0891",
        "baselines.json",
        f"{SC}/itemknn/metrics/ndcg@10",
        BASE,
    ),
    Claim(
        "foundation",
        "evaluation, 10k x 10k, end to end (s; load 4-5, niced)",
        "2.42",
        "evaluation_speed.json",
        "median_seconds/evaluate",
        "python bench/evaluation_speed.py",
    ),
    Claim(
        "foundation",
        "evaluation, scoring part (s; load 4-5, niced)",
        "0.18",
        "evaluation_speed.json",
        "median_seconds/score_only",
        "python bench/evaluation_speed.py",
    ),
    Claim(
        "foundation",
        "load ml-latest-small (CPU s)",
        "0.09",
        "loader_speed.json",
        "results",
        "python bench/loader_speed.py",
        transform=lambda rows: _where(dataset="movielens-latest-small")(rows)["cpu_median_s"],
    ),
    Claim(
        "foundation",
        "load amazon-scientific (CPU s)",
        "0.27",
        "loader_speed.json",
        "results",
        "python bench/loader_speed.py",
        transform=lambda rows: _where(dataset="amazon-scientific")(rows)["cpu_median_s"],
    ),
    Claim(
        "foundation",
        "load ml-latest-small (wall s; load 4-5, niced)",
        "0.35",
        "loader_speed.json",
        "results",
        "python bench/loader_speed.py",
        transform=lambda rows: _where(dataset="movielens-latest-small")(rows)["wall_median_s"],
    ),
    Claim(
        "foundation",
        "load amazon-scientific (wall s; load 4-5, niced)",
        "1.06",
        "loader_speed.json",
        "results",
        "python bench/loader_speed.py",
        transform=lambda rows: _where(dataset="amazon-scientific")(rows)["wall_median_s"],
    ),
    # large-model features
    Claim(
        "language model",
        "cold Scientific textknn-tuned, profile mix, NDCG@10 (3-seed mean; before the kernel)",
        "0.0689",
        "cold_start_tuned_profile.json",
        "results/ndcg@10_mean",
        LM + " --part tuned (at dab7160; renamed from cold_start_tuned.json)",
    ),
    Claim(
        "language model",
        "cold Scientific textknn-tuned, kernel mix, NDCG@10 (3-seed mean)",
        "0.0927",
        "cold_start_tuned.json",
        "results/ndcg@10_mean",
        LM + " --part tuned",
    ),
    Claim(
        "language model",
        "cold Scientific textknn, kernel scoring (zero-shot) NDCG@10",
        "0.0928",
        "cold_start_tuned.json",
        "results/textknn_kernel/ndcg@10",
        LM + " --part tuned",
    ),
    Claim(
        "language model",
        "cold Scientific textknn NDCG@10",
        "0.0621",
        "cold_start_cold_baselines.json",
        "results/amazon-scientific/rows",
        LM + " --part cold",
        transform=_row("textknn"),
    ),
    Claim(
        "language model",
        "cold Scientific lm-adapter NDCG@10",
        "0.0279",
        "cold_start_cold_adapter_amazon.json",
        "results/amazon-scientific/rows",
        LM + " --part cold",
        transform=_row("lm-adapter"),
    ),
    Claim(
        "language model",
        "cold ml-latest-small lm-adapter NDCG@10",
        "0.0098",
        "cold_start_cold_adapter_movielens.json",
        "results/movielens-latest-small/rows",
        LM + " --part cold --datasets movielens-latest-small --models lm-adapter --threads 1"
        " --suffix _adapter_movielens",
        transform=_row("lm-adapter"),
    ),
    Claim(
        "language model",
        "warm Scientific textknn NDCG@10",
        "0.0659",
        "cold_start_warm_baselines.json",
        "results/amazon-scientific/rows",
        LM + " --part warm",
        transform=_row("textknn"),
    ),
    Claim(
        "language model",
        "few-shot k=1 lm-adapter NDCG@10",
        "0.0734",
        "cold_start_fewshot_adapter.json",
        "results/amazon-scientific",
        LM + " --part fewshot",
        transform=_fewshot("lm-adapter", 1),
    ),
    Claim(
        "language model",
        "encode, plain sentence-transformers (texts/s)",
        "212",
        "encode_throughput.json",
        "encode/plain/texts_per_second",
        "python bench/encode_throughput.py --n-items 5000 --rounds 3",
    ),
    Claim(
        "language model",
        "encode, explorec 2 threads (texts/s)",
        "219",
        "encode_throughput.json",
        "encode/explorec[threads=2]/texts_per_second",
        "python bench/encode_throughput.py --n-items 5000 --rounds 3",
    ),
    Claim(
        "language model",
        "re-embed unchanged catalogue from cache (s)",
        "0.04",
        "encode_throughput.json",
        "cache/unchanged_reembed_seconds",
        "python bench/encode_throughput.py --n-items 5000 --rounds 3",
    ),
    # neural models
    Claim(
        "neural",
        "SASRec ID+text+adversarial NDCG@10",
        "0.0855",
        "neural_scientific.json",
        "runs/sasrec-id+text+adv-w1-e0.6/metrics/ndcg@10",
        NEURAL_S,
    ),
    Claim(
        "neural",
        "SASRec ID+text NDCG@10",
        "0.0796",
        "neural_scientific.json",
        "runs/sasrec-id+text/metrics/ndcg@10",
        NEURAL_S,
    ),
    Claim(
        "neural",
        "SASRec ID NDCG@10",
        "0.0677",
        "neural_scientific.json",
        "runs/sasrec-id/metrics/ndcg@10",
        NEURAL_S,
    ),
    Claim(
        "neural",
        "two-tower ID+text NDCG@10",
        "0.0668",
        "neural_scientific.json",
        "runs/two-tower-id+text/metrics/ndcg@10",
        NEURAL_S,
    ),
    Claim(
        "neural",
        "Beauty SASRec NDCG@10",
        "0.0494",
        "neural_compare_amazon-beauty.json",
        "runs/sasrec-id/metrics/ndcg@10",
        "python bench/neural.py compare --dataset amazon-beauty",
    ),
    Claim(
        "neural",
        "S3-Rec Beauty SASRec+SS 2 blocks NDCG@10 (3-seed mean)",
        "0.0495",
        "neural_s3rec_amazon-beauty.json",
        "summary/sasrec-ss-batch2048-2b-d0.5/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-beauty",
    ),
    Claim(
        "neural",
        "S3-Rec Beauty SASRec+SS 2 blocks random batches NDCG@10 (3-seed mean)",
        "0.0548",
        "neural_s3rec_amazon-beauty.json",
        "summary/sasrec-ss-batch2048-2b-d0.5-random/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-beauty --runs sasrec-ss-batch2048-2b-d0.5-random",
    ),
    Claim(
        "neural",
        "S3-Rec Beauty SASRec+SS 4,096 negatives random batches NDCG@10 (3-seed mean)",
        "0.0559",
        "neural_s3rec_amazon-beauty.json",
        "summary/sasrec-ss-batch4096-2b-d0.5-random/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-beauty --runs sasrec-ss-batch4096-2b-d0.5-random",
    ),
    Claim(
        "neural",
        "S3-Rec Toys SASRec+SS 2 blocks random batches NDCG@10 (3-seed mean)",
        "0.0618",
        "neural_s3rec_amazon-toys.json",
        "summary/sasrec-ss-batch2048-2b-d0.5-random/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-toys --runs sasrec-ss-batch2048-2b-d0.5-random",
    ),
    Claim(
        "neural",
        "S3-Rec Sports SASRec+SS 2 blocks random batches NDCG@10 (3-seed mean)",
        "0.0305",
        "neural_s3rec_amazon-sports.json",
        "summary/sasrec-ss-batch2048-2b-d0.5-random/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-sports --runs sasrec-ss-batch2048-2b-d0.5-random",
    ),
    Claim(
        "neural",
        "S3-Rec Sports SASRec+SS 4,096 negatives random batches NDCG@10 (3-seed mean)",
        "0.0314",
        "neural_s3rec_amazon-sports.json",
        "summary/sasrec-ss-batch4096-2b-d0.5-random/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-sports --runs sasrec-ss-batch4096-2b-d0.5-random",
    ),
    Claim(
        "neural",
        "S3-Rec Sports SASRec+SS 4,096 negatives ID+attributes NDCG@10 (3-seed mean)",
        "0.0332",
        "neural_s3rec_amazon-sports.json",
        "summary/sasrec-ss-batch4096-2b-d0.5-random-attr/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-sports --runs sasrec-ss-batch4096-2b-d0.5-random-attr",
    ),
    Claim(
        "neural",
        "S3-Rec Sports SASRec+SS 8,192 negatives ID+attributes NDCG@10 (seed 0 probe)",
        "0.0333",
        "neural_s3rec_amazon-sports.json",
        "runs/sasrec-ss-batch8192-2b-d0.5-random-attr-s0/metrics/ndcg@10",
        "python bench/neural.py s3rec --dataset amazon-sports --runs sasrec-ss-batch8192-2b-d0.5-random-attr",
    ),
    Claim(
        "neural",
        "S3-Rec Beauty SASRec+SS 4,096 negatives ID+attributes NDCG@10 (3-seed mean)",
        "0.0580",
        "neural_s3rec_amazon-beauty.json",
        "summary/sasrec-ss-batch4096-2b-d0.5-random-attr/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-beauty --runs sasrec-ss-batch4096-2b-d0.5-random-attr",
    ),
    Claim(
        "neural",
        "S3-Rec Toys SASRec+SS 4,096 negatives ID+attributes NDCG@10 (seed 0 probe)",
        "0.0643",
        "neural_s3rec_amazon-toys.json",
        "runs/sasrec-ss-batch4096-2b-d0.5-random-attr-s0/metrics/ndcg@10",
        "python bench/neural.py s3rec --dataset amazon-toys --runs sasrec-ss-batch4096-2b-d0.5-random-attr",
    ),
    Claim(
        "neural",
        "SASRec training step, padded over length groups",
        "3.2",
        "sasrec_groups.json",
        "ratio_padded_over_grouped",
        "python bench/sasrec_groups.py --steps 20",
    ),
    Claim(
        "neural",
        "S3-Rec Toys SASRec+SS 2 blocks NDCG@10 (3-seed mean)",
        "0.0558",
        "neural_s3rec_amazon-toys.json",
        "summary/sasrec-ss-batch2048-2b-d0.5/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-toys",
    ),
    Claim(
        "neural",
        "S3-Rec Sports SASRec+SS 2 blocks NDCG@10 (3-seed mean)",
        "0.0264",
        "neural_s3rec_amazon-sports.json",
        "summary/sasrec-ss-batch2048-2b-d0.5/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-sports",
    ),
    Claim(
        "neural",
        "S3-Rec Toys SASRec+SS 1 block NDCG@10 (3-seed mean)",
        "0.0503",
        "neural_s3rec_amazon-toys.json",
        "summary/sasrec-ss-batch2048/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-toys",
    ),
    Claim(
        "neural",
        "S3-Rec Sports SASRec+SS 1 block NDCG@10 (3-seed mean)",
        "0.0228",
        "neural_s3rec_amazon-sports.json",
        "summary/sasrec-ss-batch2048/ndcg@10/mean",
        "python bench/neural.py s3rec --dataset amazon-sports",
    ),
    Claim(
        "neural",
        "Beauty SASRec CPU s per epoch beside RecBole (explorec)",
        "21.9",
        "peers_recbole_amazon-beauty.json",
        "timing/explorec/median_cpu_seconds_per_epoch",
        "python bench/peers/compare_recbole.py --dataset amazon-beauty --models sasrec --skip-accuracy",
    ),
    Claim(
        "neural",
        "Beauty SASRec CPU s per epoch beside explorec (RecBole)",
        "136.0",
        "peers_recbole_amazon-beauty.json",
        "timing/recbole/median_cpu_seconds_per_epoch",
        "python bench/peers/compare_recbole.py --dataset amazon-beauty --models sasrec --skip-accuracy",
    ),
    Claim(
        "neural",
        "ml-latest-small SASRec NDCG@10",
        "0.0508",
        "neural_compare_movielens-latest-small.json",
        "runs/sasrec-id/metrics/ndcg@10",
        "python bench/neural.py compare --dataset movielens-latest-small",
    ),
    Claim(
        "neural",
        "ml-100k SASRec NDCG@10",
        "0.0870",
        "neural_compare_movielens-100k.json",
        "runs/sasrec-id/metrics/ndcg@10",
        "python bench/neural.py compare --dataset movielens-100k --threads 1",
    ),
    Claim(
        "neural",
        "threads: 1 torch thread, s/epoch",
        "2.7",
        "neural_threads.json",
        "threads/1/median_seconds_per_epoch",
        "python bench/neural.py threads --epochs 4",
    ),
    Claim(
        "neural",
        "threads: 2 torch threads, s/epoch",
        "2.0",
        "neural_threads.json",
        "threads/2/median_seconds_per_epoch",
        "python bench/neural.py threads --epochs 4",
    ),
    # off-policy evaluation, active learning, diversity
    Claim(
        "exploration (OPE)",
        "OBD DM relative error",
        "0.186",
        "ope_obd.json",
        "campaigns/all/estimators/dm/relative_error_mean",
        "python bench/ope_obd.py",
    ),
    Claim(
        "exploration (OPE)",
        "OBD IPS relative error",
        "0.374",
        "ope_obd.json",
        "campaigns/all/estimators/ips/relative_error_mean",
        "python bench/ope_obd.py",
    ),
    Claim(
        "diversity",
        "DPP k=10 of 500, median (ms; load 22-37, niced)",
        "0.42",
        "rerank_latency.json",
        "results",
        "python bench/rerank_latency.py",
        scale=1e-3,
        transform=lambda rows: _where(method="DPP end-to-end", n_candidates=500)(rows)["median_us"],
    ),
    Claim(
        "diversity",
        "served fusion NDCG@10, Scientific",
        "0.1030",
        "fusion_served.json",
        "rows/fusion (explorec train, loaded)/ndcg@10",
        "python bench/fusion_served.py",
    ),
    Claim(
        "diversity",
        "served fusion vs EASE, Scientific (%)",
        "10.4",
        "fusion_served.json",
        "paired_vs_ease/fusion (weights on valid)",
        "python bench/fusion_served.py",
        scale=100,
        transform=_relative_gain,
    ),
    Claim(
        "diversity",
        "weighted fusion vs EASE, Scientific (%)",
        "10.4",
        "fusion_debias.json",
        "datasets/amazon-scientific/fusion/paired_vs_best_single/Weighted (w=0.4)",
        "python bench/fusion_debias.py",
        scale=100,
        transform=_relative_gain,
    ),
    Claim(
        "exploration (active learning)",
        "random questions, NDCG@10 after 10",
        "0.217",
        "active_learning.json",
        "results/random/10/ndcg@10",
        "python bench/active_learning.py",
    ),
    # Ray backend (issue 16.1, bench/ray_backend.py)
    Claim(
        "ray",
        "SASRec NDCG@10, single process, mean of 3 seeds",
        "0.0374",
        "ray_backend_train.json",
        "summary/local/ndcg@10_mean",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "SASRec NDCG@10 std, single process",
        "0.0021",
        "ray_backend_train.json",
        "summary/local/ndcg@10_std",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "SASRec NDCG@10, Ray Train DDP 2 workers, mean of 3 seeds",
        "0.0372",
        "ray_backend_train.json",
        "summary/ray[2]/ndcg@10_mean",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "MiniLM texts/s, Ray 2 actors",
        "6.2",
        "ray_backend_embed.json",
        "suites/minilm/arms/ray[2]/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "hashing texts/s, Ray 2 actors",
        "403.4",
        "ray_backend_embed.json",
        "suites/hashing/arms/ray[2]/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "1 M hashed texts, single-process encode CPU s",
        "98.1",
        "ray_backend_embed_hashing1m.json",
        "suites/hashing/arms/local/cpu/0/encode_cpu_seconds",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "1 M hashed texts, Ray 2 actors, wall s",
        "446.1",
        "ray_backend_embed_hashing1m.json",
        "suites/hashing/arms/ray[2]/median_seconds",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "1 M hashed texts, Ray 2 actors, wall s (actors at the benchmark's niceness)",
        "94.35",
        "ray_backend_embed_hashing1m_niceness0.json",
        "suites/hashing/arms/ray[2]/median_seconds",
        "bench/ray_backend.py",
    ),
    # Compression on 1 M synthetic vectors (issue 16.2b, bench/compression.py --part synthetic)
    Claim(
        "compression",
        "1 M synthetic, sq8 recall@10 (200 queries)",
        "0.9645",
        "compression_synthetic.json",
        "synthetic",
        "bench/compression.py",
        transform=lambda rows: _where(index="faiss sq8")(rows)["recall@10"],
    ),
    Claim(
        "compression",
        "1 M synthetic, ivf-pq pq_m 192 recall@10",
        "0.6665",
        "compression_synthetic.json",
        "synthetic",
        "bench/compression.py",
        transform=lambda rows: _where(index="faiss ivf-pq", search={"nprobe": 16, "refine_k": 1})(rows)[
            "recall@10"
        ],
    ),
    Claim(
        "compression",
        "1 M synthetic, ivf-pq pq_m 192 + int8 re-ranking (8 per result) recall@10",
        "0.962",
        "compression_synthetic.json",
        "synthetic",
        "bench/compression.py",
        transform=lambda rows: _where(
            index="faiss ivf-pq + refine sq8", search={"nprobe": 16, "refine_k": 8}
        )(rows)["recall@10"],
    ),
    Claim(
        "ray",
        "MiniLM 25,000 texts, idle, Ray 2 actors: texts/s",
        "89.4",
        "ray_backend_embed_minilm25k.json",
        "suites/minilm/arms/ray[2]/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "MiniLM 25,000 texts, idle, single process: texts/s",
        "52.2",
        "ray_backend_embed_minilm25k.json",
        "suites/minilm/arms/local/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "MiniLM 100,000 texts, Ray 2 actors: texts/s",
        "88.3",
        "ray_backend_embed_minilm100k.json",
        "suites/minilm/arms/ray[2]/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "MiniLM 100,000 texts, Ray 1 actor: texts/s",
        "48.4",
        "ray_backend_embed_minilm100k.json",
        "suites/minilm/arms/ray[1]/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "MiniLM 100,000 texts, single process: texts/s",
        "50.1",
        "ray_backend_embed_minilm100k.json",
        "suites/minilm/arms/local/texts_per_second",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "1 M hashed texts, idle, Ray 2 actors: wall s",
        "54.3",
        "ray_backend_embed_hashing1m_idle.json",
        "suites/hashing/arms/ray[2]/median_seconds",
        "bench/ray_backend.py",
    ),
    Claim(
        "ray",
        "1 M hashed texts, idle, single process: wall s",
        "73.1",
        "ray_backend_embed_hashing1m_idle.json",
        "suites/hashing/arms/local/median_seconds",
        "bench/ray_backend.py",
    ),
    # differential privacy (issue 16): the trained sweep
    *(
        _dp_claim(dataset, epsilon, printed)
        for dataset, epsilon, printed in [
            ("amazon-scientific", "inf", "0.0654"),
            ("amazon-scientific", "1.0", "0.0137"),
            ("amazon-scientific", "8.0", "0.0186"),
            ("movielens-latest-small", "inf", "0.0448"),
        ]
    ),
    # online service (issue 12): the idle runs of 2026-12-03
    Claim(
        "service",
        "recommend, 4 connections, 2026-12-03 run 2: requests/s",
        "533",
        "service_load_session3_run2.json",
        "recommend/1/requests_per_s",
        LOAD3.format(c="2,4,6,8", f="run2"),
    ),
    Claim(
        "service",
        "recommend, 4 connections, 2026-12-03 run 2: p99 ms",
        "23.3",
        "service_load_session3_run2.json",
        "recommend/1/p99_ms",
        LOAD3.format(c="2,4,6,8", f="run2"),
    ),
    Claim(
        "service",
        "recommend, 4 connections, 2026-12-03 run 6 (settled): p99 ms",
        "17.7",
        "service_load_session3_settled2.json",
        "recommend/0/p99_ms",
        LOAD3.format(c="4,8", f="settled2"),
    ),
    Claim(
        "service",
        "events in batches of 1,000, 2026-12-03 run 5 (settled): events/s",
        "37405",
        "service_load_session3_settled1.json",
        "events_batch_ingest/events_per_s",
        LOAD3.format(c="1,4,8,16", f="settled1"),
    ),
    Claim(
        "service",
        "events in batches of 1,000, 2026-12-03 run 6 (settled): events/s",
        "23872",
        "service_load_session3_settled2.json",
        "events_batch_ingest/events_per_s",
        LOAD3.format(c="4,8", f="settled2"),
    ),
    Claim(
        "service",
        "events in batches of 1,000, 2026-12-03 run 1 (back to back): events/s",
        "13259",
        "service_load_session3_run1.json",
        "events_batch_ingest/events_per_s",
        "python bench/service_load.py --out bench/results/service_load_session3_run1.json",
    ),
    Claim(
        "service",
        "single-event requests, 64 connections, 2026-12-03 run 2: requests/s",
        "2023",
        "service_load_session3_run2.json",
        "events_single_levels/1/requests_per_s",
        LOAD3.format(c="2,4,6,8", f="run2"),
    ),
    Claim(
        "service",
        "single-event requests, 64 connections, 2026-12-03 run 5: requests/s",
        "2176",
        "service_load_session3_settled1.json",
        "events_single_levels/1/requests_per_s",
        LOAD3.format(c="1,4,8,16", f="settled1"),
    ),
    Claim(
        "service",
        "single events, 16 connections, 2026-12-03 run 5 (settled): p99 ms",
        "97",
        "service_load_session3_settled1.json",
        "events_single_levels/0/p99_ms",
        LOAD3.format(c="1,4,8,16", f="settled1"),
    ),
    # online service (issue 12): the lead's idle runs, wrk
    Claim(
        "service",
        "recommend, 4 connections, run 2: requests/s",
        "407",
        "service_load_concurrency.json",
        "recommend/1/requests_per_s",
        "python bench/service_load.py --concurrency 2,4,6,8",
    ),
    Claim(
        "service",
        "recommend, 4 connections, run 2: p99 ms",
        "23.0",
        "service_load_concurrency.json",
        "recommend/1/p99_ms",
        "python bench/service_load.py --concurrency 2,4,6,8",
    ),
    Claim(
        "service",
        "recommend, 8 connections, run 1: requests/s",
        "435",
        "service_load.json",
        "recommend/1/requests_per_s",
        "python bench/service_load.py",
    ),
    Claim(
        "service",
        "events in batches of 1,000, run 1: events/s",
        "13311",
        "service_load.json",
        "events_batch_ingest/events_per_s",
        "python bench/service_load.py",
    ),
    Claim(
        "service",
        "single-event requests, run 1: requests/s",
        "1401",
        "service_load.json",
        "events_single_ingest/requests_per_s",
        "python bench/service_load.py",
    ),
    Claim(
        "service",
        "events in batches of 1,000, 2026-12-01 run: events/s",
        "17088",
        "service_load_run4.json",
        "events_batch_ingest/events_per_s",
        "python bench/service_load.py --concurrency 1,4,8,16 --out bench/results/service_load_run4.json",
    ),
    Claim(
        "service",
        "single-event requests, 64 connections, 2026-12-01 run: requests/s",
        "1421",
        "service_load_run4.json",
        "events_single_levels/1/requests_per_s",
        "python bench/service_load.py --concurrency 1,4,8,16 --out bench/results/service_load_run4.json",
    ),
    Claim(
        "service",
        "recommend, 16 connections, one SO_REUSEPORT socket per worker (run 3): requests/s",
        "260",
        "service_sockets_3_reuseport.json",
        "recommend/3/requests_per_s",
        SOCKETS.format(mode="reuseport"),
    ),
    Claim(
        "service",
        "recommend, 16 connections, one shared socket (run 4): requests/s",
        "126",
        "service_sockets_4_shared.json",
        "recommend/3/requests_per_s",
        SOCKETS.format(mode="shared"),
    ),
    Claim(
        "service",
        "events in batches, side by side: server CPU ms per 1,000, now",
        "36.1",
        "service_compare_readback.json",
        "summary_medians/event batches c=2/current/server_cpu_ms_per_request",
        "python bench/service_compare.py --baseline-src DIR --recommend-concurrency 1,4,8",
    ),
    Claim(
        "service",
        "events in batches, side by side: server CPU ms per 1,000, 144d14d",
        "48.9",
        "service_compare_readback.json",
        "summary_medians/event batches c=2/144d14d/server_cpu_ms_per_request",
        "python bench/service_compare.py --baseline-src DIR --recommend-concurrency 1,4,8",
    ),
    Claim(
        "service",
        "recommend, 32 connections, one compute thread: p99 ms, now",
        "166",
        "service_compare_compute.json",
        "summary_medians/recommend c=32/current/p99_ms",
        "python bench/service_compare.py --baseline-src DIR --baseline-label ea09831 --n-items 20000",
    ),
    Claim(
        "service",
        "recommend, 32 connections, one compute thread: p99 ms, ea09831",
        "311",
        "service_compare_compute.json",
        "summary_medians/recommend c=32/ea09831/p99_ms",
        "python bench/service_compare.py --baseline-src DIR --baseline-label ea09831 --n-items 20000",
    ),
    Claim(
        "service",
        "recommend, 8 connections, one compute thread: requests/s, now",
        "339",
        "service_compare_compute.json",
        "summary_medians/recommend c=8/current/requests_per_s",
        "python bench/service_compare.py --baseline-src DIR --baseline-label ea09831 --n-items 20000",
    ),
    Claim(
        "service",
        "single events, 16 connections, one compute thread: p99 ms, now",
        "24",
        "service_compare_compute.json",
        "summary_medians/single events c=16/current/p99_ms",
        "python bench/service_compare.py --baseline-src DIR --baseline-label ea09831 --n-items 20000",
    ),
    Claim(
        "service",
        "single events, 64 connections, one compute thread: requests/s, now",
        "2007",
        "service_compare_compute.json",
        "summary_medians/single events c=64/current/requests_per_s",
        "python bench/service_compare.py --baseline-src DIR --baseline-label ea09831 --n-items 20000",
    ),
    Claim(
        "service",
        "HNSW recall of the exact top-100 candidates (%)",
        "94.2",
        "service_load.json",
        "recall/recall_at_candidates",
        "python bench/service_load.py",
        scale=100,
    ),
]


def peer_claims() -> list[Claim]:
    """The peers' headline numbers, present once bench/peers has written its results."""
    out = []
    # the Scientific comparison ran as four invocations (timing; SASRec; BPR + LightGCN; explorec)
    for rb in sorted(RESULTS.glob("peers_recbole_amazon-scientific*.json")):
        doc = json.loads(rb.read_text())
        for run in (
            "recbole-sasrec",
            "recbole-bpr",
            "recbole-lightgcn",
            "explorec-sasrec-id",
            "explorec-ease",
        ):
            if run in doc.get("runs", {}):
                value = doc["runs"][run]["metrics"]["ndcg@10"]
                out.append(
                    Claim(
                        "peers",
                        f"{run} NDCG@10 (Scientific)",
                        f"{value:.4f}",
                        rb.name,
                        f"runs/{run}/metrics/ndcg@10",
                        PEERS,
                    )
                )
        if doc.get("timing"):
            for lib in ("recbole", "explorec"):
                value = doc["timing"][lib]["median_cpu_seconds_per_epoch"]
                out.append(
                    Claim(
                        "peers",
                        f"{lib} SASRec CPU s/epoch (Scientific)",
                        f"{value:.1f}",
                        rb.name,
                        f"timing/{lib}/median_cpu_seconds_per_epoch",
                        PEERS,
                    )
                )
    im = RESULTS / "peers_implicit.json"
    if im.is_file():
        doc = json.loads(im.read_text())
        for ds, entry in doc.get("datasets", {}).items():
            for run in ("implicit-als", "implicit-bpr"):
                if run in entry.get("runs", {}):
                    value = entry["runs"][run]["metrics"]["ndcg@10"]
                    path = f"datasets/{ds}/runs/{run}/metrics/ndcg@10"
                    out.append(Claim("peers", f"{run} NDCG@10 ({ds})", f"{value:.4f}", im.name, path, IMPL))
    return out


#: keys under which merged results files keep one entry per dataset or run
ENTRY_KEYS = ("datasets", "runs", "earlier_runs")


def record_and_gaps(doc: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The provenance record that describes ``doc``, and its entries that no record ties to a commit.

    A merged file (``bench/neural.py``, ``bench/service_simulate.py``, ``--append`` runs) keeps one
    entry per dataset or run, written by several invocations; once any entry carries its own record,
    the top-level one belongs to the last invocation only, so every entry must carry its own.
    """
    if not isinstance(doc, dict):
        return None, []
    entries = {
        f"{key}/{name}": entry
        for key in ENTRY_KEYS
        if isinstance(doc.get(key), dict)
        for name, entry in doc[key].items()
        if isinstance(entry, dict)
    }
    own = [entry["provenance"] for entry in entries.values() if entry.get("provenance")]
    record = doc.get("provenance") or (own[-1] if own else None)
    if not own:
        return record, []
    return record, sorted(name for name, entry in entries.items() if not entry.get("provenance"))


def provenance_gaps(results: Path = RESULTS) -> list[tuple[str, str]]:
    """``(file, what is missing)`` for every results JSON whose numbers are not all tied to a commit."""
    gaps = []
    for path in sorted(results.glob("*.json")):
        try:
            record, untied = record_and_gaps(json.loads(path.read_text()))
        except (OSError, ValueError) as err:
            gaps.append((path.name, f"unreadable ({type(err).__name__}: {err})"))
            continue
        if record is None:
            gaps.append((path.name, "no provenance record"))
        elif untied:
            gaps.append((path.name, "entries without a record of their own: " + ", ".join(untied)))
    return gaps


def provenance(file: str) -> str:
    record, untied = record_and_gaps(json.loads((RESULTS / file).read_text()))
    if record is None:
        return "none (made before bench/_provenance.py)"
    git = record.get("git", {})
    commit = (git.get("commit") or "?")[:7]
    text = f"{commit}{' (dirty)' if git.get('dirty') else ''}, load {record['load_average_start'][0]}"
    return text + (f"; {len(untied)} entries without a record" if untied else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--markdown", action="store_true", help="print the audit table for docs/BENCHMARKS.md"
    )
    parser.add_argument(
        "--provenance", action="store_true", help="only list the results files not tied to a commit"
    )
    parser.add_argument(
        "--strict-provenance",
        action="store_true",
        help="exit 1 also when a results file has no provenance record",
    )
    args = parser.parse_args()
    gaps = provenance_gaps()
    if args.provenance:
        for file, what in gaps:
            print(f"{file}: {what}")
        print(f"{len(gaps)} results files not tied to a commit", file=sys.stderr)
        return 1 if gaps and args.strict_provenance else 0
    doc = DOC.read_text()
    failures = 0
    rows = []
    for claim in CLAIMS + peer_claims():
        try:
            value = claim.value()
            status = "ok" if claim.matches(value) else f"MISMATCH (JSON {value:.6g})"
        except (OSError, KeyError, IndexError, StopIteration, ValueError) as err:
            status = f"MISSING ({type(err).__name__}: {err})"
        if status == "ok" and claim.printed not in doc and claim.grouped() not in doc:
            status = "not in docs/BENCHMARKS.md"
        failures += status != "ok"
        rows.append((claim, status))
    if args.markdown:
        print("| section | number | as printed | results file (key) | script | provenance | check |")
        print("|---|---|---:|---|---|---|---|")
        for c, status in rows:
            prov = provenance(c.file) if (RESULTS / c.file).is_file() else "-"
            where = f"`{c.file}` (`{c.path}`)"
            print(f"| {c.section} | {c.what} | {c.printed} | {where} | `{c.script}` | {prov} | {status} |")
    else:
        for c, status in rows:
            print(f"{status:<12} {c.section:<28} {c.what:<45} {c.printed:>8}  {c.file}")
    if args.markdown:
        print("\nResults files not tied to a commit (`python bench/audit_docs.py --provenance`):\n")
        for file, what in gaps:
            print(f"* `{file}`: {what}")
    else:
        for file, what in gaps:
            print(f"{'NO PROVENANCE':<12} {file}: {what}")
    print(f"{len(rows) - failures} of {len(rows)} numbers check out", file=sys.stderr)
    print(f"{len(gaps)} results files not tied to a commit", file=sys.stderr)
    if args.strict_provenance and gaps:
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
