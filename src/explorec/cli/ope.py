"""``explorec ope``: a policy's value estimated from a log file or the Open Bandit Dataset."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.cli._common import parse_key_values, summary, write_json
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
        "--scores (default: each action's smoothed reward rate in one random half of the log, the "
        "estimate then coming from the other half, so that the scores are not fitted to the rows "
        "they are judged on); 'ts': Bernoulli Thompson sampling with the --policy-param alpha/beta "
        "prior; 'bts' (Open Bandit Dataset only): Thompson sampling with ZOZOTOWN's production prior. "
        "The Monte-Carlo action distribution of 'ts'/'bts' uses --n-mc draws. A ground truth is "
        "printed only where the dataset holds a log of the very policy evaluated: 'bts' against "
        "--behavior random, 'uniform' against --behavior bts.",
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
        "--score-fit",
        choices=("holdout", "in-sample"),
        default="holdout",
        help="without --scores: fit the default scores on a random half of the log and evaluate on "
        "the other half (holdout, default), or on the whole log it evaluates (in-sample: optimistic, "
        "flagged in the output)",
    )
    parser.add_argument(
        "--n-actions", type=int, default=None, help="number of actions (default: from the log)"
    )
    parser.add_argument("--len-list", type=int, default=None, help="slots per slate (default: from the log)")
    parser.add_argument("--position-base", type=int, default=0, help="first position in --log (0 or 1)")
    parser.add_argument(
        "--reward-range", default=None, help="declared reward bounds LOW,HIGH of --log (default 0,1)"
    )
    parser.add_argument("--estimators", default="dm,ips,snips,dr", help="comma-separated (default all four)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="1 - confidence level of the intervals (default 0.05: 95%%)"
    )
    parser.add_argument("--n-mc", type=int, default=100_000, help="Monte-Carlo draws for 'ts'/'bts'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the policy simulation and the bootstrap")
    parser.add_argument("--json", default=None, help="write the estimates to this JSON file")
    parser.set_defaults(func=cmd_ope)


#: parameters that change how a policy's distribution is computed, not the policy itself
_NEUTRAL_PARAMS = {"seed", "n_mc"}


def cmd_ope(args: argparse.Namespace) -> int:
    from explorec.evaluation.ope import BanditLog, estimate, estimates_table, fit_reward_model, read_log

    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    params = parse_key_values(args.policy_param, "--policy-param")
    truth: float | None = None
    truth_note = "none: the dataset holds no log of this policy"
    campaign = None
    if args.obd_dir is not None:
        from explorec.data.obd import load_obd

        if args.reward_range is not None:
            raise ConfigError(
                f"--reward-range {args.reward_range!r}: only for --log; the Open Bandit Dataset's "
                "rewards are clicks in [0, 1]"
            )
        obd = load_obd(args.obd_dir, behavior_policy=args.behavior, campaign=args.campaign)
        log = BanditLog.from_obd(obd)
        campaign = args.campaign
        truth_log, truth_note = ground_truth_log(args.policy, args.behavior, params)
        if truth_log is not None:
            truth = load_obd(args.obd_dir, behavior_policy=truth_log, campaign=args.campaign).click_rate()
    elif args.service_db is not None:
        from explorec.service.log import read_service_log

        log = read_service_log(args.service_db, len_list=args.len_list)
    else:
        low, high = _pair(args.reward_range or "0,1", "--reward-range")
        log = read_log(
            args.log,
            n_actions=args.n_actions,
            len_list=args.len_list,
            reward_range=(low, high),
            position_base=args.position_base,
        )
    log, action_dist, method, scores_note = evaluation_distribution(args, log, params, campaign)
    reward_hat = None
    if any(e in ("dm", "dr") for e in estimators):
        if not np.all(np.isin(log.reward, (0.0, 1.0))):
            raise ConfigError(
                "dm/dr need binary rewards for the logistic reward model; use --estimators ips,snips"
            )
        reward_hat = fit_reward_model(log, seed=args.seed, progress=True)
    results = estimate(
        log,
        action_dist,
        reward_hat=reward_hat,
        estimators=estimators,
        n_bootstrap=args.bootstrap,
        alpha=args.alpha,
        seed=args.seed,
        progress=True,
    )
    print(
        f"log: {log.source} ({len(log)} rows, {log.n_actions} actions, {log.len_list} slot(s)); "
        f"on-policy value of the log: {log.on_policy_value():.6f}"
    )
    print(f"evaluation policy: {args.policy} {params or ''} (action distribution: {method})")
    if scores_note:
        print(f"scores: {scores_note}")
    if truth is not None:
        print(f"ground truth: {truth:.6f} ({truth_note})")
    elif args.obd_dir is not None:
        print(f"ground truth: {truth_note}")
    print(estimates_table(results, truth, alpha=args.alpha))
    if args.json:
        payload = {
            "log": log.source,
            "rows_evaluated": len(log),
            "policy": args.policy,
            "params": params,
            "action_distribution": method,
            "scores": scores_note,
            "truth": truth,
            "truth_source": truth_note,
            "alpha": args.alpha,
            "estimates": {k: v.to_dict() for k, v in results.items()},
        }
        if truth is not None:
            payload["relative_error"] = {k: v.relative_error(truth) for k, v in results.items()}
        write_json(args.json, payload)
    main = "snips" if "snips" in results else next(iter(results))
    top = results[main]
    summary(
        args,
        f"{args.policy} on {len(log)} logged rows: {main} {top.value:.6f} "
        f"[{top.ci_low:.6f}, {top.ci_high:.6f}] ({args.bootstrap} bootstrap resamples)"
        + (f", ground truth {truth:.6f}" if truth is not None else "")
        + (f" -> {args.json}" if args.json else ""),
    )
    return 0


def ground_truth_log(policy: str, behavior: str, params: dict[str, Any]) -> tuple[str | None, str]:
    """The OBD log that is a ground truth for ``policy`` (or None) and a sentence saying why.

    Only two pairs qualify: 'bts' is ZOZOTOWN's production policy, whose own log is ``bts/``, and
    'uniform' is the ``random/`` logging policy. An untrained 'ts' is not the production policy, and
    any option that changes the policy (other than ``seed``/``n_mc``) breaks the match.
    """
    own = {"bts": "bts", "uniform": "random"}.get(policy)
    if own is None:
        why = "the bts log comes from ZOZOTOWN's production prior; use --policy bts" if policy == "ts" else ""
        return None, "none: the dataset holds no log of this policy" + (f" ({why})" if why else "")
    if own == behavior:
        return None, f"none: the evaluated log is the {own} log itself (use the other --behavior)"
    changed = sorted(set(params) - _NEUTRAL_PARAMS)
    if changed:
        return None, f"none: {', '.join(changed)} change the policy, so the {own} log is no ground truth"
    return own, f"on-policy value of the OBD {own}/ log, collected by this very policy"


def _policy_class(name: str) -> Any:
    from explorec.policies import BernoulliTS, EpsilonGreedy, Greedy, Softmax

    return {"greedy": Greedy, "eps-greedy": EpsilonGreedy, "softmax": Softmax, "ts": BernoulliTS}[name]


def evaluation_distribution(
    args: argparse.Namespace, log: Any, params: dict[str, Any], campaign: str | None
) -> tuple[Any, npt.NDArray[np.float64], str, str]:
    """(the log to estimate on, float64[n_actions, len_list] of the evaluation policy, how that was
    obtained, how the scores were obtained or "")."""
    from explorec.spec import build

    n, slots = log.n_actions, log.len_list
    what = f"--policy {args.policy} --policy-param"
    if slots > n:
        raise ConfigError(f"the log has {slots} slots but only {n} actions")
    if args.policy == "uniform":
        if params:
            raise ConfigError(f"{what}: 'uniform' takes no parameters, got {sorted(params)}")
        return log, np.full((n, slots), 1.0 / n), "exact", ""
    items = np.arange(n)
    if args.policy in ("ts", "bts"):
        values = {"seed": args.seed, "n_mc": args.n_mc, **params}
        if args.policy == "bts":
            if campaign is None:
                raise ConfigError("--policy bts uses ZOZOTOWN's prior and needs --obd-dir; use --policy ts")
            if {"alpha", "beta"} & set(params):
                raise ConfigError(
                    f"{what}: 'bts' uses ZOZOTOWN's production prior, so alpha/beta cannot be set; "
                    "use --policy ts for another prior"
                )
            from explorec.data.obd import ZOZOTOWN_BTS_PRIOR

            prior = ZOZOTOWN_BTS_PRIOR[campaign]
            values["alpha"] = np.array(prior["alpha"], dtype=float)
            values["beta"] = np.array(prior["beta"], dtype=float)
            if values["alpha"].shape[0] != n:
                raise ConfigError(f"the {campaign} prior has {values['alpha'].shape[0]} items, the log {n}")
        policy = build(_policy_class("ts"), values, what=what)
        matrix, method = policy.propensity_matrix(items, slots)
        return log, matrix, method, ""
    log, scores, note = _scores(args, log)
    pol = build(_policy_class(args.policy), {"seed": args.seed, "n_mc": args.n_mc, **params}, what=what)
    matrix, method = pol.propensity_matrix(items, slots, scores=scores)
    return log, matrix, method, note


def _scores(args: argparse.Namespace, log: Any) -> tuple[Any, npt.NDArray[np.float64], str]:
    """(the log to evaluate on, one score per action, where the scores came from)."""
    n = log.n_actions
    if args.scores is None:
        if args.score_fit == "in-sample":
            note = (
                "WARNING: smoothed reward rates fitted to the evaluated log itself (in-sample); "
                "the estimate is optimistic"
            )
            logger.warning("ope: %s", note)
            return log, _reward_rates(log), note
        fit, held_out = _halves(log, args.seed)
        note = (
            f"smoothed reward rates of a random half of the log ({fit.size} rows, seed {args.seed}); "
            f"estimated on the other half ({held_out.size} rows)"
        )
        return log.subset(held_out), _reward_rates(log.subset(fit)), note
    path = Path(args.scores)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scores file not found")
    values = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape[0] != n or not np.all(np.isfinite(values)):
        raise ConfigError(f"{path}: expected {n} finite scores (one per action), got {values.shape[0]}")
    return log, values, f"from {path}"


def _reward_rates(log: Any) -> npt.NDArray[np.float64]:
    shows = np.bincount(log.action, minlength=log.n_actions).astype(np.float64)
    rewards = np.bincount(log.action, weights=log.reward, minlength=log.n_actions)
    return np.asarray((rewards + 1.0) / (shows + 2.0), dtype=np.float64)


def _halves(log: Any, seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Row indices of two random halves of ``log``, whole slates kept together when slates are known."""
    groups = log.slate_id if log.slate_id is not None else np.arange(len(log))
    unique, inverse = np.unique(groups, return_inverse=True)
    if unique.size < 2:
        raise ConfigError("the log has a single slate: give --scores, or --score-fit in-sample")
    chosen = np.random.default_rng(seed).permutation(unique.size)[: unique.size // 2]
    in_fit = np.isin(inverse, chosen)
    return np.flatnonzero(in_fit).astype(np.int64), np.flatnonzero(~in_fit).astype(np.int64)


def _pair(text: str, flag: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"{flag}: expected LOW,HIGH (two numbers), got {text!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ConfigError(f"{flag}: expected finite LOW < HIGH, got {text!r}")
    return low, high
