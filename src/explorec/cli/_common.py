"""Arguments and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from explorec.data.interactions import Dataset, Split
from explorec.errors import ConfigError


def add_dataset_args(parser: argparse.ArgumentParser, *, split: bool = True) -> None:
    parser.add_argument(
        "--dataset",
        default="synthetic",
        help="registered dataset name (see `explorec data list`); default: the embedded 'synthetic' one",
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder holding the datasets (default: $EXPLOREC_DATA_DIR)"
    )
    if split:
        parser.add_argument(
            "--split",
            default="auto",
            help="split method: auto (the dataset's own split if it ships one, else leave-one-out when "
            "the interactions have timestamps, else a per-user random split), "
            "predefined, leave-one-out, temporal, random, cold-item, few-shot, catalog-arrival",
        )
        parser.add_argument(
            "--split-param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="split option, e.g. --split-param item_fraction=0.2 (repeatable)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed for random splits (default 0)")


def parse_key_values(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings with :func:`explorec.spec.parse_pairs` (JSON literals or text).

    Nothing is evaluated as code; the values are checked against their target where it is built.
    """
    from explorec.spec import parse_pairs

    return parse_pairs(pairs, what=what)


def load_dataset_from_args(args: argparse.Namespace) -> Dataset:
    from explorec.data.registry import load_dataset

    return load_dataset(args.dataset, data_dir=args.data_dir)


def split_from_args(dataset: Dataset, args: argparse.Namespace) -> Split:
    from explorec.data.splits import auto_method, make_split

    method = args.split
    params = parse_key_values(args.split_param, "--split-param")
    chosen = method
    if method == "auto":
        chosen, reason = auto_method(dataset)
        print(f"split: auto -> {chosen} ({reason})")
    if chosen in {"random", "cold-item", "few-shot"}:
        params.setdefault("seed", args.seed)
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
    import dataclasses

    import explorec.data.preprocessing as preprocessing

    dataset = load_dataset_from_args(args)
    steps: list[tuple[str, dict[str, Any]]] = []
    if getattr(args, "min_rating", None) is not None:
        steps.append(("binarize", {"threshold": args.min_rating}))
    if getattr(args, "k_core", None) is not None:
        steps.append(("k_core", {"user_k": args.k_core, "item_k": args.k_core}))
    if not steps:
        return dataset
    if dataset.split is not None and getattr(args, "split", "auto") in {"auto", "predefined"}:
        raise ConfigError(
            f"dataset {dataset.name!r} ships its own split; preprocessing would break it — "
            "choose another --split method"
        )
    data = dataset.interactions
    for step, params in steps:
        data, report = getattr(preprocessing, step)(data, **params)
        print(f"preprocess: {report}")
    return dataclasses.replace(dataset, interactions=data, split=None)
