"""``explorec ope``: a policy's value estimated from a log file or the Open Bandit Dataset."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.cli._common import parse_key_values, write_json
from explorec.errors import ConfigError

logger = logging.getLogger(__name__)

OPE_POLICIES = ("uniform", "greedy", "eps-greedy", "softmax", "ts", "bts")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "ope",
        help="off-policy evaluation: a policy's value estimated from a log (IPS, SNIPS, DM, DR)",
        description="Estimate the value (mean reward per shown slot) of an evaluation policy from a log "
        "collected by another policy, with bootstrap confidence intervals. Context-free evaluation "
        "policies act over the log's actions: 'uniform'; 'greedy', 'eps-greedy', 'softmax' over "
        "--scores (default: each action's smoothed reward rate in the log itself); 'ts'/'bts': "
        "Bernoulli Thompson sampling (with the Open Bandit Dataset, 'bts' uses ZOZOTOWN's production "
        "prior), whose action distribution is estimated by Monte-Carlo simulation.",
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--log", help="CSV or JSONL log: action|item, reward|click, propensity|pscore, [position]"
    )
    src.add_argument("--obd-dir", help="Open Bandit Dataset folder (with random/ and bts/)")
    src.add_argument(
        "--service-db", help="store URL of `explorec serve`: its impression log + attributed feedback"
    )
    parser.add_argument("--campaign", choices=("all", "men", "women"), default="all", help="OBD campaign")
    parser.add_argument(
        "--behavior", choices=("random", "bts"), default="random", help="OBD logging policy (default random)"
    )
    parser.add_argument("--policy", choices=OPE_POLICIES, required=True, help="evaluation policy")
    parser.add_argument(
        "--policy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. epsilon=0.1 (repeatable)",
    )
    parser.add_argument("--scores", default=None, help=".npy or one-column CSV with one score per action")
    parser.add_argument(
        "--n-actions", type=int, default=None, help="number of actions (default: from the log)"
    )
    parser.add_argument("--len-list", type=int, default=None, help="slots per slate (default: from the log)")
    parser.add_argument("--position-base", type=int, default=0, help="first position in --log (0 or 1)")
    parser.add_argument("--reward-range", default="0,1", help="declared reward bounds LOW,HIGH (default 0,1)")
    parser.add_argument("--estimators", default="dm,ips,snips,dr", help="comma-separated (default all four)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="1 - confidence level of the intervals (default 0.05: 95%%)"
    )
    parser.add_argument("--n-mc", type=int, default=100_000, help="Monte-Carlo draws for 'ts'/'bts'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the policy simulation and the bootstrap")
    parser.add_argument("--json", default=None, help="write the estimates to this JSON file")
    parser.set_defaults(func=cmd_ope)


def cmd_ope(args: argparse.Namespace) -> int:
    from explorec.evaluation.ope import BanditLog, estimate, estimates_table, fit_reward_model, read_log

    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    truth: float | None = None
    campaign = None
    if args.obd_dir is not None:
        from explorec.data.obd import load_obd

        obd = load_obd(args.obd_dir, behavior_policy=args.behavior, campaign=args.campaign)
        log = BanditLog.from_obd(obd)
        campaign = args.campaign
        other = {"bts": "bts", "ts": "bts", "uniform": "random"}.get(args.policy)
        if other is not None and other != args.behavior:
            truth = load_obd(args.obd_dir, behavior_policy=other, campaign=args.campaign).click_rate()
    elif args.service_db is not None:
        from explorec.service.log import read_service_log

        log = read_service_log(args.service_db, len_list=args.len_list)
    else:
        low, high = _pair(args.reward_range, "--reward-range")
        log = read_log(
            args.log,
            n_actions=args.n_actions,
            len_list=args.len_list,
            reward_range=(low, high),
            position_base=args.position_base,
        )
    params = parse_key_values(args.policy_param, "--policy-param")
    action_dist, method = evaluation_distribution(args, log, params, campaign)
    reward_hat = None
    if any(e in ("dm", "dr") for e in estimators):
        if not np.all(np.isin(log.reward, (0.0, 1.0))):
            raise ConfigError(
                "dm/dr need binary rewards for the logistic reward model; use --estimators ips,snips"
            )
        reward_hat = fit_reward_model(log, seed=args.seed)
    results = estimate(
        log,
        action_dist,
        reward_hat=reward_hat,
        estimators=estimators,
        n_bootstrap=args.bootstrap,
        alpha=args.alpha,
        seed=args.seed,
    )
    print(
        f"log: {log.source} ({len(log)} rows, {log.n_actions} actions, {log.len_list} slot(s)); "
        f"on-policy value of the log: {log.on_policy_value():.6f}"
    )
    print(f"evaluation policy: {args.policy} {params or ''} (action distribution: {method})")
    if truth is not None:
        print(f"ground truth (on-policy value of the {args.policy} log): {truth:.6f}")
    print(estimates_table(results, truth, alpha=args.alpha))
    if args.json:
        payload = {
            "log": log.source,
            "policy": args.policy,
            "params": params,
            "action_distribution": method,
            "truth": truth,
            "alpha": args.alpha,
            "estimates": {k: v.to_dict() for k, v in results.items()},
        }
        if truth is not None:
            payload["relative_error"] = {k: v.relative_error(truth) for k, v in results.items()}
        write_json(args.json, payload)
    return 0


def evaluation_distribution(
    args: argparse.Namespace, log: Any, params: dict[str, Any], campaign: str | None
) -> tuple[npt.NDArray[np.float64], str]:
    """float64[n_actions, len_list] of the evaluation policy and how it was obtained."""
    from explorec.policies import BernoulliTS, EpsilonGreedy, Greedy, Softmax

    n, slots = log.n_actions, log.len_list
    if slots > n:
        raise ConfigError(f"the log has {slots} slots but only {n} actions")
    if args.policy == "uniform":
        return np.full((n, slots), 1.0 / n), "exact"
    items = np.arange(n)
    if args.policy in ("ts", "bts"):
        alpha: Any = params.pop("alpha", 1.0)
        beta: Any = params.pop("beta", 1.0)
        if args.policy == "bts":
            if campaign is None:
                raise ConfigError("--policy bts uses ZOZOTOWN's prior and needs --obd-dir; use --policy ts")
            from explorec.data.obd import ZOZOTOWN_BTS_PRIOR

            prior = ZOZOTOWN_BTS_PRIOR[campaign]
            alpha, beta = np.array(prior["alpha"], dtype=float), np.array(prior["beta"], dtype=float)
            if alpha.shape[0] != n:
                raise ConfigError(f"the {campaign} prior has {alpha.shape[0]} items, the log {n}")
        policy = BernoulliTS(alpha=alpha, beta=beta, seed=args.seed, n_mc=args.n_mc, **params)
        matrix, method = policy.propensity_matrix(items, slots)
        return matrix, method
    scores = _scores(args, log)
    classes = {"greedy": Greedy, "eps-greedy": EpsilonGreedy, "softmax": Softmax}
    pol = classes[args.policy](seed=args.seed, n_mc=args.n_mc, **params)
    matrix, method = pol.propensity_matrix(items, slots, scores=scores)
    return matrix, method


def _scores(args: argparse.Namespace, log: Any) -> npt.NDArray[np.float64]:
    n = log.n_actions
    if args.scores is None:
        shows = np.bincount(log.action, minlength=n).astype(np.float64)
        rewards = np.bincount(log.action, weights=log.reward, minlength=n)
        return np.asarray((rewards + 1.0) / (shows + 2.0), dtype=np.float64)
    path = Path(args.scores)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scores file not found")
    values = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape[0] != n or not np.all(np.isfinite(values)):
        raise ConfigError(f"{path}: expected {n} finite scores (one per action), got {values.shape[0]}")
    return values


def _pair(text: str, flag: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"{flag}: expected LOW,HIGH, got {text!r}") from None
    return low, high
