"""``explorec simulate``: compare exploration policies in the online-loop simulator."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from explorec.cli._common import parse_key_values, summary, write_json
from explorec.errors import ConfigError

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "simulate",
        help="run exploration policies in a simulated online loop built from a real dataset",
        description="Fit a ground-truth click model on a dataset, let users arrive, show slates chosen "
        "by each policy, draw clicks with position bias, release new items over time and refit the "
        "recommender on the clicks it caused. Policies never see the world's position-bias curve: "
        "they start from a flat prior (or --examination-prior) and then get the curve of a "
        "position-based click model refitted on the clicks logged so far. Writes a plot and JSON "
        "(under runs/simulate/ unless --out is given), prints a table.",
    )
    parser.add_argument("--dataset", default="movielens-latest-small", help="registered dataset name")
    parser.add_argument("--data-dir", default=None, help="folder holding the datasets ($EXPLOREC_DATA_DIR)")
    parser.add_argument(
        "--policies",
        default="greedy,eps-greedy,ucb,linucb,ts",
        help="comma-separated: oracle, greedy, eps-greedy, ucb, ts, linucb, linucb-hybrid, lints, softmax, "
        "budget",
    )
    parser.add_argument(
        "--policy-param",
        action="append",
        default=[],
        metavar="POLICY.KEY=VALUE",
        help="override a policy default, e.g. ucb.c=0.05 (repeatable)",
    )
    parser.add_argument("--steps", type=int, default=3000, help="users (slates) per run (default 3000)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds 0..S-1 (default 3)")
    parser.add_argument("--k", type=int, default=10, help="slate length (default 10)")
    parser.add_argument(
        "--max-items", type=int, default=1000, help="catalogue: most popular N items (0: all)"
    )
    parser.add_argument("--cold-fraction", type=float, default=0.2, help="share of items released over time")
    parser.add_argument("--arrival", choices=("auto", "time", "random"), default="random")
    parser.add_argument(
        "--model",
        default=None,
        help="registered model refitted in the loop (default: foldin-svd, fold-in PureSVD); models that "
        "read item text (textknn, lm-adapter, sasrec with item_input=text) get the dataset's catalogue",
    )
    parser.add_argument(
        "--model-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyper-parameter of --model, e.g. epochs=3 (repeatable)",
    )
    parser.add_argument(
        "--ground-truth",
        default="svd",
        help="model the world's click probabilities come from: svd (rank-32 truncated SVD, default), "
        "ease, or any registered model name",
    )
    parser.add_argument(
        "--gt-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyper-parameter of a model ground truth, e.g. l2=200 (repeatable)",
    )
    parser.add_argument(
        "--examination-prior",
        default=None,
        metavar="E0,E1,...",
        help="examination curve the policies assume before any click is logged, k values in (0, 1] "
        "(default: flat)",
    )
    parser.add_argument(
        "--fixed-examination",
        action="store_true",
        help="keep the prior for the whole run instead of refitting the position-bias estimate",
    )
    parser.add_argument("--refit-every", type=int, default=250, help="steps between refits (default 250)")
    parser.add_argument(
        "--swap-share",
        type=float,
        default=0.0,
        help="share of slates with two positions swapped at random; the position-bias curve is then "
        "estimated from the swaps and the policies are reported as POLICY+swapSHARE (default 0: none)",
    )
    parser.add_argument(
        "--swap-scheme",
        choices=("top", "pair"),
        default="top",
        help="swap position 0 with a random other one (top, default) or a random adjacent pair (pair)",
    )
    parser.add_argument(
        "--item-vectors",
        choices=("minilm", "hashing", "none"),
        default="minilm",
        help="item vectors for the linear policies' features (default: the packaged all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--out",
        default=str(Path("runs") / "simulate"),
        help="output folder for simulation.png and results.json (default: runs/simulate, which git ignores)",
    )
    parser.add_argument(
        "--report",
        default=None,
        help="also write report.html (reward, cumulative regret and cold-item exposure over time, mean "
        "over seeds with 95%% confidence bands; the summary table), results.json and figures/*.png here",
    )
    service = parser.add_argument_group(
        "over HTTP", "drive a running service instead of the in-process loop (explorec.cli.simulate_service)"
    )
    service.add_argument(
        "--service",
        default=None,
        metavar="URL",
        help="a running explorec service on a loopback address, e.g. http://127.0.0.1:8000: its items "
        "and history are posted, an experiment is defined, and --steps users request slates, click "
        "and send feedback through the API",
    )
    service.add_argument("--api-key", default=None, help="an admin key of that service ($EXPLOREC_API_KEY)")
    service.add_argument("--experiment", default="explore-vs-greedy", help="experiment name to define")
    service.add_argument(
        "--explore-policy",
        default="ts",
        help="the exploring variant's policy, against greedy: ts[:PRIOR_WEIGHT], ucb[:C], linucb[:ALPHA], "
        "lints[:V], hybrid-linucb[:ALPHA], eps-greedy:EPS, softmax:T (default ts)",
    )
    service.add_argument(
        "--control-exploration",
        type=float,
        default=0.1,
        metavar="EPS",
        help="share of the greedy control's slates that are a uniformly random ordering of its "
        "candidates (policy eps-greedy:1 with exploration share EPS; exact mixture propensities), so "
        "that every item can appear at every position of the control's log and it supports off-policy "
        "estimates of the exploring variant; 0 makes the control purely greedy (default 0.1)",
    )
    parser.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    if getattr(args, "service", None):
        if getattr(args, "report", None):
            raise ConfigError(
                f"--report {args.report}: the HTML report covers the in-process simulation only; "
                "--service writes service.json instead (drop one of the two)"
            )
        return cmd_simulate_service(args)
    from explorec.data.registry import load_dataset
    from explorec.evaluation.simulator import SIMULATION_POLICIES, Simulator, plot_results, simulation_policy

    names = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in names if p not in SIMULATION_POLICIES]
    if unknown or not names:
        raise ConfigError(f"--policies: unknown {unknown}; choose from {', '.join(SIMULATION_POLICIES)}")
    if args.seeds < 1 or args.steps < 1:
        raise ConfigError(f"--seeds and --steps must be >= 1, got {args.seeds} and {args.steps}")
    overrides: dict[str, dict[str, Any]] = {}
    for key, value in parse_key_values(args.policy_param, "--policy-param").items():
        target, _, param = key.partition(".")
        if target not in names or not param:
            raise ConfigError(f"--policy-param {key}: expected POLICY.KEY with POLICY among {names}")
        overrides.setdefault(target, {})[param] = value
    model_params = parse_key_values(args.model_param, "--model-param")
    gt_params = parse_key_values(args.gt_param, "--gt-param")
    prior = None
    if args.examination_prior:
        try:
            prior = [float(v) for v in args.examination_prior.split(",")]
        except ValueError as exc:
            raise ConfigError(
                f"--examination-prior: expected comma-separated numbers, got {args.examination_prior!r}"
            ) from exc
    dataset = load_dataset(args.dataset, data_dir=args.data_dir)
    vectors = None
    if args.item_vectors != "none":
        from explorec.encoders import HashingEncoder, item_vectors

        vectors = item_vectors(
            dataset.catalog, encoder=HashingEncoder() if args.item_vectors == "hashing" else None
        )
    results = []
    for seed in range(args.seeds):
        sim = Simulator(
            dataset.interactions,
            catalog=dataset.catalog,
            item_vectors=vectors,
            model=args.model,
            model_params=model_params,
            ground_truth=args.ground_truth,
            gt_params=gt_params,
            examination_prior=prior,
            estimate_examination=not args.fixed_examination,
            max_items=args.max_items or None,
            n_steps=args.steps,
            k=args.k,
            cold_fraction=args.cold_fraction,
            arrival=args.arrival,
            refit_every=args.refit_every,
            swap_share=args.swap_share,
            swap_scheme=args.swap_scheme,
            seed=seed,
            progress=True,
        )
        for name in names:
            policy = simulation_policy(name, sim, seed=seed, **overrides.get(name, {}))
            result = sim.run(policy)
            results.append(result)
            print(
                f"seed {seed} {name:<14} clicks {result.clicks.sum():8.0f}  ({result.seconds:.1f}s)",
                flush=True,
            )
    out = Path(args.out)
    png = plot_results(
        results, out / "simulation.png", title=f"{args.dataset}: {args.steps} steps, {args.seeds} seed(s)"
    )
    table = summarise(results, list(dict.fromkeys(r.policy for r in results)))
    write_json(
        out / "results.json",
        {
            "dataset": args.dataset,
            "settings": {k: v for k, v in vars(args).items() if k != "func"},
            "summary": table,
            "runs": [r.summary() for r in results],
        },
    )
    if args.report:
        from explorec.evaluation.report import write_simulation_report

        report = write_simulation_report(
            results,
            table,
            args.report,
            title=f"explorec simulation: {args.dataset}, {args.steps} steps, {args.seeds} seed(s)",
            extra={"dataset": args.dataset, "settings": {k: v for k, v in vars(args).items() if k != "func"}},
        )
        print(f"report: {report}")
    print()
    print(format_table(table))
    print(f"\nwrote {png} and {out / 'results.json'}")
    best = max(table, key=lambda row: row["clicks_mean"])
    written = [str(png), str(out / "results.json")] + ([str(report)] if args.report else [])
    summary(
        args,
        f"{len(names)} policies x {args.seeds} seed(s) x {args.steps} steps on {args.dataset}; most clicks: "
        f"{best['policy']} {best['clicks_mean']:.1f} per run -> {', '.join(written)}",
    )
    return 0


def summarise(results: list[Any], names: list[str]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per policy, and the change against greedy."""
    rows = []
    greedy = [r.clicks.sum() for r in results if r.policy == "greedy"]
    base = float(np.mean(greedy)) if greedy else None
    for name in names:
        runs = [r for r in results if r.policy == name]
        clicks = np.array([r.clicks.sum() for r in runs])
        rows.append(
            {
                "policy": name,
                "seeds": len(runs),
                "clicks_mean": float(clicks.mean()),
                "clicks_std": float(clicks.std(ddof=1)) if len(runs) > 1 else 0.0,
                "vs_greedy": None if base is None or base == 0 else float(clicks.mean() / base - 1.0),
                "regret_mean": float(np.mean([r.regret.sum() for r in runs])),
                "cold_impressions_mean": float(np.mean([r.cold_impressions.sum() for r in runs])),
                "cold_clicks_mean": float(np.mean([r.cold_clicks.sum() for r in runs])),
                "coverage_mean": float(np.mean([r.distinct_shown[-1] for r in runs])),
                "seconds_mean": float(np.mean([r.seconds for r in runs])),
                "examination_error_mean": _mean_or_none([r.examination_error for r in runs]),
            }
        )
    return rows


