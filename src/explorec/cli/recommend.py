"""``explorec recommend``: top-k items for given external user ids from a saved model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from explorec.cli._common import write_json
from explorec.errors import ConfigError


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("recommend", help="recommend items to users (external ids in and out)")
    parser.add_argument("--model-dir", required=True, help="a model saved by `explorec train`")
    parser.add_argument("--users", required=True, help="comma-separated external user ids")
    parser.add_argument("--k", type=int, default=10, help="slate length (default 10)")
    parser.add_argument("--data-dir", default=None, help="folder holding the datasets (for item titles)")
    parser.add_argument("--rerank", default=None, help="re-rankers, e.g. mmr:0.3 or dpp:0.5,calibration:0.3")
    parser.add_argument(
        "--policy", default=None, help="exploration policy, e.g. epsilon-greedy:0.1 (default: greedy top-k)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the exploration policy")
    parser.add_argument("--candidates", type=int, default=100, help="candidate pool per user (default 100)")
    parser.add_argument(
        "--include-seen", action="store_true", help="do not mask items the user already interacted with"
    )
    parser.add_argument("--json", default=None, help="write the slates to this JSON file")
    parser.set_defaults(func=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> int:
    from explorec.data.registry import load_dataset
    from explorec.models.base import Recommender
    from explorec.pipeline import recommend

    model = Recommender.load(args.model_dir)
    user_ids = [u.strip() for u in args.users.split(",") if u.strip()]
    if not user_ids:
        raise ConfigError("--users: give at least one user id")
    users = model.train_.user_index(user_ids)
    run_path = Path(args.model_dir) / "run.json"
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    titles = None
    vectors = None
    catalog = None
    if "dataset" in run:
        catalog = load_dataset(run["dataset"], data_dir=args.data_dir or run.get("data_dir")).catalog
        for field in ("title", "name", "text"):
            if field in catalog.fields:
                titles = catalog.fields[field]
                break
    context = None
    if args.rerank and catalog is not None:
        from explorec.encoders import item_vectors
        from explorec.rerank import RerankContext

        vectors = item_vectors(catalog)
        context = RerankContext.from_data(model.train_, catalog)
    policy = None
    if args.policy:
        from explorec.policies.spec import parse_policy_spec

        policy = parse_policy_spec(args.policy, seed=args.seed)
    slates = recommend(
        model,
        users,
        k=args.k,
        exclude_seen=not args.include_seen,
        n_candidates=max(args.candidates, args.k),
        rerank=args.rerank,
        context=context,
        policy=policy,
        item_vectors=vectors,
    )
    out = []
    for user_id, slate in zip(user_ids, slates, strict=True):
        rows = []
        print(f"user {user_id} ({slate.policy}{'; ' + slate.note if slate.note else ''})")
        for pos, (item, score, prop) in enumerate(
            zip(slate.items, slate.scores, slate.propensities, strict=True), start=1
        ):
            item_id = str(model.train_.item_ids[item])
            title = "" if titles is None else str(titles[item])[:70]
            rows.append(
                {"item_id": item_id, "score": float(score), "propensity": float(prop), "title": title}
            )
            print(f"  {pos:>2}. {item_id:<14} {score:9.4f}  p={prop:.3f}  {title}")
        out.append({"user_id": user_id, "policy": slate.policy, "note": slate.note, "items": rows})
    if args.json:
        write_json(args.json, out)
    return 0
