"""``explorec demo``: the main job on the embedded (generated) dataset, fully offline.

1. load the generated catalogue and interaction log;
2. warm evaluation (leave-one-out, full ranking) of the baselines and the language-model recommenders;
3. cold start: items held out of training entirely, recommendable only through their text;
4. one live slate: re-ranked for diversity, chosen by an exploration policy, with propensities;
5. an HTML report with plots;
6. the learning loop over HTTP (``--loop-seconds``, default 60; 0 skips it): a real ``explorec serve``
   process on 127.0.0.1 (SQLite store under ``--out``/loop) driven by simulated users of the same
   generated data (``explorec simulate --service``): greedy (10 % of its slates random) against
   online Thompson sampling, every slate, click and new item through the API, bounded in time.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from explorec.cli._common import summary, write_json

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the main job on the embedded generated dataset (offline)")
    parser.add_argument("--out", default="runs/demo", help="folder for the report and results (runs/demo)")
    parser.add_argument(
        "--encoder",
        choices=("minilm", "hashing"),
        default="minilm",
        help="text encoder: the packaged all-MiniLM-L6-v2 (default) or the tiny hashing encoder",
    )
    parser.add_argument("--users", type=int, default=1000, help="generated users (default 1000)")
    parser.add_argument("--items", type=int, default=1500, help="generated items (default 1500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator and the policy")
    parser.add_argument(
        "--neural", action="store_true", help="also train the Transformer sequential model (slower)"
    )
    parser.add_argument(
        "--loop-seconds",
        type=float,
        default=60.0,
        help="seconds for the last part, explorec serve driven by simulated users over HTTP on 127.0.0.1 "
        "(default 60, service start-up included; 0 skips it)",
    )
    parser.set_defaults(func=cmd_demo)


def _section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def cmd_demo(args: argparse.Namespace) -> int:
    from explorec.data.registry import load_dataset
    from explorec.data.splits import cold_item_split, leave_one_out
    from explorec.encoders import HashingEncoder, item_vectors
    from explorec.evaluation import evaluate
    from explorec.evaluation.report import write_report
    from explorec.models.registry import make_model
    from explorec.pipeline import recommend
    from explorec.policies.spec import parse_policy_spec

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    dataset = load_dataset("synthetic", n_users=args.users, n_items=args.items, seed=args.seed)
    data, catalog = dataset.interactions, dataset.catalog
    _section("data")
    print(dataset.source)
    print(f"{len(data)} interactions, {data.n_users} users, {data.n_items} items")

    encoder = HashingEncoder() if args.encoder == "hashing" else None
    t0 = time.perf_counter()
    vectors = item_vectors(catalog, encoder=encoder)
    print(f"item text embedded: {vectors.shape[0]} x {vectors.shape[1]} in {time.perf_counter() - t0:.1f}s")
    text_params: dict[str, Any] = {} if encoder is None else {"encoder": "hashing"}
    # a short adapter schedule keeps the demo to a few minutes on 2 cores (benchmarks train longer)
    trained = {"lm-adapter": {"epochs": 6}, "sasrec": {"epochs": 10}}

    _section("warm items: leave-one-out, full ranking")
    split = leave_one_out(data)
    names = ["popularity", "itemknn", "ease", "textknn", "lm-adapter"] + (["sasrec"] if args.neural else [])
    warm = {}
    for name in names:
        params = text_params if name in {"textknn", "lm-adapter"} else {}
        model = make_model(name, **params, **trained.get(name, {}))
        t0 = time.perf_counter()
        model.fit(split.train, catalog)
        result = evaluate(
            model, split.test, history=split.test_history, k=(10,), item_vectors=vectors, progress=True
        )
        warm[name] = result
        m = result.metrics
        print(
            f"{name:<12} ndcg@10={m['ndcg@10']:.4f} recall@10={m['recall@10']:.4f} "
            f"coverage@10={m['coverage@10']:.3f} diversity@10={m['diversity@10']:.3f} "
            f"({time.perf_counter() - t0:.1f}s)"
        )

    _section("cold items: 20% of items never seen in training")
    cold = cold_item_split(data, item_fraction=0.2, seed=args.seed)
    cold_results = {}
    for name in ("popularity", "itemknn", "textknn", "lm-adapter"):
        params = text_params if name in {"textknn", "lm-adapter"} else {}
        model = make_model(name, **params, **trained.get(name, {}))
        model.fit(cold.train, catalog)
        result = evaluate(model, cold.test, history=cold.test_history, k=(10,), progress=True)
        cold_results[name] = result
        print(
            f"{name:<12} ndcg@10={result.metrics['ndcg@10']:.4f} recall@10={result.metrics['recall@10']:.4f}"
        )

    _section("one slate: textknn -> MMR re-rank (diversity 0.3) -> epsilon-greedy exploration")
    model = make_model("textknn", **text_params).fit(split.train, catalog)
    user = int(split.test.user[0])
    history = split.train.sequences()[user]
    titles = catalog.field("title")
    print(f"user {data.user_ids[user]} recently interacted with:")
    for item in history[-5:]:
        print(f"   - {titles[item]}")
    (slate,) = recommend(
        model,
        [user],
        k=10,
        rerank="mmr:0.3",
        policy=parse_policy_spec("eps-greedy:0.2", seed=args.seed),
        item_vectors=vectors,
    )
    for pos, (item, prop, explored) in enumerate(
        zip(slate.items, slate.propensities, slate.explored, strict=True), start=1
    ):
        tag = "explore" if explored else "exploit"
        print(f"  {pos:>2}. [{tag}] p={prop:.3f} {titles[item]}")

    report = write_report(
        {**{f"warm/{k}": v for k, v in warm.items()}, **{f"cold/{k}": v for k, v in cold_results.items()}},
        out,
        title="explorec demo (generated dataset)",
    )
    facts = {
        "warm": {k: v.metrics for k, v in warm.items()},
        "cold": {k: v.metrics for k, v in cold_results.items()},
        "slate": {
            "user_id": str(data.user_ids[user]),
            "items": [str(data.item_ids[i]) for i in slate.items],
            "propensities": np.asarray(slate.propensities).tolist(),
        },
        "seconds": time.perf_counter() - start,
    }
    if args.loop_seconds > 0:
        facts["http_loop"] = _http_loop(dataset, args, out / "loop")
        facts["seconds"] = time.perf_counter() - start
    write_json(out / "demo.json", facts)
    _section("done")
    print(f"report: {report}\nresults: {out / 'demo.json'}  ({facts['seconds']:.0f}s)")
    best = max(warm, key=lambda name: warm[name].metrics["ndcg@10"])
    summary(
        args,
        f"{len(warm)} warm and {len(cold_results)} cold-item models on {len(data)} generated interactions; "
        f"best warm ndcg@10: {best} {warm[best].metrics['ndcg@10']:.4f} -> {report}, {out / 'demo.json'}",
    )
    return 0


def _http_loop(dataset: Any, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Serve the generated data with ``explorec serve`` and drive it with simulated users for at most
    ``args.loop_seconds`` seconds (start-up included); returns the run's summary."""
    import os
    import shutil
    import socket
    import subprocess
    import sys

    import httpx

    from explorec.cli.simulate_service import format_service_table, run_service_simulation
    from explorec.encoders.templates import item_texts
    from explorec.evaluation.simulator import Simulator
    from explorec.store import Store

    _section(f"the learning loop over HTTP: explorec serve + simulated users (<= {args.loop_seconds:.0f} s)")
    started = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"sqlite:///{folder / 'explorec.db'}"
    encoder = "hashing:256" if args.encoder == "hashing" else "default"
    config = folder / "explorec.toml"
    config.write_text(
        f'database_url = "{url}"\nport = {port}\nencoder = "{encoder}"\naccess_log = false\n'
        'rate_limit = "1000000/minute"\npolicy = "greedy"\nrerank = "none"\n'
    )
    with Store.open(url) as store:
        store.migrate()
        key = store.create_key(scope="admin", name="demo-loop")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    with (folder / "server.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "explorec", "serve", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            # the world (ground truth, arrivals, releases) is built while the service starts
            sim = Simulator(
                dataset.interactions, catalog=dataset.catalog, max_items=1000, n_steps=5000, seed=args.seed
            )
            assert sim.catalog is not None
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"explorec serve exited with {proc.returncode}; see {folder / 'server.log'}"
                    )
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > args.loop_seconds:
                    raise RuntimeError(f"explorec serve was not ready within {args.loop_seconds:.0f} s")
                time.sleep(0.2)
            print(f"explorec serve ready at {base} after {time.perf_counter() - started:.1f}s")
            variants = (
                {"name": "greedy", "share": 0.5, "policy": "eps-greedy:1", "exploration": 0.1},
                {"name": "explore", "share": 0.5, "policy": "ts"},
            )
            left = args.loop_seconds - (time.perf_counter() - started)
            run = run_service_simulation(
                base, key, sim, item_texts(sim.catalog), variants=variants, time_limit_s=max(left - 3.0, 1.0)
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    print(f"{run['steps']} simulated users in {time.perf_counter() - started:.0f}s, through the API:")
    print(format_service_table(run))
    return run