def _mean_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def format_table(rows: list[dict[str, Any]]) -> str:
    """The summary as text; ``exam. err`` is the largest error of the last position-bias estimate."""
    head = (
        f"{'policy':<14}{'clicks':>16}{'vs greedy':>11}{'regret':>10}{'cold imp.':>11}"
        f"{'cold clicks':>12}{'coverage':>10}{'exam. err':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        vs = "" if r["vs_greedy"] is None else f"{r['vs_greedy']:+.1%}"
        err = r.get("examination_error_mean")
        err_text = "" if err is None else f"{err:.3f}"
        lines.append(
            f"{r['policy']:<14}{r['clicks_mean']:>9.1f} ± {r['clicks_std']:<5.1f}{vs:>11}"
            f"{r['regret_mean']:>10.1f}{r['cold_impressions_mean']:>11.0f}{r['cold_clicks_mean']:>12.1f}{r['coverage_mean']:>10.0f}"
            f"{err_text:>11}"
        )
    return "\n".join(lines)


def cmd_simulate_service(args: argparse.Namespace) -> int:
    """``--service URL``: simulated users of ``--dataset`` drive a running service over HTTP."""
    import os

    from explorec.cli.simulate_service import check_loopback, format_service_table, run_service_simulation
    from explorec.data.registry import load_dataset
    from explorec.encoders.templates import item_texts
    from explorec.evaluation.simulator import Simulator

    url = check_loopback(args.service)
    key = args.api_key or os.environ.get("EXPLOREC_API_KEY")
    if not key:
        raise ConfigError("--service needs --api-key KEY (or $EXPLOREC_API_KEY): an admin key of the service")
    if args.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {args.steps}")
    dataset = load_dataset(args.dataset, data_dir=args.data_dir)
    sim = Simulator(
        dataset.interactions,
        catalog=dataset.catalog,
        max_items=args.max_items or None,
        n_steps=args.steps,
        k=args.k,
        cold_fraction=args.cold_fraction,
        arrival=args.arrival,
        ground_truth=args.ground_truth,
        gt_params=parse_key_values(args.gt_param, "--gt-param"),
        seed=0,
    )
    assert sim.catalog is not None
    texts = item_texts(sim.catalog)
    eps = float(args.control_exploration)
    if not 0.0 <= eps <= 1.0:
        raise ConfigError(f"--control-exploration must lie in [0, 1], got {args.control_exploration!r}")
    variants = (
        # per-slot eps-greedy would explore only the lower positions (its top slots are explored with
        # probability eps^k): uniformly random whole slates cover every (item, position)
        {"name": "greedy", "share": 0.5, "policy": "eps-greedy:1", "exploration": eps}
        if eps > 0
        else {"name": "greedy", "share": 0.5, "policy": "greedy"},
        {"name": "explore", "share": 0.5, "policy": args.explore_policy},
    )
    result = run_service_simulation(
        url, key, sim, texts, experiment=args.experiment, variants=variants, progress=True
    )
    result["dataset"] = args.dataset
    result["service"] = url
    out = Path(args.out)
    write_json(out / "service.json", result)
    print(format_service_table(result))
    print(f"\nwrote {out / 'service.json'}")
    rates = ", ".join(
        f"{name} {v['clicks_per_1000']:.1f}" for name, v in result["variants"].items() if v["clicks_per_1000"]
    )
    summary(
        args,
        f"{result['steps']} simulated users drove {url} (experiment {args.experiment}); clicks per 1000 "
        f"slots: {rates or 'none'} -> {out / 'service.json'}",
    )
    return 0
