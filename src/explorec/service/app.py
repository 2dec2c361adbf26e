"""The app factory: ``create_app(settings)`` builds the FastAPI app of the recommendation service.

Resources live in the lifespan: the store is opened and migrated, the served state is loaded from it,
and a background thread reads what other replicas wrote every ``refresh_interval_s``; all of it is
closed when the app stops. A store that is unreachable at start-up, or later, does not stop the
process: requests that need it answer 503, ``/readyz`` says not ready, and the background thread
keeps retrying until the store answers again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from explorec.encoders import Encoder
from explorec.online.periodic import Periodic
from explorec.service.auth import KeyVerifier
from explorec.service.errors import install_error_handlers
from explorec.service.metrics import ServiceMetrics
from explorec.service.middleware import BodyLimitMiddleware, MetricsMiddleware
from explorec.service.routers import experiments, feedback, health, items, models, recommendations, users
from explorec.service.served import ServedState
from explorec.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"


class Refresher(Periodic):
    """Background thread: load the served state once the store answers, then follow its writes."""

    def __init__(
        self, store: Any, state: ServedState, metrics: ServiceMetrics, interval_s: float, reload_s: float
    ) -> None:
        super().__init__(interval_s, name="explorec-refresh", failure="refreshing the served state failed")
        self.store = store
        self.state = state
        self.metrics = metrics
        self.reload_s = reload_s
        self._reloaded = time.monotonic()

    def step(self) -> None:
        """One round: load (when not loaded yet) or sync; store errors are counted and retried."""
        from explorec.store import StoreUnavailable

        try:
            if self.state.loaded and time.monotonic() - self._reloaded >= self.reload_s:
                self.state.reload_catalogue(self.store)
                self.state.sync_events(self.store, limit=10_000)
                self._reloaded = time.monotonic()
            elif self.state.loaded:
                self.state.sync(self.store)
            else:
                self.state.load(self.store)
            self.metrics.catalogue.set(self.state.n_items)
            self.metrics.set_model_version(self.state.model_version)
        except StoreUnavailable as exc:
            self.metrics.store_errors.inc()
            logger.warning("store unavailable (retrying in %.1f s): %s", self.interval_s, exc)


def create_app(settings: ServiceSettings | None = None, *, encoder: Encoder | None = None) -> FastAPI:
    """The service app.

    Parameters
    ----------
    settings : ServiceSettings, optional
        Defaults to :func:`~explorec.service.settings.load_settings` (environment only).
    encoder : Encoder, optional
        The text encoder (default: built from ``settings.encoder``).
    """
    if settings is None:
        from explorec.service.settings import load_settings

        settings = load_settings()
    cfg = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from threadpoolctl import threadpool_limits

        from explorec.store import Store, StoreUnavailable

        # requests run in parallel threads; one BLAS thread each beats threads fighting over 2 cores
        limits = threadpool_limits(limits=cfg.blas_threads) if cfg.blas_threads is not None else None
        store = Store.open(cfg.database_url)
        state = ServedState(cfg, encoder=encoder)
        app.state.store = store
        app.state.served = state
        app.state.compute = anyio.CapacityLimiter(cfg.compute_threads)
        app.state.keys = KeyVerifier(store, cache_s=cfg.key_cache_s, rate_limit=cfg.rate_limit)
        refresher = Refresher(store, state, app.state.metrics, cfg.refresh_interval_s, cfg.catalogue_reload_s)
        from explorec.online import Learner, OnlineState

        # an erasure through any replica rebuilds the online state and the served aggregates here
        online = app.state.online = OnlineState(
            window_s=cfg.feedback_window_s, on_erasure=state.forget_user_hashes
        )
        learner = Learner(store, online, cfg.online_interval_s)
        try:
            store.migrate()
            state.load(store)
            online.sync(store)
            app.state.metrics.catalogue.set(state.n_items)
            app.state.metrics.set_model_version(state.model_version)
        except StoreUnavailable as exc:
            app.state.metrics.store_errors.inc()
            logger.warning("store unavailable at start-up; serving 503 until it answers: %s", exc)
        refresher.start()
        learner.start()
        follower = _start_registry_follower(cfg, state)
        app.state.registry_follower = follower
        try:
            yield
        finally:
            if follower is not None:
                follower.stop()
            learner.stop()
            refresher.stop()
            store.close()
            if limits is not None:
                limits.restore_original_limits()

    app = FastAPI(
        title="explorec",
        version=API_VERSION,
        summary="Recommendations with exploration, every impression logged, new items served at once.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _install_pseudonyms(app, settings)
    install_error_handlers(app)
    app.state.registry_follower = None
    for module in (items, users, feedback, recommendations, experiments, models):
        app.include_router(module.router)
    app.include_router(health.make_router(settings))
    if settings.dashboard:
        from explorec.service.dashboard import install_dashboard

        install_dashboard(app, settings)
    _state_batch_limit(app, settings.max_batch)
    return app


#: environment variable through which ``explorec serve --workers N`` hands its settings to the workers
SETTINGS_ENV = "EXPLOREC_SERVE_SETTINGS_JSON"


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process: the settings ``explorec serve`` resolved (file, environment,
    options), passed as JSON in ``EXPLOREC_SERVE_SETTINGS_JSON`` (uvicorn imports the app by name in
    each worker, so the settings cannot be passed as an object)."""
    import os

    raw = os.environ.get(SETTINGS_ENV)
    if raw is None:
        return create_app()
    return create_app(ServiceSettings.model_validate_json(raw))


def _install_pseudonyms(app: FastAPI, settings: ServiceSettings) -> None:
    """With ``pseudonymise_secret``: user ids are pseudonymised before anything else sees them
    (added last, so it is the outermost of our middleware; see :mod:`explorec.service.pseudonym`)."""
    from explorec.service.pseudonym import PseudonymMiddleware, pseudonymiser

    keyed = pseudonymiser(settings)
    if keyed is not None:
        app.add_middleware(PseudonymMiddleware, pseudonymiser=keyed)
        logger.info("user ids are pseudonymised (HMAC-SHA256) at the edge")


def _start_registry_follower(settings: ServiceSettings, state: ServedState) -> Any:
    """With ``registry_dir``: follow the model registry's pointer (first swap before serving)."""
    if settings.registry_dir is None:
        return None
    from explorec.online.registry import ModelRegistry, RegistryFollower

    registry = ModelRegistry(settings.registry_dir)
    follower = RegistryFollower(registry, state.swap_version, settings.model_poll_s)
    follower.step()
    follower.start()
    return follower


def _state_batch_limit(app: FastAPI, max_batch: int) -> None:
    """Write the configured ``max_batch`` into the OpenAPI document as each batch's ``maxItems``."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schemas = doc.get("components", {}).get("schemas", {})
            for name, field in (("ItemBatch", "items"), ("UserBatch", "users"), ("FeedbackBatch", "events")):
                schemas[name]["properties"][field]["maxItems"] = max_batch
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
