"""Off-policy evaluation on the Open Bandit Dataset small sample, the way its authors validate estimators.

The evaluation policy is ZOZOTOWN's production Bernoulli Thompson sampling (``bts``). Its value is
estimated from the log of the *uniformly random* policy (``random/<campaign>``) and compared with the
on-policy click rate of the ``bts`` log itself (the ground truth; Saito et al., NeurIPS 2021 D&B).
The ``bts`` action distribution is not in the random log: it is computed by Monte-Carlo simulation of
the Beta posteriors (``BernoulliTS`` with ZOZOTOWN's production prior, top-3 of each draw), shared
by every round since the policy ignores the context. The estimation is repeated on ``--runs``
bootstrap resamples of the random log; each run refits the reward model (per-position logistic
regression on one-hot user features and item features, 3-fold cross-fitting) for DM and DR.
Reported: relative estimation error ``|V_hat - V| / V``, mean and standard deviation over the runs,
next to the published figures for the small sample (campaign ``all``: DM 0.157, IPW 0.311,
SNIPW 0.312, DR 0.292).

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ope_obd.py [--data-dir DIR] [--runs 30]
Writes bench/results/ope_obd.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from _provenance import Provenance
from explorec.data.obd import ZOZOTOWN_BTS_PRIOR, load_obd
from explorec.evaluation.ope import BanditLog, estimate, fit_reward_model
from explorec.policies import BernoulliTS

PUBLISHED = {"all": {"dm": 0.157, "ips": 0.311, "snips": 0.312, "dr": 0.292}}
ESTIMATORS = ("dm", "ips", "snips", "dr")


def main() -> None:
    prov = Provenance()  # load average and git state at the start
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EXPLOREC_DATA_DIR", "../shared/datasets"))
    parser.add_argument("--campaigns", default="all,men,women")
    parser.add_argument("--runs", type=int, default=30, help="bootstrap resamples of the random log")
    parser.add_argument("--n-sim", type=int, default=1_000_000, help="Monte-Carlo draws of the BTS policy")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", default="bench/results/ope_obd.json")
    args = parser.parse_args()
    root = Path(args.data_dir) / "open-bandit-dataset-small"
    start = time.perf_counter()
    print(
        f"OBD small sample at {root}; evaluation policy bts (ZOZOTOWN prior, {args.n_sim} Monte-Carlo "
        f"draws), logging policy random; {args.runs} bootstrap runs; reward model: per-position "
        "logistic regression (C=100), 3-fold cross-fitting"
    )
    report: dict[str, object] = {}
    for campaign in args.campaigns.split(","):
        t0 = time.perf_counter()
        random_log = load_obd(root, behavior_policy="random", campaign=campaign)
        truth = load_obd(root, behavior_policy="bts", campaign=campaign).click_rate()
        log = BanditLog.from_obd(random_log)
        prior = ZOZOTOWN_BTS_PRIOR[campaign]
        policy = BernoulliTS(
            alpha=np.array(prior["alpha"], dtype=float),
            beta=np.array(prior["beta"], dtype=float),
            seed=args.seed,
            n_mc=args.n_sim,
        )
        action_dist, method = policy.propensity_matrix(np.arange(log.n_actions), log.len_list)
        # Monte-Carlo check: a second, independent estimate with a tenth of the draws
        check = BernoulliTS(alpha=policy.alpha, beta=policy.beta, seed=args.seed + 1, n_mc=args.n_sim // 10)
        small, _ = check.propensity_matrix(np.arange(log.n_actions), log.len_list)
        mc_gap = float(np.abs(small - action_dist).max())
        sim_seconds = time.perf_counter() - t0

        rng = np.random.default_rng(args.seed)
        errors = {e: [] for e in ESTIMATORS}
        values = {e: [] for e in ESTIMATORS}
        for b in range(args.runs):
            idx = rng.integers(0, len(log), size=len(log))
            boot = log.subset(idx)
            q = fit_reward_model(boot, n_folds=3, seed=args.seed)
            res = estimate(boot, action_dist, reward_hat=q, estimators=ESTIMATORS, n_bootstrap=2, seed=b)
            for e in ESTIMATORS:
                values[e].append(res[e].value)
                errors[e].append(res[e].relative_error(truth))
        # estimates with 95% bootstrap intervals on the original log
        q_full = fit_reward_model(log, n_folds=3, seed=args.seed)
        full = estimate(log, action_dist, reward_hat=q_full, estimators=ESTIMATORS, n_bootstrap=1000, seed=0)
        seconds = time.perf_counter() - t0
        rows = {
            e: {
                "relative_error_mean": float(np.mean(errors[e])),
                "relative_error_std": float(np.std(errors[e], ddof=1)),
                "estimate_mean": float(np.mean(values[e])),
                "full_log": full[e].to_dict(),
                "published_relative_error": PUBLISHED.get(campaign, {}).get(e),
            }
            for e in ESTIMATORS
        }
        report[campaign] = {
            "ground_truth_bts_click_rate": truth,
            "random_log_click_rate": log.on_policy_value(),
            "action_distribution": method,
            "monte_carlo_max_abs_gap_vs_tenth": mc_gap,
            "seconds": seconds,
            "simulation_seconds": sim_seconds,
            "estimators": rows,
        }
        print(
            f"\ncampaign {campaign}: ground truth (bts on-policy CTR) {truth:.5f}, random-log CTR "
            f"{log.on_policy_value():.5f}; action distribution {method} (max gap to an independent "
            f"{args.n_sim // 10}-draw estimate: {mc_gap:.4f}); {seconds:.0f}s"
        )
        head = f"{'estimator':<10}{'rel. error (mean ± sd)':>26}{'published':>11}"
        print(head + f"{'estimate, full log [95% CI]':>40}")
        for e in ESTIMATORS:
            r = rows[e]
            pub = r["published_relative_error"]
            ci = full[e]
            print(
                f"{e:<10}{r['relative_error_mean']:>15.3f} ± {r['relative_error_std']:<8.3f}"
                f"{'' if pub is None else f'{pub:.3f}':>11}"
                f"{f'{ci.value:.5f} [{ci.ci_low:.5f}, {ci.ci_high:.5f}]':>40}"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "settings": vars(args),
        "machine": "2-core shared CPU, no GPU",
        "seconds": time.perf_counter() - start,
        "campaigns": report,
        "provenance": prov.finish(),
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {out} ({payload['seconds']:.0f}s)")


if __name__ == "__main__":
    main()
