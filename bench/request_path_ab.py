"""Old against new request path in ONE process: ``build_slate`` CPU time, alternating, same answers.

The served state is built once (as in ``bench/service_profile.py``: seeded SQLite store, hashing
encoder, FAISS HNSW); the baseline's ``explorec/pipeline.py``, ``explorec/service/slates.py`` and
``ServedState.candidate_space`` are loaded from ``--baseline-src`` (e.g. a ``git archive`` tree) as
separate modules over the current package. Rounds alternate baseline/current on the same users, the
recommendation ids (and so the policy seeds) are fixed, and every slate of both sides is compared:
any difference in items, scores, propensities, explored flags or stages aborts the run.
``time.thread_time`` is the clock, so the machine's other jobs count little.

    python bench/request_path_ab.py --baseline-src /tmp/explorec-base/src --n-items 20000

Writes ``bench/results/request_path_ab.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance
from _service import seeded_store


def load_as(name: str, path: Path) -> types.ModuleType:
    """``path`` imported as module ``name`` (its imports resolve to the current package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline-src", required=True, help="a src/ folder of the baseline explorec")
    parser.add_argument("--baseline-label", default="baseline")
    parser.add_argument("--n-items", type=int, default=20_000)
    parser.add_argument("--n-users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=100, help="requests per side per round")
    parser.add_argument("--policy", default="eps-greedy:0.1")
    parser.add_argument("--rerank", default="mmr:0.3")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "request_path_ab.json"))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    import explorec.service.slates as new_slates
    from explorec.data.registry import load_dataset
    from explorec.service.served import ServedState
    from explorec.service.settings import ServiceSettings

    base = Path(args.baseline_src) / "explorec"
    old_pipeline = load_as("explorec_old_pipeline", base / "pipeline.py")
    old_slates = load_as("explorec_old_slates", base / "service" / "slates.py")
    old_slates.recommend = old_pipeline.recommend  # type: ignore[attr-defined]
    old_served = load_as("explorec_old_served", base / "service" / "served.py")
    new_space = ServedState.candidate_space
    old_space = old_served.ServedState.candidate_space

    threadpool_limits(limits=1)
    data_set = load_dataset("synthetic", n_users=args.n_users, n_items=args.n_items, seed=0)
    catalog, data = data_set.catalog, data_set.interactions
    folder = Path(tempfile.mkdtemp(prefix="explorec-ab-"))
    url, store, _ = seeded_store(folder, catalog, data)
    settings = ServiceSettings(
        database_url=url, encoder="hashing:256", index="faiss", policy=args.policy, rerank=args.rerank
    )
    state = ServedState(settings)
    state.load(store)
    users = [str(u) for u in data.user_ids]

    def side(module: Any, space: Any, j0: int) -> tuple[float, list[tuple[Any, ...]]]:
        ServedState.candidate_space = space  # type: ignore[method-assign]
        ids = iter(uuid.UUID(int=(j0 + j) * 7919 + 1) for j in range(args.requests))
        module.uuid = types.SimpleNamespace(uuid4=lambda: next(ids))
        out = []
        t0 = time.thread_time()
        for j in range(j0, j0 + args.requests):
            user_id = users[j % len(users)] if j % 10 else f"stranger-{j}"
            index, _ = store.lookup_user(user_id)
            request = module.SlateRequest(
                user_id, -1 if index is None else index, 10, args.policy, args.rerank
            )
            r = module.build_slate(state, request, seed=0)
            out.append(
                (
                    r.item_ids,
                    [repr(float(s)) for s in r.scores],
                    list(r.propensities),
                    list(r.explored),
                    list(r.stages),
                )
            )
        return time.thread_time() - t0, out

    side(old_slates, old_space, 0)  # warm-up both
    side(new_slates, new_space, 0)
    cpu: dict[str, list[float]] = {"baseline": [], "current": []}
    for r in range(args.rounds):
        j0 = r * args.requests
        order = [("baseline", old_slates, old_space), ("current", new_slates, new_space)]
        if r % 2:
            order.reverse()
        answers = {}
        for label, module, space in order:
            seconds, answers[label] = side(module, space, j0)
            cpu[label].append(seconds / args.requests * 1000.0)
        if answers["baseline"] != answers["current"]:
            raise SystemExit(f"round {r}: the slates differ between baseline and current")
    store.close()
    med = {k: float(np.median(v)) for k, v in cpu.items()}
    print(f"build_slate CPU ms per request, median of {args.rounds} rounds: {med}")
    out = {
        "settings": {
            "n_items": state.n_items,
            "index": state.index_backend,
            "requests_per_round": args.requests,
            "rounds": args.rounds,
            "policy": args.policy,
            "rerank": args.rerank,
            "unknown_user_share": 0.1,
            "baseline": args.baseline_label,
        },
        "build_slate_cpu_ms_per_round": cpu,
        "build_slate_cpu_ms_median": med,
        "identical_slates": True,
        "provenance": prov.finish(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
