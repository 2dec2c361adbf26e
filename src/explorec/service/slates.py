"""One shown slate: the fallback chain around :func:`explorec.pipeline.recommend`, and its record.

Stages, in order, each filling only the slots that the previous ones left empty (so an answer is
never empty while the catalogue has a servable item, and never waits on anything slow):

1. ``model`` / ``exploration``: the pipeline (score -> mask -> candidates -> re-rank -> policy) over
   the user's recent history; a slot the policy filled by exploring says ``exploration``;
2. ``item-to-item``: nearest items (retrieval index) to the user's most recent items;
3. ``popular``: most interacted-with items;
4. ``newest``: most recently arrived items.

A user without history (unknown, or known without events) is served cold: the policy chooses among
the popular and newest items (ranked in that order), so that new items get explored too; those
slots say ``popular``/``newest`` (or ``exploration``) and carry no model score.

Propensities: policy slots carry the policy's exact propensities; deterministic fill slots carry 1,
the probability of that item given the slots the policy filled before it.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.impressions import ImpressionRecord
from explorec.pipeline import recommend
from explorec.policies import Policy
from explorec.policies.spec import parse_policy_spec
from explorec.rerank import RerankChain, RerankContext, as_chain
from explorec.service.served import ServedState
from explorec.spec import parse_spec
from explorec.types import ScoredItems, Slate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlateRequest:
    user_id: str
    user: int
    k: int
    policy: str
    rerank: str | None
    exclude: tuple[str, ...] = ()
    category: str | None = None
    exclude_seen: bool = True


@functools.lru_cache(maxsize=64)
def rerank_chain(spec: str) -> RerankChain:
    """The re-ranker chain of a request's ``rerank`` spec, parsed once per spec string.

    Safe to share between requests and threads: the request re-rankers (MMR, DPP) keep only their
    parameters; everything a request computes lives in its own candidate frame.
    """
    return as_chain(spec)


@functools.lru_cache(maxsize=64)
def _policy_recipe(spec: str) -> tuple[type[Policy], dict[str, Any], bool] | None:
    """The class and checked parameters of a request's ``policy`` spec, validated once per spec.

    None when a parameter is not a plain scalar (a wrapped policy object, which must not be shared
    between requests): such specs are parsed on every request. The flag says the spec sets
    ``seed=`` itself (then the request's seed does not replace it).
    """
    template = parse_policy_spec(spec, seed=0)
    params = template.get_params()
    if not all(v is None or isinstance(v, bool | int | float | str) for v in params.values()):
        return None
    return type(template), params, "seed" in parse_spec(spec, what=f"--policy {spec!r}").options


def request_policy(spec: str, seed: int) -> Policy:
    """``parse_policy_spec(spec, seed=seed)``, without re-validating the spec on every request.

    The spec is parsed and checked against the policy's signature once (:func:`_policy_recipe`);
    each request then only constructs (and so seeds) a fresh policy from the checked parameters.
    """
    recipe = _policy_recipe(spec)
    if recipe is None:
        return parse_policy_spec(spec, seed=seed)
    cls, params, fixed_seed = recipe
    return cls(**params) if fixed_seed else cls(**{**params, "seed": seed})


def policy_seed(recommendation_id: str, seed: int) -> int:
    """The policy's seed for one slate: a replay of ``recommendation_id`` draws the same slate."""
    return (int(recommendation_id.replace("-", "")[:15], 16) + seed) % 2**63


def build_slate(state: ServedState, request: SlateRequest, *, seed: int = 0) -> ImpressionRecord:
    """The slate for ``request``, as the impression record to log and to answer with."""
    rec_id = str(uuid.uuid4())
    now = time.time()
    settings = state.settings
    k = request.k
    history = state.history(request.user_id)
    seen = [item for item, _ in history]
    excluded = set(int(i) for i in state.blocked_items())
    excluded.update(state.item_index[i] for i in request.exclude if i in state.item_index)
    outside = state.outside_category(request.category) if request.category is not None else None
    if outside is not None:
        excluded.update(outside.tolist())
    if request.exclude_seen:
        excluded.update(seen)
    policy = request_policy(request.policy, policy_seed(rec_id, seed))
    version = state.served_version()  # read once: the whole slate and its label use this version

    items: list[int] = []
    scores: list[float] = []
    props: list[float] = []
    explored: list[bool] = []
    stages: list[str] = []
    note = ""
    slate: Slate | None = None
    if history and state.n_items:
        if state.retrieves:
            # large catalogue: the pipeline runs over the retrieved candidates only
            space, model, user_hist = state.candidate_space(request.user_id, history, excluded - set(seen))
            exclude_arr = np.zeros(0, dtype=np.int64)
        else:
            space, model = None, state.model(version)
            user_hist = state.user_interactions(request.user_id, history)
            exclude_arr = np.array(sorted(excluded - set(seen)), dtype=np.int64)
        (slate,) = recommend(
            model,
            [0],
            k=k,
            history=user_hist,
            exclude_seen=request.exclude_seen,
            exclude=exclude_arr,
            n_candidates=max(settings.n_candidates, k),
            rerank=None if request.rerank is None else rerank_chain(request.rerank),
            context=RerankContext(),
            policy=policy,
            item_vectors=model.item_vectors_,
        )
        if space is not None:
            slate = replace(slate, items=space[slate.items])
        for item, score, prop, exp in zip(
            slate.items, slate.scores, slate.propensities, slate.explored, strict=True
        ):
            items.append(int(item))
            scores.append(float(score))
            props.append(float(prop))
            explored.append(bool(exp))
            stages.append("exploration" if exp else "model")
    elif state.n_items:
        slate = _cold_slate(state, policy, k, excluded)
        origin = slate_origins(state, excluded)
        for item, prop, exp in zip(slate.items, slate.propensities, slate.explored, strict=True):
            items.append(int(item))
            scores.append(float("nan"))
            props.append(float(prop))
            explored.append(bool(exp))
            stages.append("exploration" if exp else origin.get(int(item), "newest"))

    if len(items) < k and state.n_items:
        _fill(state, request, items, scores, props, explored, stages, excluded, seen)
    if len(items) < k:
        note = f"only {len(items)} servable items for k={k}"
    base = (
        slate
        if slate is not None
        else Slate(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), np.zeros(0))
    )
    full = Slate(
        np.array(items, dtype=np.int64),
        np.array(scores, dtype=np.float32),
        np.array(props, dtype=np.float64),
        np.array(explored, dtype=bool),
        policy=policy.name,
        propensity_method=base.propensity_method,
        note=note,
    )
    ids = state.item_id_array()
    return ImpressionRecord.from_slate(
        full,
        recommendation_id=rec_id,
        user=request.user,
        user_id=request.user_id,
        item_ids=[str(ids[i]) for i in items],
        policy_params=policy.get_params(),
        model_version=state.version_label(version),
        timestamp=now,
        stages=stages,
        k=k,
    )


