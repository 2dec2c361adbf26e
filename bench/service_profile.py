"""CPU time per stage of one recommendation request, in process (no HTTP), on a large catalogue.

What ``GET /v1/users/{user_id}/recommendations`` does, stage by stage, timed with
``time.thread_time`` (CPU seconds of the calling thread, so the load of other jobs on the machine
does not count) except the impression commit, which runs on the store's committer thread and is
timed with ``time.process_time`` (nothing else runs in this process then):

- ``auth``: the bearer key (verified-key cache hit) and the per-key rate limit;
- ``user lookup``: the store's user index and item count (``Store.lookup_user``, on every request);
- ``build_slate``, with inside it ``candidate space`` (text profile, FAISS search, candidate
  sub-catalogue), ``score`` (exact rescoring of the candidates), ``mask``, ``top candidates``,
  ``rerank: prepare`` (the ``vectors`` column) and ``rerank: order`` (MMR over the candidates),
  ``policy: draw`` and ``policy: propensities`` (the ε-greedy propensity matrix);
- ``impression commit``: ``Store.append_impression`` (durable: SQLite WAL, ``synchronous=FULL``);
- ``response``: the response model built and serialised to JSON by pydantic.

The served state is built the way the service builds it (``ServedState.load`` from a seeded SQLite
store, hashing encoder, FAISS HNSW forced); users have the generated histories.

    python bench/service_profile.py                      # 100,000 items, 1,000 requests
    python bench/service_profile.py --n-items 20000 --requests 300

Prints a table (mean CPU ms per request per stage); writes ``bench/results/service_profile.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _provenance import Provenance
from _service import seeded_store

CPU: dict[str, float] = defaultdict(float)
ACTIVE: dict[str, bool] = {}


def timed(owner: Any, attr: str, label: str) -> None:
    """Wrap ``owner.attr`` so that each call's thread CPU time is added to ``CPU[label]``."""
    inner: Callable[..., Any] = getattr(owner, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if ACTIVE.get(label):  # a nested call of the same stage (a chain calling its stages)
            return inner(*args, **kwargs)
        ACTIVE[label] = True
        t0 = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            CPU[label] += time.thread_time() - t0
            ACTIVE[label] = False

    setattr(owner, attr, wrapper)


def main() -> None:
    prov = Provenance()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-items", type=int, default=100_000)
    parser.add_argument("--n-users", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--policy", default="eps-greedy:0.1")
    parser.add_argument("--rerank", default="mmr:0.3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cprofile", type=int, default=0, help="print the N hottest functions (cProfile)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "service_profile.json"))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    import explorec.pipeline as pipeline
    import explorec.service.slates as slates
    from explorec.data.registry import load_dataset
    from explorec.policies.base import Policy
    from explorec.rerank.base import Reranker
    from explorec.service.auth import KeyVerifier
    from explorec.service.schemas import Recommendations, RecommendedItem
    from explorec.service.served import ServedState, ServedTextModel
    from explorec.service.settings import ServiceSettings

    threadpool_limits(limits=1)
    dataset = load_dataset("synthetic", n_users=args.n_users, n_items=args.n_items, seed=args.seed)
    catalog, data = dataset.catalog, dataset.interactions
    folder = Path(tempfile.mkdtemp(prefix="explorec-profile-"))
    t0 = time.perf_counter()
    url, store, n_events = seeded_store(folder, catalog, data)
    settings = ServiceSettings(
        database_url=url,
        encoder="hashing:256",
        index="faiss",
        policy=args.policy,
        rerank=args.rerank,
        rate_limit="1000000/minute",
    )
    state = ServedState(settings)
    state.load(store)
    build_s = time.perf_counter() - t0
    print(
        f"seeded and loaded {state.n_items} items ({state.index_backend}), "
        f"{n_events} events in {build_s:.0f}s"
    )
    secret = store.create_key("read")
    keys = KeyVerifier(store, cache_s=3600.0, rate_limit=settings.rate_limit)

    timed(slates, "build_slate", "build_slate")
    timed(ServedState, "candidate_space", "candidate space")
    timed(ServedTextModel, "_score", "score")
    timed(pipeline, "mask_matrix", "mask")
    timed(pipeline, "top_candidates", "top candidates")
    for cls in (Reranker, *Reranker.__subclasses__()):
        if "prepare" in cls.__dict__:
            timed(cls, "prepare", "rerank: prepare")
        if "rerank" in cls.__dict__:
            timed(cls, "rerank", "rerank: order")
    for cls in (Policy, *Policy.__subclasses__()):
        if "_draw" in cls.__dict__:
            timed(cls, "_draw", "policy: draw")
        if "_propensities" in cls.__dict__:
            timed(cls, "_propensities", "policy: propensities")

    users = [str(u) for u in data.user_ids]
    # the rate limit is counted on the service's event loop (limits' asyncio limiter): one loop here
    loop = asyncio.new_event_loop()

    def one(j: int) -> bytes:
        user_id = users[j % len(users)] if j % 10 else f"stranger-{j}"
        c0 = time.thread_time()
        principal = keys.principal(secret)
        assert principal is not None
        counted = keys.check_rate(principal)
        if inspect.isawaitable(counted):  # the asyncio limiter (a synchronous one before 03adc22)
            loop.run_until_complete(counted)
        c1 = time.thread_time()
        index, _ = store.lookup_user(user_id)  # what the route asks: the user and the item count
        c2 = time.thread_time()
        CPU["auth"] += c1 - c0
        CPU["user lookup"] += c2 - c1
        request = slates.SlateRequest(
            user_id, -1 if index is None else index, args.k, args.policy, args.rerank
        )
        record = slates.build_slate(state, request, seed=0)
        p0 = time.process_time()
        store.append_impression(record)
        p1 = time.process_time()
        CPU["impression commit"] += p1 - p0
        c3 = time.thread_time()
        body = Recommendations(
            recommendation_id=record.recommendation_id,
            model_version=record.model_version,
            user_id=user_id,
            policy=record.policy,
            items=[
                RecommendedItem(
                    item_id=i, score=None if s != s else s, position=p, propensity=q, explored=e, stage=g
                )
                for p, (i, s, q, e, g) in enumerate(
                    zip(
                        record.item_ids,
                        record.scores,
                        record.propensities,
                        record.explored,
                        record.stages,
                        strict=True,
                    )
                )
            ],
            note=record.note,
        ).model_dump_json()
        CPU["response"] += time.thread_time() - c3
        return body.encode()

    for j in range(50):  # warm-up: caches, first FAISS search, first commit
        one(j)
    CPU.clear()
    p_start, w_start = time.process_time(), time.perf_counter()
    for j in range(args.requests):
        one(j)
    process_cpu = time.process_time() - p_start
    wall = time.perf_counter() - w_start
    if args.cprofile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.thread_time)  # CPU of this thread: the machine's load aside
        profiler.runcall(lambda: [one(j) for j in range(args.requests)])
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(args.cprofile)
        stats.sort_stats("tottime").print_stats(args.cprofile)
        stats.print_callers(
            "typing.py:852|_signature_from_function|get_type_hints|typing.py:.*_eval_type|parse_spec"
        )
    store.close()

    n = args.requests
    order = [
        "auth",
        "user lookup",
        "build_slate",
        "candidate space",
        "score",
        "mask",
        "top candidates",
        "rerank: prepare",
        "rerank: order",
        "policy: draw",
        "policy: propensities",
        "impression commit",
        "response",
    ]
    stages = {name: CPU.get(name, 0.0) / n * 1000.0 for name in order}
    top = sum(stages[s] for s in ("auth", "user lookup", "build_slate", "impression commit", "response"))
    print(f"{'stage':<24} CPU ms / request")
    for name in order:
        indent = (
            "  "
            if name not in ("auth", "user lookup", "build_slate", "impression commit", "response")
            else ""
        )
        print(f"{indent}{name:<22} {stages[name]:8.3f}")
    print(f"{'sum of top-level stages':<24} {top:8.3f}")
    print(
        f"{'process CPU / request':<24} {process_cpu / n * 1000.0:8.3f}   (wall {wall / n * 1000.0:.3f} ms)"
    )
    out = {
        "settings": {
            "n_items": state.n_items,
            "index": state.index_backend,
            "requests": n,
            "k": args.k,
            "policy": args.policy,
            "rerank": args.rerank,
            "unknown_user_share": 0.1,
        },
        "cpu_ms_per_request": stages,
        "process_cpu_ms_per_request": process_cpu / n * 1000.0,
        "wall_ms_per_request": wall / n * 1000.0,
        "median_history": float(np.median([len(state.history(u)) for u in users])),
        "provenance": prov.finish(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
