"""``explorec evaluate``: full-ranking metrics of one or more models on a split's test part."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.cli._common import (
    NO_SPLIT,
    add_dataset_args,
    add_preprocess_args,
    parse_k,
    parse_key_values,
    prepare_dataset,
    split_from_args,
    summary,
    write_json,
)
from explorec.data.interactions import Catalog, Split
from explorec.errors import ConfigError
from explorec.models.base import Recommender

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate", help="fit (or load) models and report full-ranking metrics on the test part"
    )
    add_dataset_args(parser)
    add_preprocess_args(parser)
    parser.add_argument(
        "--models",
        default="popularity,itemknn,ease",
        help="comma-separated registered model names to fit and compare (default: the baselines)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="hyper-parameter of one model, e.g. itemknn.k=50 (repeatable)",
    )
    parser.add_argument(
        "--model-dir", action="append", default=[], help="evaluate a model saved by `explorec train` instead"
    )
    parser.add_argument(
        "--fuse",
        default=None,
        help="also evaluate a fusion of these components, e.g. 'ease:l2=50+textknn' (see --fusion)",
    )
    parser.add_argument(
        "--fusion",
        choices=("weighted", "rrf", "learned"),
        default="weighted",
        help="how --fuse combines its components: normalised score sum, reciprocal rank, or a meta-learner",
    )
    parser.add_argument("--k", default="10,20", help="cut-offs (default 10,20)")
    parser.add_argument(
        "--item-vectors",
        choices=("none", "minilm", "hashing"),
        default="none",
        help="item vectors for intra-list diversity and similarity re-rankers (default none; minilm "
        "encodes the catalogue with the packaged all-MiniLM-L6-v2, cached)",
    )
    parser.add_argument("--rerank", default=None, help="re-rank the top candidates, e.g. mmr:0.3 or dpp:0.5")
    parser.add_argument(
        "--candidates", type=int, default=100, help="candidates per user handed to --rerank (default 100)"
    )
    parser.add_argument(
        "--sampled", type=int, default=None, help="SAMPLED evaluation against N negatives (labelled as such)"
    )
    parser.add_argument("--json", default=None, help="write metrics (and paired tests) to this JSON file")
    parser.add_argument(
        "--report",
        default=None,
        help="write report.html (grouped chart per metric family, accuracy-vs-beyond scatter plots "
        "with the Pareto front, per-user distributions), results.json with every number it shows, and "
        "figures/*.png into this folder",
    )
    parser.add_argument(
        "--tradeoff",
        default=None,
        help="with --report: sweep these re-rankers' weight over the first model's top candidates and plot "
        "NDCG against diversity, coverage, novelty and exposure Gini, e.g. 'mmr,dpp' (needs --item-vectors)",
    )
    parser.set_defaults(func=cmd_evaluate)


def item_vectors_for(kind: str, catalog: Catalog) -> npt.NDArray[np.float32] | None:
    if kind == "none":
        return None
    from explorec.encoders import HashingEncoder, item_vectors

    encoder = HashingEncoder() if kind == "hashing" else None
    return item_vectors(catalog, encoder=encoder)


def fit_models(args: argparse.Namespace, split: Split, catalog: Catalog) -> dict[str, Recommender]:
    from explorec.models.base import Recommender as Base
    from explorec.models.registry import make_model

    models: dict[str, Recommender] = {}
    loaded = getattr(args, "loaded_models", {})
    for directory in args.model_dir:
        model = loaded[directory] if directory in loaded else Base.load(directory)
        check_trained_on(model, split, directory)
        models[f"{model.name}@{Path(directory).name}"] = model
    if args.model_dir:
        return models
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    per_model: dict[str, list[str]] = {n: [] for n in names}
    for pair in args.param:
        target, dot, rest = pair.partition(".")
        if not dot or target not in per_model:
            raise ConfigError(f"--param {pair!r}: expected MODEL.KEY=VALUE with MODEL in {names}")
        per_model[target].append(rest)
    todo = [
        (name, make_model(name, **parse_key_values(per_model[name], f"--param {name}"))) for name in names
    ]
    if args.fuse:
        from explorec.models.fusion import parse_fusion_spec

        fused = make_model(f"fusion-{args.fusion}", components=parse_fusion_spec(args.fuse))
        todo.append((f"fusion-{args.fusion}({args.fuse})", fused))
    for name, model in todo:
        start = time.perf_counter()
        model.fit(split.train, catalog)
        logger.info("fitted %s in %.1fs", name, time.perf_counter() - start)
        models[name] = model
    return models


#: command-line option -> the run.json key `explorec train` records it under
RECORDED = {
    "--dataset": "dataset",
    "--split": "split",
    "--split-param": "split_params",
    "--seed": "seed",
    "--min-rating": "min_rating",
    "--k-core": "k_core",
}


def use_recorded_settings(args: argparse.Namespace) -> None:
    """Evaluate saved models under the dataset, split and preprocessing recorded with them.

    An option left out takes the recorded value; one given with another value is refused, because
    scoring a model on a split it was not trained for puts its own training data in the test part.
    """
    from explorec.models.saved import load_saved

    recorded: dict[str, tuple[Any, str]] = {}
    args.loaded_models = {}
    for directory in args.model_dir:
        saved = load_saved(directory)
        args.loaded_models[directory] = saved.model
        if not saved.metadata:
            continue  # saved from Python without run.json: check_trained_on still compares the data
        where = f"{saved.version / 'run.json'}"
        if saved.metadata.get("split") == NO_SPLIT:
            raise ConfigError(
                f"{directory}: the model was trained on all data (--split none, {where}); there is no "
                "held-out part to evaluate it on"
            )
        for option, key in RECORDED.items():
            value = saved.metadata.get(key)
            if key == "split_params":
                value = value or {}
            if key in recorded and recorded[key][0] != value:
                raise ConfigError(
                    f"{option}: the models disagree ({recorded[key][0]!r} in {recorded[key][1]}, {value!r} "
                    f"in {where}); evaluate them separately"
                )
            recorded[key] = (value, where)
        for extra in ("data_dir", "split_name"):
            if saved.metadata.get(extra):
                recorded.setdefault(extra, (saved.metadata[extra], where))
    attribute = {"split_params": "split_param"}
    for option, key in RECORDED.items():
        if key not in recorded:
            continue
        value, where = recorded[key]
        name = attribute.get(key, key)
        given = getattr(args, name)
        if key == "split_params":
            given = parse_key_values(given, "--split-param") if given else None
        if given is None:
            if key == "split_params":
                setattr(args, name, [f"{k}={json.dumps(v)}" for k, v in value.items()])
            else:
                setattr(args, name, value)
            continue
        # "auto" resolves to a named method; naming that method is the same split
        resolved = key == "split" and given == recorded.get("split_name", (None, ""))[0]
        if given != value and not resolved:
            raise ConfigError(
                f"{option} {given!r} differs from the {value!r} the model was trained with ({where}); "
                f"leave {option} out to use the recorded one"
            )
    if args.data_dir is None and "data_dir" in recorded:
        args.data_dir = recorded["data_dir"][0]


def check_trained_on(model: Recommender, split: Split, directory: str) -> None:
    """Refuse a saved model whose training data is not exactly ``split.train``."""
    train = model.train_
    same = train.same_vocabulary(split.train) and len(train) == len(split.train)
    if same:
        mine = np.lexsort((train.item, train.user))
        theirs = np.lexsort((split.train.item, split.train.user))
        same = bool(
            np.array_equal(train.user[mine], split.train.user[theirs])
            and np.array_equal(train.item[mine], split.train.item[theirs])
        )
    if not same:
        raise ConfigError(
            f"--model-dir {directory}: the model was trained on other data ({len(train)} interactions, "
            f"{train.n_users} users x {train.n_items} items) than this split's train part "
            f"({len(split.train)}, {split.train.n_users} x {split.train.n_items}); evaluating it would "
            "score it on its own training data — use the dataset, --split and preprocessing it was "
            "trained with (leave them out to use those recorded in its run.json)"
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from explorec.evaluation import evaluate, evaluate_topk
    from explorec.evaluation.significance import paired_test

    ks = parse_k(args.k)
    if args.model_dir:
        use_recorded_settings(args)
    if args.split == NO_SPLIT:
        raise ConfigError("--split none holds nothing out, so there is nothing to evaluate on")
    dataset = prepare_dataset(args)
    split = split_from_args(dataset, args)
    vectors = item_vectors_for(args.item_vectors, dataset.catalog)
    models = fit_models(args, split, dataset.catalog)
    history = split.test_history
    results = {}
    for name, model in models.items():
        if model.n_items_ != split.train.n_items:
            raise ConfigError(f"model {name} has {model.n_items_} items, the dataset {split.train.n_items}")
        if args.rerank:
            from explorec import progress
            from explorec.evaluation.protocol import maskable_history
            from explorec.pipeline import recommend
            from explorec.rerank import RerankContext

            users = np.unique(split.test.user)
            start = time.perf_counter()
            seen = maskable_history(history, split.test)
            rerank_context = RerankContext.from_data(split.train, dataset.catalog)
            slates = []
            batches = range(0, users.size, RERANK_BATCH)
            for first in progress.bar(batches, desc=f"rerank {name}", unit="batch"):
                slates += recommend(
                    model,
                    users[first : first + RERANK_BATCH],
                    k=max(ks),
                    history=history,
                    seen=seen,
                    n_candidates=max(args.candidates, max(ks)),
                    rerank=args.rerank,
                    context=rerank_context,
                    item_vectors=vectors,
                )
            top = np.full((users.size, max(ks)), -1, dtype=np.int64)
            for row, slate in enumerate(slates):
                top[row, : len(slate)] = slate.items
            result = evaluate_topk(
                top,
                users,
                split.test,
                history=history,
                k=ks,
                item_vectors=vectors,
                n_items=split.train.n_items,
            )
            result.seconds = time.perf_counter() - start
            name = f"{name}+{args.rerank}"
        else:
            result = evaluate(
                model,
                split.test,
                history=history,
                k=ks,
                item_vectors=vectors,
                sampled_negatives=args.sampled,
                progress=True,
            )
        results[name] = result
        print(f"== {name} ({result.seconds:.1f}s)")
        print(result.table())
    payload: dict[str, Any] = {
        "dataset": dataset.name,
        "split": split.name,
        "split_summary": split.summary(),
        "results": {n: r.to_dict() for n, r in results.items()},
    }
    names = list(results)
    metric = f"ndcg@{ks[0]}"
    if len(names) > 1 and not args.sampled:
        tests = {}
        base = names[0]
        for other in names[1:]:
            a, b = results[other].per_user[metric], results[base].per_user[metric]
            tests[f"{other} vs {base}"] = paired_test(a, b)
            t = tests[f"{other} vs {base}"]
            print(
                f"paired {metric}: {other} vs {base}: diff={t['mean_diff']:+.4f} "
                f"t-test p={t['t_pvalue']:.3g} wilcoxon p={t['wilcoxon_pvalue']:.3g}"
            )
        payload["paired_tests"] = tests
    written: list[str] = []
    if args.json:
        write_json(args.json, json.loads(json.dumps(payload, default=float)))
        written.append(args.json)
    if args.report:
        from explorec.evaluation.report import write_report

        figures = None
        if args.tradeoff:
            figures = [
                tradeoff_figures(args, next(iter(models.values())), split, dataset.catalog, vectors, ks[0])
            ]
        path = write_report(
            results,
            args.report,
            title=f"explorec evaluation: {dataset.name} ({split.name})",
            extra_figures=figures,
            extra={
                k: payload[k] for k in ("dataset", "split", "split_summary", "paired_tests") if k in payload
            },
        )
        print(f"report: {path}")
        written.append(str(path))
    summary(args, _evaluate_summary(results, ks[0], dataset.name, split, written))
    return 0


#: users re-ranked per call under --rerank (one bar step each)
RERANK_BATCH = 256


def _evaluate_summary(results: dict[str, Any], k: int, dataset: str, split: Split, written: list[str]) -> str:
    """What ``evaluate`` did, its best model and where the results went, in one line."""
    metric = f"ndcg@{k}"
    scored = {n: r.metrics.get(metric) for n, r in results.items() if r.metrics.get(metric) is not None}
    best = max(scored, key=lambda n: scored[n]) if scored else None
    users = np.unique(split.test.user).size
    text = f"{len(results)} model(s) on {users} test users of {dataset} ({split.name})"
    if best is not None:
        text += f"; best {metric}: {best} {scored[best]:.4f}"
    return text + (f" -> {', '.join(written)}" if written else "")


def _spec_reranker(name: str, weight: float) -> Any:
    from explorec.rerank.spec import parse_rerank_spec

    return parse_rerank_spec(f"{name}:{weight}")


TRADEOFF_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def tradeoff_figures(
    args: argparse.Namespace,
    model: Recommender,
    split: Split,
    catalog: Catalog,
    vectors: npt.NDArray[np.float32] | None,
    k: int,
) -> Any:
    """Trade-off curves of the ``--tradeoff`` re-rankers over ``model``'s top candidates, as one figure."""
    from explorec.evaluation.protocol import maskable_history
    from explorec.evaluation.tradeoff import tradeoff_curve, tradeoff_figure
    from explorec.rerank import RerankContext, top_candidates

    history = split.test_history
    users = np.unique(split.test.user)
    known = history.to_csr()[users]
    masked = maskable_history(history, split.test).to_csr()[users].toarray().astype(bool)
    candidates = top_candidates(model.score(users, history=history), max(args.candidates, k), masked=masked)
    context = RerankContext.from_data(split.train, catalog)
    histories = [known.indices[known.indptr[r] : known.indptr[r + 1]] for r in range(users.size)]
    curves = []
    for name in [n.strip() for n in args.tradeoff.split(",") if n.strip()]:
        curves.append(
            tradeoff_curve(
                candidates,
                users,
                split.test,
                history=history,
                make_reranker=functools.partial(_spec_reranker, name),
                weights=TRADEOFF_WEIGHTS,
                name=name,
                k=k,
                item_vectors=vectors,
                context=context,
                histories=histories,
                progress=True,
            )
        )
    return tradeoff_figure(curves, title=f"{model.name}: accuracy against beyond-accuracy")
