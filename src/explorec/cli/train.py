"""``explorec train``: fit a registered model on a split (or on all data) and save it atomically."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from typing import Any

from explorec.cli._backend import add_backend_args, check_backend_args
from explorec.cli._common import (
    NO_SPLIT,
    add_dataset_args,
    add_preprocess_args,
    known_interactions,
    parse_k,
    parse_key_values,
    prepare_dataset_and_raw,
    split_from_args,
    summary,
)
from explorec.errors import ConfigError

logger = logging.getLogger(__name__)

ITEM_VECTOR_KINDS = ("none", "minilm", "minilm-onnx-int8", "hashing")


def add_parser(sub: Any) -> None:
    from explorec.models.registry import MODELS

    parser = sub.add_parser(
        "train",
        help="fit a model on the training part of a split (or all data: --split none) and save it",
        description="Fit a model and save it as a new version of the --out folder. The version holds "
        "everything `explorec recommend --model-dir` needs without the dataset (vocabularies, item "
        "titles, every known interaction, optional item vectors) and run.json, which records the "
        "dataset, split and preprocessing that `explorec evaluate --model-dir` reuses. SASRec and two-tower "
        "train with differential privacy (DP-SGD, one user = one privacy unit) under "
        "--param dp_epsilon=E [--param dp_delta=D] [--param dp_max_grad_norm=C]; the (ε, δ) spent is "
        "printed and saved in run.json.",
    )
    parser.add_argument(
        "--from-service",
        action="store_true",
        help="refit the service's configured model (trainer_model) on its store's events and register "
        "it as a new version of its registry_dir (swapped in unless worse); needs --config",
    )
    parser.add_argument(
        "--config", default=None, help="with --from-service: the service's configuration file (TOML)"
    )
    add_dataset_args(parser)
    add_preprocess_args(parser)
    parser.add_argument(
        "--model",
        default=None,
        help=f"model name: {', '.join(sorted(MODELS))} (required without --from-service)",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter (repeatable)"
    )
    parser.add_argument(
        "--fuse",
        default=None,
        help="components of a fusion model (--model fusion|fusion-weighted|fusion-rrf|fusion-learned; "
        "fusion alone is EASE l2=50 + textknn, weights picked on a hold-out of train), "
        "e.g. 'ease:l2=50+textknn'",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="model folder (required without --from-service): each training writes a new version "
        "into it and switches to it atomically",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=2,
        help="complete versions kept in --out after this one (default 2: this one and the previous, "
        "for `explorec model use` to roll back to)",
    )
    parser.add_argument("--k", default="10", help="cut-offs for the validation metrics (default 10)")
    parser.add_argument("--no-eval", action="store_true", help="skip the validation metrics")
    parser.add_argument(
        "--item-vectors",
        choices=ITEM_VECTOR_KINDS,
        default="none",
        help="also save item vectors for re-rankers and policies (minilm: the packaged "
        "all-MiniLM-L6-v2, cached; minilm-onnx-int8: the same model as int8 ONNX on onnxruntime; "
        "default none: `recommend` encodes the saved titles when needed). Models that read item text "
        "take their encoder as a parameter: --param encoder=minilm-onnx-int8",
    )
    add_backend_args(parser, what="torch models (sasrec, two-tower, ...) train as DDP on Ray Train workers")
    parser.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from explorec.evaluation import evaluate
    from explorec.models.registry import make_model

    if args.from_service:
        return cmd_train_from_service(args)
    for flag, value in (("--model", args.model), ("--out", args.out)):
        if value is None:
            raise ConfigError(f"{flag} is required (or --from-service --config FILE)")
    if args.keep < 1:
        raise ConfigError(f"--keep must be a positive integer, got {args.keep}")
    check_backend_args(args)
    dataset, raw = prepare_dataset_and_raw(args)
    split = split_from_args(dataset, args)
    params = parse_key_values(args.param, "--param")
    if args.fuse:
        from explorec.models.fusion import parse_fusion_spec

        if args.model != "fusion" and not args.model.startswith("fusion-"):
            raise ConfigError(
                "--fuse needs a fusion model (fusion, fusion-weighted, fusion-rrf, fusion-learned), "
                f"got {args.model!r}"
            )
        params["components"] = parse_fusion_spec(args.fuse)
    model = make_model(args.model, **params)
    start = time.perf_counter()
    if args.backend == "ray":
        from explorec import distributed
        from explorec.models.torch_base import TorchRecommender

        if not isinstance(model, TorchRecommender):
            raise ConfigError(
                f"--backend ray trains the torch models (e.g. sasrec, two-tower); got --model {args.model}"
            )
        distributed.fit(model, split.train, dataset.catalog, workers=args.workers, address=args.address)
    else:
        model.fit(split.train, dataset.catalog)
    fit_seconds = time.perf_counter() - start
    run: dict[str, Any] = {
        "dataset": dataset.name,
        "data_dir": args.data_dir,
        "split": args.split or "auto",
        "split_name": split.name,
        "split_params": parse_key_values(args.split_param, "--split-param"),
        "seed": 0 if args.seed is None else args.seed,
        "min_rating": args.min_rating,
        "k_core": args.k_core,
        "model": args.model,
        "params": model.get_params(),
        "fit_seconds": fit_seconds,
        "backend": "local" if args.backend == "local" else {"ray": {"workers": args.workers}},
        "split_summary": split.summary(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "item_vectors": None if args.item_vectors == "none" else args.item_vectors,
    }
    where = "all data (--split none)" if split.name == NO_SPLIT else f"{split.name} train part"
    print(f"trained {model!r} on {len(split.train)} interactions ({where}) in {fit_seconds:.1f}s")
    privacy = getattr(model, "privacy_", None)
    if privacy is not None:  # a DP-SGD run (--param dp_epsilon=...): the accountant's (ε, δ)
        run["privacy"] = privacy.to_dict()
        print(privacy.summary())
    if not args.no_eval and len(split.valid):
        result = evaluate(model, split.valid, history=split.train, k=parse_k(args.k), progress=True)
        run["valid_metrics"] = result.metrics
        print("validation:")
        print(result.table())
    vectors = None
    if args.item_vectors != "none":
        from explorec.encoders import HashingEncoder, item_vectors

        encoder: HashingEncoder | str | None = None  # None: the packaged MiniLM
        if args.item_vectors == "hashing":
            encoder = HashingEncoder()
        elif args.item_vectors == "minilm-onnx-int8":
            encoder = args.item_vectors
        vectors = item_vectors(dataset.catalog, encoder=encoder)
    version = model.save(
        args.out,
        metadata=run,
        catalog=dataset.catalog,
        seen=known_interactions(raw, split.train),
        item_vectors=vectors,
        keep=args.keep,
    )
    print(f"saved -> {version}")
    metrics = run.get("valid_metrics") or {}
    key = next((m for m in metrics if m.startswith("ndcg@")), None)
    shown = f", validation {key}={metrics[key]:.4f}" if key else ""
    summary(
        args,
        f"{args.model} fitted on {len(split.train)} interactions in {fit_seconds:.1f}s{shown}; "
        f"saved -> {version}",
    )
    return 0


def cmd_train_from_service(args: argparse.Namespace) -> int:
    """One refit of the service's model on its store (``--from-service``), then exit.

    Exit status 0 when the new version serves, 1 when it was rejected, not swapped in (a pinned
    version) or the refit failed; the reason is printed and recorded in ``GET /v1/models``.
    """
    from explorec.online.trainer import refit
    from explorec.service.settings import load_settings
    from explorec.store import Store

    if args.config is None:
        raise ConfigError("--from-service needs --config FILE (the service's configuration)")
    settings = load_settings(args.config)
    if settings.registry_dir is None:
        raise ConfigError(f"{args.config}: registry_dir is not set; --from-service writes versions there")
    store = Store.open(settings.database_url)
    try:
        store.migrate()
        attempt = refit(settings, store)
    finally:
        store.close()
    metric = settings.trainer_metric
    value = (attempt.get("metrics") or {}).get(metric)
    shown = f", {metric} {value:.4f}" if value is not None else ""
    print(f"retrain {attempt['status']}: {attempt.get('version') or 'no version written'}{shown}")
    if attempt.get("reason"):
        print(f"reason: {attempt['reason']}")
    summary(
        args,
        f"refit of {settings.trainer_model} on the store's events: {attempt['status']}{shown}; "
        f"registry {settings.registry_dir}",
    )
    return 0 if attempt["status"] == "promoted" else 1
