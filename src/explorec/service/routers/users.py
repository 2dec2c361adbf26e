"""``/v1/users``: batch upsert, right-to-be-forgotten deletion, recommendations."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request

from explorec.service.auth import Principal, require
from explorec.service.deps import (
    SettingsDep,
    StateDep,
    StoreDep,
    check_batch,
    compute_limiter,
    durable,
    get_metrics,
    get_settings,
    get_state,
    get_store,
)
from explorec.service.errors import ApiError
from explorec.service.metrics import ServiceMetrics
from explorec.service.pseudonym import client_user_id, user_key
from explorec.service.routers import COMMON, errors
from explorec.service.routers.recommendations import explanation_items
from explorec.service.schemas import (
    K_MAX,
    Deleted,
    Id,
    Name,
    Recommendations,
    RecommendedItem,
    UserBatch,
    UsersUpserted,
)
from explorec.service.served import ServedState
from explorec.service.settings import REQUEST_POLICIES, REQUEST_RERANKERS, ServiceSettings
from explorec.service.slates import SlateRequest, build_slate

router = APIRouter(prefix="/v1/users", tags=["users"])

_WEIGHT = r"(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)"  # a number in [0, 1]
_POSITIVE = r"([0-9]*\.?[0-9]*[1-9][0-9]*)"  # a number > 0
#: the offered policies and their main knob (epsilon in [0, 1], temperature > 0)
POLICY_PATTERN = rf"^(greedy|(eps-greedy|epsilon-greedy)(:{_WEIGHT})?|softmax(:{_POSITIVE})?)$"
_RERANKER = rf"(mmr|dpp)(:{_WEIGHT})?"
#: the offered re-rankers and their diversity weight in [0, 1], chained with commas, or none
RERANK_PATTERN = rf"^(none|{_RERANKER}(,{_RERANKER}){{0,3}})$"
Spec = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=POLICY_PATTERN,
        description="exploration policy, e.g. eps-greedy:0.1, softmax:0.5, greedy",
    ),
]
RerankSpec = Annotated[
    str,
    Query(min_length=1, max_length=128, pattern=RERANK_PATTERN, description="e.g. mmr:0.3, dpp:0.5, none"),
]


@router.post("", response_model=UsersUpserted, responses=errors(*COMMON, 400, 409, 413))
def upsert_users(
    body: UserBatch,
    store: StoreDep,
    state: StateDep,
    settings: SettingsDep,
    key: Annotated[Principal, Depends(require("write"))],
) -> UsersUpserted:
    from explorec.store import UserIn

    check_batch(len(body.users), settings, "users")
    ids = [u.user_id for u in body.users]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ApiError(409, "duplicate_id", f"users: user_id {dup!r} appears twice in the batch", "users")
    keys = [user_key(settings, user_id) for user_id in ids]  # pseudonyms when configured
    rows = [UserIn(user_id=k, fields=dict(u.fields)) for k, u in zip(keys, body.users, strict=True)]
    for stored_id, index in zip(keys, store.upsert_users(rows), strict=True):
        state.user_index[stored_id] = int(index)
    return UsersUpserted(upserted=len(ids))


@router.delete("/{user_id}", response_model=Deleted, responses=errors(*COMMON, 404))
def delete_user(
    user_id: Id,
    store: StoreDep,
    state: StateDep,
    http: Request,
    key: Annotated[Principal, Depends(require("admin"))],
) -> Deleted:
    """Delete the user's profile, events and impressions from the store and from the served state."""
    if not store.delete_user(user_id):
        raise ApiError(404, "not_found", f"unknown user_id {client_user_id(http, user_id)!r}", "user_id")
    state.forget_user(user_id)
    online = getattr(http.app.state, "online", None)
    if online is not None:
        online.sync(store)  # sees the erasure: the policy state is rebuilt without the user's slates
    return Deleted(id=client_user_id(http, user_id), deleted=True)


