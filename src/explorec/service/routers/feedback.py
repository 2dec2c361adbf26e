"""``/v1/feedback``: durable, idempotent ingestion of events."""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request

from explorec.service.auth import Principal, require
from explorec.service.deps import (
    check_batch,
    compute_limiter,
    durable,
    get_metrics,
    get_online,
    get_settings,
    get_state,
    get_store,
)
from explorec.service.errors import ApiError
from explorec.service.pseudonym import user_key
from explorec.service.routers import COMMON, errors
from explorec.service.schemas import FeedbackBatch, FeedbackResult
from explorec.service.served import ServedState
from explorec.service.settings import ServiceSettings

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post(
    "",
    response_model=FeedbackResult,
    responses=errors(*COMMON, 400, 404, 413),
    name="post_feedback",  # the operationId stays that of the function below
)
async def post_feedback_route(
    http: Request, body: FeedbackBatch, key: Annotated[Principal, Depends(require("write"))]
) -> FeedbackResult:
    """Store events; answered only after the store committed them.

    Idempotent on ``event_id``: a replayed event adds nothing and is listed in ``duplicates``.
    Users seen for the first time are created. An event quoting a ``recommendation_id`` is attributed
    to the slot that showed its item; one quoting an unknown slate, or a slate that did not show the
    item, is stored too and listed in ``unattributed``. An event quoting a slate updates the policy
    state of the policy that built it before the answer is sent (every replica within
    ``online_interval_s``); one that updated no policy (unknown or expired slate, item not shown,
    slot already rewarded) is listed in ``not_learned``.
    """
    # async: the events are checked and queued for the committer in one thread hand-off, on the
    # worker's compute limiter (see ServiceSettings.compute_threads), and the commit is awaited here
    # on the event loop, so that thread serves other requests meanwhile. The app's resources are
    # read here, not solved as five dependencies on every request.
    store, state, online = get_store(http), get_state(http), get_online(http)
    events, pending = await anyio.to_thread.run_sync(
        _stage, body, store, state, get_settings(http), limiter=compute_limiter(http)
    )
    ids = [e.event_id for e in events]
    try:
        result = await durable(pending)
    except BaseException:
        state.apply_local_events([], expected=ids)
        raise
    if any(e.recommendation_id is not None for e in events):  # replays into the policy state: blocking
        return await anyio.to_thread.run_sync(
            _settle, events, result, store, state, get_metrics(http), online, limiter=compute_limiter(http)
        )
    return _settle(events, result, store, state, get_metrics(http), online)


def post_feedback(
    body: FeedbackBatch,
    store: Any,
    state: ServedState,
    settings: ServiceSettings,
    metrics: Any,
    online: Any,
    key: Principal,
) -> FeedbackResult:
    """What the route answers, called directly (blocking; e.g. the dashboard's click)."""
    return _ingest(body, store, state, settings, metrics, online)


def _ingest(
    body: FeedbackBatch, store: Any, state: ServedState, settings: ServiceSettings, metrics: Any, online: Any
) -> FeedbackResult:
    """The route's answer, blocking until the events are durable."""
    events, pending = _stage(body, store, state, settings)
    try:
        result = pending.result()
    except BaseException:
        state.apply_local_events([], expected=[e.event_id for e in events])
        raise
    return _settle(events, result, store, state, metrics, online)


def _stage(
    body: FeedbackBatch, store: Any, state: ServedState, settings: ServiceSettings
) -> tuple[list[Any], Future[Any]]:
    """Check the batch, create its new users and queue its events for the committer: the events
    and the future of their commit. Bad input raises here, before anything is queued."""
    from explorec.store import EventIn, UserIn

    check_batch(len(body.events), settings, "events")
    if any(event.item_id not in state.item_index for event in body.events):
        # items written through another worker or replica: served first, so that the events below
        # reach this process's histories (the refresher skips the events this process stored)
        state.catch_up_items(store)
    for j, event in enumerate(body.events):
        if event.item_id not in state.item_index and store.get_item(event.item_id) is None:
            raise ApiError(
                404,
                "unknown_item",
                f"events[{j}].item_id: unknown item_id {event.item_id!r} (event_id {event.event_id!r}); "
                "add it with POST /v1/items first",
                f"events[{j}].item_id",
            )
    # pseudonyms when configured: the store, the served state and the logs never see the client's ids
    keys = [user_key(settings, e.user_id) for e in body.events]
    new_users = [u for u in dict.fromkeys(keys) if u not in state.user_index]
    # one query for the batch's users this process has not seen (not one per user), all remembered
    stored = store.user_indices(new_users) if new_users else {}
    state.user_index.update(stored)
    missing = [u for u in new_users if u not in stored]
    if missing:
        for user_id, index in zip(
            missing, store.upsert_users([UserIn(user_id=u, fields={}) for u in missing]), strict=True
        ):
            state.user_index[user_id] = int(index)
    now = time.time()
    events = [
        EventIn(
            event_id=e.event_id,
            user_id=user_id,
            item_id=e.item_id,
            type=e.type,
            value=e.value,
            timestamp=now if e.timestamp is None else e.timestamp,
            recommendation_id=e.recommendation_id,
        )
        for e, user_id in zip(body.events, keys, strict=True)
    ]
    ids = [e.event_id for e in events]
    # announced before the commit: the refresher may read the events back before they are applied
    state.expect_local_events(ids)
    try:
        pending = store.submit_events(events)
    except BaseException:
        state.apply_local_events([], expected=ids)
        raise
    return events, pending


def _settle(
    events: list[Any], result: Any, store: Any, state: ServedState, metrics: Any, online: Any
) -> FeedbackResult:
    """After the commit: the stored events into the served state and the policy state; the answer."""
    ids = [e.event_id for e in events]
    accepted = set(result.accepted)
    state.apply_local_events(
        [(e.event_id, e.user_id, e.item_id, e.timestamp) for e in events if e.event_id in accepted],
        expected=ids,
    )
    metrics.events.inc(len(accepted))
    quoting = [e.event_id for e in events if e.event_id in accepted and e.recommendation_id is not None]
    metrics.duplicates.inc(len(result.duplicates))
    return FeedbackResult(
        accepted=len(accepted),
        duplicates=list(result.duplicates),
        unattributed=list(result.unattributed),
        not_learned=_not_learned(store, online, quoting),
    )


def _not_learned(store: Any, online: Any, quoting: list[str]) -> list[str]:
    """Replay the new events into the policy state now; the ids that updated no policy."""
    from explorec.store import StoreUnavailable

    if not quoting or online is None:
        return []
    try:
        online.sync(store)
    except StoreUnavailable:
        return []  # the events are stored; the learner thread applies them when the store answers
    return [event_id for event_id in quoting if online.outcome(event_id) not in ("learned", None)]
