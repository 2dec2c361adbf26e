"""Arguments and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from explorec.data.interactions import Dataset, Interactions, Split
from explorec.errors import ConfigError

DEFAULT_DATASET = "synthetic"
#: ``--split none``: train on every interaction (deployment); nothing is held out
NO_SPLIT = "none"


def add_dataset_args(parser: argparse.ArgumentParser, *, split: bool = True) -> None:
    parser.add_argument(
        "--dataset",
        default=None,
        help="registered dataset name (see `explorec data list`); default: the embedded 'synthetic' one "
        "(with --model-dir: the one recorded with the model)",
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder holding the datasets (default: $EXPLOREC_DATA_DIR)"
    )
    if split:
        parser.add_argument(
            "--split",
            default=None,
            help="split method: auto (the default: the dataset's own split if it ships one, else "
            "leave-one-out when the interactions have timestamps, else a per-user random split), "
            "predefined, leave-one-out, temporal, random, cold-item, few-shot, catalog-arrival; "
            "`train` also takes none (fit on all data, for deployment)",
        )
        parser.add_argument(
            "--split-param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="split option, e.g. --split-param item_fraction=0.2 (repeatable)",
        )
        parser.add_argument("--seed", type=int, default=None, help="seed for random splits (default 0)")


def parse_key_values(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings with :func:`explorec.spec.parse_pairs` (JSON literals or text).

    Nothing is evaluated as code; the values are checked against their target where it is built.
    """
    from explorec.spec import parse_pairs

    return parse_pairs(pairs, what=what)


def load_dataset_from_args(args: argparse.Namespace) -> Dataset:
    from explorec.data.registry import load_dataset

    return load_dataset(args.dataset or DEFAULT_DATASET, data_dir=args.data_dir)


def split_from_args(dataset: Dataset, args: argparse.Namespace) -> Split:
    from explorec.data.splits import auto_method, make_split

    method = args.split or "auto"
    params = parse_key_values(args.split_param, "--split-param")
    if method == NO_SPLIT:
        if params:
            raise ConfigError(f"--split none takes no --split-param, got {sorted(params)}")
        data = dataset.interactions
        nothing = data.select(np.zeros(0, dtype=np.int64))
        return Split(data, nothing, nothing, name=NO_SPLIT)
    chosen = method
    if method == "auto":
        chosen, reason = auto_method(dataset)
        print(f"split: auto -> {chosen} ({reason})")
    if chosen in {"random", "cold-item", "few-shot"}:
        params.setdefault("seed", 0 if args.seed is None else args.seed)
    return make_split(dataset, method, **params)


def parse_k(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--k: expected comma-separated positive integers, got {text!r}") from None
    if not ks or min(ks) <= 0:
        raise ConfigError(f"--k: every cut-off must be > 0, got {text!r}")
    return ks


def write_json(path: str | Path, payload: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(payload, indent=2, sort_keys=True))


def add_preprocess_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-rating",
        type=float,
        default=None,
        help="keep only interactions rated at least this (implicit feedback), e.g. 4",
    )
    parser.add_argument(
        "--k-core",
        type=int,
        default=None,
        help="iteratively keep users and items with at least K interactions",
    )


def prepare_dataset(args: argparse.Namespace) -> Dataset:
    """Load the dataset named on the command line and apply the asked-for preprocessing, reporting it."""
    return prepare_dataset_and_raw(args)[0]


def prepare_dataset_and_raw(args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    """``prepare_dataset`` and the dataset as loaded, before preprocessing (every known interaction)."""
    dataset = load_dataset_from_args(args)
    return _preprocess(dataset, args), dataset


def _preprocess(dataset: Dataset, args: argparse.Namespace) -> Dataset:
    import dataclasses

    import explorec.data.preprocessing as preprocessing

    steps: list[tuple[str, dict[str, Any]]] = []
    if getattr(args, "min_rating", None) is not None:
        steps.append(("binarize", {"threshold": args.min_rating}))
    if getattr(args, "k_core", None) is not None:
        steps.append(("k_core", {"user_k": args.k_core, "item_k": args.k_core}))
    if not steps:
        return dataset
    if dataset.split is not None and (getattr(args, "split", None) or "auto") in {"auto", "predefined"}:
        raise ConfigError(
            f"dataset {dataset.name!r} ships its own split; preprocessing would break it — "
            "choose another --split method"
        )
    data = dataset.interactions
    for step, params in steps:
        data, report = getattr(preprocessing, step)(data, **params)
        print(f"preprocess: {report}")
    return dataclasses.replace(dataset, interactions=data, split=None)


def known_interactions(raw: Dataset, vocabulary: Interactions) -> Interactions:
    """Every interaction of ``raw`` over ``vocabulary``'s users and items (what users have consumed).

    Pairs whose user or item the vocabulary lacks (dropped by a k-core) cannot be recommended and are
    left out; low-rated interactions that ``--min-rating`` dropped from training stay in.
    """
    import pandas as pd

    data = raw.interactions
    users = pd.Index(vocabulary.user_ids).get_indexer(pd.Index(data.user_ids[data.user]))
    items = pd.Index(vocabulary.item_ids).get_indexer(pd.Index(data.item_ids[data.item]))
    keep = (users >= 0) & (items >= 0)
    return Interactions.from_arrays(
        users[keep], items[keep], user_ids=vocabulary.user_ids, item_ids=vocabulary.item_ids
    )


def summary(args: argparse.Namespace, text: str) -> None:
    """The closing line of a command, on stderr: ``explorec CMD: done in 4.2s: TEXT``.

    ``text`` says what was done, where the results went and the key numbers. stderr keeps stdout for
    the command's own output (tables, recommendations) when it is piped; ``--quiet`` hides the line.
    """
    if getattr(args, "quiet", False):
        return
    seconds = time.perf_counter() - float(getattr(args, "started", time.perf_counter()))
    name = " ".join(
        str(part)
        for part in (args.command, getattr(args, "data_command", None) or getattr(args, "action", None))
        if part
    )
    print(f"explorec {name}: done in {format_seconds(seconds)}: {text}", file=sys.stderr, flush=True)


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``12.3s``, ``4m05s``, ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