def slate_origins(state: ServedState, excluded: set[int]) -> dict[int, str]:
    origin: dict[int, str] = {}
    for item in state.ranked("newest")[:200].tolist():
        origin[item] = "newest"
    for item in state.ranked("popular")[:200].tolist():
        origin[item] = "popular"
    return origin


def _cold_slate(state: ServedState, policy: Policy, k: int, excluded: set[int]) -> Slate:
    n = state.settings.n_candidates
    pool: list[int] = []
    for kind in ("popular", "newest"):
        for item in state.ranked(kind).tolist():
            if len(pool) >= n:
                break
            if item not in excluded and item not in pool:
                pool.append(item)
    # rank-based scores: the policy exploits the head of the list and explores its tail
    pseudo = np.linspace(1.0, 0.0, num=max(len(pool), 1), dtype=np.float32)[: len(pool)]
    cands = ScoredItems(np.array(pool, dtype=np.int64), pseudo)
    select = policy.select
    result: Slate = select(cands, k)
    return result


def _fill(
    state: ServedState,
    request: SlateRequest,
    items: list[int],
    scores: list[float],
    props: list[float],
    explored: list[bool],
    stages: list[str],
    excluded: set[int],
    seen: Sequence[int],
) -> None:
    k = request.k
    taken = set(items) | excluded

    def add(candidates: npt.NDArray[np.int64], values: Sequence[float] | None, stage: str) -> None:
        for j, item in enumerate(candidates.tolist()):
            if len(items) >= k:
                return
            if item in taken:
                continue
            taken.add(item)
            items.append(int(item))
            scores.append(float(values[j]) if values is not None else float("nan"))
            props.append(1.0)
            explored.append(False)
            stages.append(stage)

    recent = list(dict.fromkeys(reversed(seen)))[: state.settings.recent_items]
    if recent:
        queries = state.vectors.view()[np.array(recent, dtype=np.int64)]
        near, sims = state.neighbours(queries, k + len(taken), exclude=sorted(taken))
        add(near, sims.tolist(), "item-to-item")
    if len(items) < k:
        add(state.ranked("popular"), None, "popular")
    if len(items) < k:
        add(state.ranked("newest"), None, "newest")
    if len(items) < k:
        # a narrow filter can exhaust the cached orders; the full newest order has every item
        add(state.ranked("newest", limit=state.n_items), None, "newest")
