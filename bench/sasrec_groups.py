"""SASRec training step on random batches: one padded pass against length groups (``length_groups``).

Random batches (``SASRec(batching="random")``) are padded to their longest sequence. ``SASRecNet.forward``
runs a batch whose lengths differ in four groups at their own widths; this times one training step
(forward, backward, Adam) both ways, interleaved, on batches drawn from Beauty's real training lengths
(S3-Rec split: each user's sequence without its last two items), one torch thread::

    python bench/sasrec_groups.py --steps 30 --out bench/results/sasrec_groups.json

Medians of the interleaved steps; the ratio is the padded median over the grouped one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from _provenance import Provenance
from explorec.models.sasrec import SASRecConfig, SASRecNet

logger = logging.getLogger("bench.sasrec_groups")
DATA = Path(os.environ.get("EXPLOREC_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def beauty_lengths(max_len: int) -> np.ndarray:
    """Training input lengths of Beauty's S3-Rec split (train = all but the last two items)."""
    path = DATA / "amazon-s3rec-sequences" / "Beauty.txt"
    lengths = [len(line.split()) - 1 - 2 - 1 for line in path.read_text().splitlines() if line.strip()]
    return np.clip(np.array(lengths), 1, max_len)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=30, help="timed steps per variant (after 3 warm-up steps)"
    )
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--ffn-mult", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("bench/results/sasrec_groups.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    prov = Provenance()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    max_len, n_items = 50, 12101
    lengths = beauty_lengths(max_len)
    net = SASRecNet(
        SASRecConfig(n_items=n_items, dim=64, n_layers=args.layers, n_heads=1, ffn_mult=args.ffn_mult)
    )
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    times: dict[str, list[float]] = {"padded": [], "grouped": []}
    for step in tqdm(range(args.steps + 3), desc="steps"):
        rows = lengths[rng.integers(0, lengths.size, args.batch_size)]
        seq = torch.zeros(args.batch_size, int(rows.max()), dtype=torch.long)
        for r, n in enumerate(rows):
            seq[r, -n:] = torch.from_numpy(rng.integers(1, n_items + 1, n))
        for variant in ("padded", "grouped") if step % 2 else ("grouped", "padded"):
            start = time.perf_counter()
            if variant == "grouped":
                hidden, table = net(seq)  # forward splits a batch of mixed lengths into groups
            else:  # the whole batch at its longest row's width, as forward ran before the groups
                table = net.items()
                hidden = net._encode(seq, table)
            loss = (hidden[seq > 0] @ table[1:65].T).logsumexp(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step >= 3:
                times[variant].append(time.perf_counter() - start)
    medians = {k: float(np.median(v) * 1000) for k, v in times.items()}
    result: dict[str, Any] = {
        "settings": {**vars(args), "out": str(args.out), "dim": 64, "max_len": max_len, "threads": 1},
        "median_ms": medians,
        "ratio_padded_over_grouped": medians["padded"] / medians["grouped"],
        "mean_length": float(lengths.mean()),
        "provenance": prov.finish(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    logger.info(
        "padded %.1f ms, grouped %.1f ms per step: %.2fx",
        medians["padded"],
        medians["grouped"],
        result["ratio_padded_over_grouped"],
    )


if __name__ == "__main__":
    main()
