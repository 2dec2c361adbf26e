"""The web dashboard served at ``/dashboard`` (issue 14): server-rendered Jinja2 pages and static
files shipped inside the package (uPlot vendored under ``static/vendor/``; no CDN, no build step).

Pages: log in with an API key; a user (history, current slate with scores, propensities, explored
slots and their reasons, each item's explanation, a click button); the catalogue (browse, filter,
free-text search); the live loop (charts polled from ``/dashboard/api/live``); the model registry
(versions, metrics, pin, unpin, roll back). See docs/service.md, *Dashboard*.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from explorec.service.dashboard.live import LiveLog, MetricSampler
from explorec.service.dashboard.session import COOKIE, SessionKeys
from explorec.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
PREFIX = "/dashboard"


def install_dashboard(app: FastAPI, settings: ServiceSettings) -> None:
    """Add the dashboard's pages, static files and session cookie to ``app``."""
    from explorec.service.dashboard.pages import make_router

    secret = settings.dashboard_secret
    if secret is None:
        # per process: sessions end with it and are not honoured by other replicas (documented)
        secret = secrets.token_urlsafe(32)
        logger.info("dashboard: no dashboard_secret configured; sessions use a per-process secret")
    app.state.dashboard_keys = SessionKeys(secret)
    app.state.live_log = LiveLog()
    app.state.metric_sampler = MetricSampler(app.state.metrics)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=COOKIE,
        max_age=settings.dashboard_session_s,
        path=PREFIX,
        same_site="strict",
        https_only=settings.dashboard_secure_cookie,
    )
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.include_router(make_router())
