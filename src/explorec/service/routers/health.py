"""``/healthz`` (the process answers), ``/readyz`` (model loaded, store reachable), ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from explorec.service.auth import require
from explorec.service.errors import ApiError
from explorec.service.routers import errors
from explorec.service.schemas import Health, Ready
from explorec.service.settings import ServiceSettings


def make_router(settings: ServiceSettings) -> APIRouter:
    """The health router; its routes need a key unless the settings open them."""
    router = APIRouter(tags=["health"])
    health_deps: list[Any] = [] if settings.open_health else [Depends(require("read"))]
    metrics_deps: list[Any] = [] if settings.open_metrics else [Depends(require("admin"))]
    auth_errors = (401, 403, 429) if not settings.open_health else ()

    @router.get("/healthz", response_model=Health, dependencies=health_deps, responses=errors(*auth_errors))
    def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz", response_model=Ready, dependencies=health_deps, responses=errors(*auth_errors, 503)
    )
    def readyz(request: Request) -> Ready:
        """Ready when the catalogue is loaded and the store answers; 503 otherwise."""
        from explorec.store import StoreUnavailable

        state = request.app.state.served
        try:
            request.app.state.store.ping()
        except StoreUnavailable as exc:
            raise ApiError(503, "store_unavailable", f"the store does not answer: {exc}") from None
        if not state.loaded:
            raise ApiError(503, "not_ready", "the catalogue is still loading from the store")
        return Ready(
            ready=True, store=True, model=True, n_items=state.n_items, model_version=state.model_version
        )

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        dependencies=metrics_deps,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
            **errors(*((401, 403, 429) if not settings.open_metrics else ())),
        },
    )
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format: latency per route, events, impressions, model version, store errors."""
        registry = request.app.state.metrics.registry
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
