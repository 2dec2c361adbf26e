"""Per-request dependencies: the store, the served state, the settings and the metrics of the app.

The ``get_*`` functions can be called directly; the dependencies (``StoreDep``, ...) are their
``async`` twins: they only read ``app.state``, and FastAPI runs a plain ``def`` dependency in the
thread pool, one hand-off per dependency and request (tens of microseconds each, more under load).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Annotated, Any, TypeVar

from anyio import CapacityLimiter
from fastapi import Depends, Request

from explorec.service.errors import ApiError
from explorec.service.metrics import ServiceMetrics
from explorec.service.served import ServedState
from explorec.service.settings import ServiceSettings

T = TypeVar("T")


def get_store(request: Request) -> Any:
    return request.app.state.store


def get_state(request: Request) -> ServedState:
    state: ServedState = request.app.state.served
    if not state.loaded:
        raise ApiError(
            503, "not_ready", "the service is still loading its catalogue from the store; retry shortly"
        )
    return state


def get_settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


def compute_limiter(request: Request) -> CapacityLimiter:
    """The worker's limiter of threads that build slates at once (``compute_threads``; made in the
    lifespan, like the store)."""
    limiter: CapacityLimiter = request.app.state.compute
    return limiter


async def durable(future: Future[T]) -> T:
    """Await a store commit (:meth:`Store.submit_impression`, :meth:`Store.submit_events`) on the
    event loop. Shielded: a client that hangs up must not cancel the commit's future, which the
    committer sets once the transaction is durable (setting a cancelled future would raise there)."""
    return await asyncio.shield(asyncio.wrap_future(future))


def get_online(request: Request) -> Any:
    """The replica's online policy state (:class:`explorec.online.OnlineState`), None before start."""
    return getattr(request.app.state, "online", None)


async def _store(request: Request) -> Any:
    return get_store(request)


async def _state(request: Request) -> ServedState:
    return get_state(request)


async def _settings(request: Request) -> ServiceSettings:
    return get_settings(request)


async def _metrics(request: Request) -> ServiceMetrics:
    return get_metrics(request)


async def _online(request: Request) -> Any:
    return get_online(request)


StoreDep = Annotated[Any, Depends(_store)]
StateDep = Annotated[ServedState, Depends(_state)]
SettingsDep = Annotated[ServiceSettings, Depends(_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(_metrics)]
OnlineDep = Annotated[Any, Depends(_online)]


def check_batch(n: int, settings: ServiceSettings, what: str) -> None:
    """413 when a batch holds more than ``max_batch`` entries."""
    if n > settings.max_batch:
        raise ApiError(
            413,
            "batch_too_large",
            f"{what}: {n} entries; a batch holds at most {settings.max_batch} (max_batch)",
            what,
        )
