"""``explorec train``: fit a registered model on a split and save it."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from explorec.cli._common import (
    add_dataset_args,
    add_preprocess_args,
    parse_k,
    parse_key_values,
    prepare_dataset,
    split_from_args,
    write_json,
)
from explorec.errors import ConfigError

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    from explorec.models.registry import MODELS

    parser = sub.add_parser("train", help="fit a model on the training part of a split and save it")
    add_dataset_args(parser)
    add_preprocess_args(parser)
    parser.add_argument("--model", required=True, help=f"model name: {', '.join(sorted(MODELS))}")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter (repeatable)"
    )
    parser.add_argument(
        "--fuse",
        default=None,
        help="components of a fusion model (--model fusion-weighted|fusion-rrf|fusion-learned), "
        "e.g. 'ease:l2=50+textknn'",
    )
    parser.add_argument("--out", required=True, help="folder to save the model and run.json into")
    parser.add_argument("--k", default="10", help="cut-offs for the validation metrics (default 10)")
    parser.add_argument("--no-eval", action="store_true", help="skip the validation metrics")
    parser.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from explorec.evaluation import evaluate
    from explorec.models.registry import make_model

    dataset = prepare_dataset(args)
    split = split_from_args(dataset, args)
    params = parse_key_values(args.param, "--param")
    if args.fuse:
        from explorec.models.fusion import parse_fusion_spec

        if not args.model.startswith("fusion-"):
            raise ConfigError(
                "--fuse needs a fusion model (fusion-weighted, fusion-rrf, fusion-learned), "
                f"got {args.model!r}"
            )
        params["components"] = parse_fusion_spec(args.fuse)
    model = make_model(args.model, **params)
    start = time.perf_counter()
    model.fit(split.train, dataset.catalog)
    fit_seconds = time.perf_counter() - start
    out = Path(args.out)
    model.save(out)
    run: dict[str, Any] = {
        "dataset": dataset.name,
        "data_dir": args.data_dir,
        "split": args.split,
        "split_params": parse_key_values(args.split_param, "--split-param"),
        "seed": args.seed,
        "min_rating": args.min_rating,
        "k_core": args.k_core,
        "model": args.model,
        "params": model.get_params(),
        "fit_seconds": fit_seconds,
        "split_summary": split.summary(),
    }
    print(f"trained {model!r} on {len(split.train)} interactions in {fit_seconds:.1f}s -> {out}")
    if not args.no_eval and len(split.valid):
        result = evaluate(model, split.valid, history=split.train, k=parse_k(args.k))
        run["valid_metrics"] = result.metrics
        print("validation:")
        print(result.table())
    write_json(out / "run.json", run)
    return 0