def _spec(value: str | None, default: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value is None:
        return default
    if name == "rerank" and value == "none":
        return None
    from explorec.policies.spec import ALIASES

    for part in value.split(","):
        head = part.split(":", 1)[0]
        if ALIASES.get(head, head) not in allowed:
            raise ApiError(
                422,
                "invalid_parameter",
                f"{name}: {head!r} is not offered; choose from {', '.join(allowed)}"
                + (" or none" if name == "rerank" else ""),
                name,
            )
    return value


@router.get(
    "/{user_id}/recommendations",
    response_model=Recommendations,
    responses=errors(*COMMON, 404),
    name="recommendations",  # the operationId stays that of the function below
)
async def recommendations_route(
    http: Request,
    user_id: Id,
    key: Annotated[Principal, Depends(require("read"))],
    k: Annotated[int | None, Query(ge=1, le=K_MAX, description="slate length (default k_default)")] = None,
    policy: Spec | None = None,
    rerank: RerankSpec | None = None,
    exclude: Annotated[list[Id] | None, Query(max_length=1000, description="item_ids never to show")] = None,
    category: Annotated[Name | None, Query(description="only items of this category")] = None,
    exclude_seen: Annotated[bool, Query(description="hide the items in the user's history")] = True,
    experiment: Annotated[
        Name | None,
        Query(description="serve the user's variant of this experiment (it overrides policy and rerank)"),
    ] = None,
    explain: Annotated[bool, Query(description="add why each item is shown (see .../explanation)")] = False,
) -> Recommendations:
    """A slate for the user, logged as an impression before it is returned.

    Unknown users get a cold-start answer (popular and newest items, with exploration).
    """
    # async: the slate is built in one thread hand-off, on the worker's compute limiter (one thread
    # at a time by default, see ServiceSettings.compute_threads: parallel threads only fight over
    # the GIL), and the impression's commit is awaited here on the event loop, so the slate thread
    # is free for the next request meanwhile. The app's resources are read here rather than through
    # dependencies: FastAPI solves each dependency anew on every request.
    answer, pending = await anyio.to_thread.run_sync(
        _prepare,
        http,
        user_id,
        get_store(http),
        get_state(http),
        get_settings(http),
        k,
        policy,
        rerank,
        tuple(exclude or ()),
        category,
        exclude_seen,
        experiment,
        explain,
        limiter=compute_limiter(http),
    )
    if pending is not None:
        await durable(pending)
    _count(get_metrics(http), answer)
    return answer


def recommendations(
    http: Request,
    user_id: str,
    store: Any,
    state: ServedState,
    settings: ServiceSettings,
    metrics: ServiceMetrics,
    key: Principal,
    k: int | None = None,
    policy: str | None = None,
    rerank: str | None = None,
    exclude: list[str] | None = None,
    category: str | None = None,
    exclude_seen: bool = True,
    experiment: str | None = None,
    explain: bool = False,
) -> Recommendations:
    """What the route answers, called directly (blocking until the impression is durable; from a
    worker thread, e.g. the dashboard)."""
    answer, pending = _prepare(
        http, user_id, store, state, settings, k, policy, rerank, tuple(exclude or ()), category,
        exclude_seen, experiment, explain,
    )  # fmt: skip
    if pending is not None:
        pending.result()
    _count(metrics, answer)
    return answer


def _count(metrics: ServiceMetrics, answer: Recommendations) -> None:
    """The metrics of a slate whose impression is durable."""
    metrics.impressions.inc()
    # one increment per stage present, not per slot (each labelled increment takes a lock, and with
    # several workers writes the shared metrics file)
    for stage, count in Counter(item.stage for item in answer.items).items():
        metrics.stages.labels(stage).inc(count)


def _prepare(
    http: Request,
    user_id: str,
    store: Any,
    state: ServedState,
    settings: ServiceSettings,
    k: int | None,
    policy: str | None,
    rerank: str | None,
    exclude: tuple[str, ...],
    category: str | None,
    exclude_seen: bool,
    experiment: str | None,
    explain: bool,
) -> tuple[Recommendations, Future[Any] | None]:
    """The answer, and the future of its impression's commit (None: already durable).

    The answer must not be sent before that future is done: every shown slate is logged first.
    """
    size = settings.k_default if k is None else k
    policy_spec = _spec(policy, settings.policy, REQUEST_POLICIES, "policy") or settings.policy
    rerank_spec = _spec(rerank, settings.rerank, REQUEST_RERANKERS, "rerank")
    # asked every time: a user erased through another replica must not be served from this one's
    # memory, and an item written through another worker or replica is served in the next request
    index, n_items = store.lookup_user(user_id)
    if n_items > state.n_items:
        state.catch_up_items(store)
    if index is None:
        user = -1
        if state.history(user_id):
            state.forget_user(user_id)
    else:
        user = index
        state.user_index[user_id] = user
    from explorec.errors import ConfigError, DataError

    request = SlateRequest(user_id, user, size, policy_spec, rerank_spec, exclude, category, exclude_seen)
    pending: Future[Any] | None = None
    if experiment is not None:
        from explorec.service.routers.experiments import serve_experiment

        # logs the slate (and its counterfactuals) itself
        record = serve_experiment(http, store, state, request, experiment, settings.seed)
    else:
        try:
            record = build_slate(state, request, seed=settings.seed)
        except (ConfigError, DataError) as exc:
            field = "policy" if "polic" in str(exc) else ("rerank" if "rerank" in str(exc).lower() else None)
            raise ApiError(422, "invalid_parameter", str(exc), field) from None
        # queued now, so the commit runs while the answer is built; durable before it is sent
        pending = store.submit_impression(record)
    answer = Recommendations(
        recommendation_id=record.recommendation_id,
        model_version=record.model_version,
        user_id=client_user_id(http, user_id),
        policy=record.policy,
        items=[
            RecommendedItem(
                item_id=item_id,
                score=None if score != score else score,
                position=pos,
                propensity=prop,
                explored=exp,
                stage=stage,  # type: ignore[arg-type]
            )
            for pos, (item_id, score, prop, exp, stage) in enumerate(
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
        explanations=explanation_items(state, store, record) if explain else None,
    )
    return answer, pending
