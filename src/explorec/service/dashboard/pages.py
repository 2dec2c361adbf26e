"""The dashboard's routes: server-rendered pages, their form posts, and the live page's JSON.

Pages read through the same functions as the ``/v1`` routes (a slate is built and logged by the
recommendations route, a click is stored by the feedback route, pin and rollback move the registry
pointer through the models routes), so the dashboard shows exactly what the API answers. Every page
needs a logged-in session; every POST needs the session's CSRF token and a key of the scope the
matching API route needs (``write`` for a click, ``admin`` for pin, unpin and rollback): otherwise it
answers 403 with the reason on the page.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from explorec.service.auth import Principal
from explorec.service.dashboard.session import (
    SessionKeys,
    csrf_ok,
    csrf_token,
    log_in,
    log_out,
    session_principal,
)
from explorec.service.errors import ApiError
from explorec.service.pseudonym import client_user_id
from explorec.service.schemas import ID_MAX, ID_PATTERN

logger = logging.getLogger(__name__)

PREFIX = "/dashboard"
#: items per catalogue page
PAGE_SIZE = 25
#: a page that holds a CSRF token or a user's data is never cached, framed or given foreign scripts
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: the policies and re-rankers the user page offers (those a request may ask for)
POLICIES = ("", "greedy", "eps-greedy:0.1", "eps-greedy:0.3", "softmax:0.5")
RERANKERS = ("", "none", "mmr:0.3", "dpp:0.5")

_ID = re.compile(ID_PATTERN)
#: a form field (empty when absent); every value is checked by the handler that reads it
FormText = Annotated[str, Form(max_length=4096)]


def _utc(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _make_templates() -> Jinja2Templates:
    from explorec.service.dashboard import HERE

    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["utc"] = _utc
    templates.env.filters["num"] = lambda v, d=3: "" if v is None else f"{float(v):.{d}f}"
    return templates


class _Page:
    """Renders templates with the session's principal and CSRF token; the 403/4xx error pages."""

    def __init__(self) -> None:
        self.templates = _make_templates()

    def render(
        self, request: Request, name: str, status: int = 200, who: Principal | None = None, **context: Any
    ) -> HTMLResponse:
        response = self.templates.TemplateResponse(
            request,
            name,
            {"who": who, "csrf": csrf_token(request), "prefix": PREFIX, **context},
            status_code=status,
            headers=HEADERS,
        )
        return response

    def error(
        self, request: Request, status: int, message: str, who: Principal | None = None, back: str = ""
    ) -> HTMLResponse:
        return self.render(
            request, "error.html", status=status, who=who, status_code=status, message=message, back=back
        )


def _keys(request: Request) -> SessionKeys:
    keys: SessionKeys = request.app.state.dashboard_keys
    return keys


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a dashboard path is a valid place to go after login (no open redirect)."""
    if target and target.startswith(f"{PREFIX}") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX


def _check_write(request: Request, who: Principal, scope: str, sent: str | None) -> str | None:
    """Why a write must be refused (CSRF token, then scope), or None when it may go ahead."""
    if not csrf_ok(request, sent):
        return "missing or wrong CSRF token: reload the page and try again"
    if not who.allows(scope):
        return (
            f"this action needs a key of scope {scope!r} or higher; you are logged in with "
            f"{who.name or who.key_id!r}, a key of scope {who.scope!r}"
        )
    return None


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= ID_MAX and _ID.match(value) is not None


def make_router() -> APIRouter:
    """The dashboard's routes (not part of the OpenAPI document: they are pages, not the API)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    page = _Page()

    def principal(request: Request) -> Principal | None:
        who = session_principal(request, _keys(request))
        if who is not None:
            request.app.state.keys.check_rate_from_thread(who)  # the key's rate limit holds here too (429)
        return who

    # ------------------------------------------------------------------ login and logout
    @router.get("/login")
    def login_page(request: Request, next: str | None = None) -> Response:
        return page.render(request, "login.html", next=_safe_next(next), message=None)

    # form posts are plain (sync) handlers: FastAPI runs them in its thread pool, so the store calls
    # they make never block the event loop
    @router.post("/login")
    def login(request: Request, csrf: FormText = "", api_key: FormText = "", next: FormText = "") -> Response:
        target = _safe_next(next)
        if not csrf_ok(request, csrf):
            return page.render(
                request,
                "login.html",
                status=403,
                next=target,
                message="missing or wrong CSRF token: reload the page and try again",
            )
        api_key = api_key.strip()
        who = request.app.state.keys.principal(api_key) if api_key else None
        if who is None:
            return page.render(
                request, "login.html", status=401, next=target, message="unknown or revoked API key"
            )
        log_in(request, _keys(request), api_key)
        logger.info("dashboard login: key %s (%s, scope %s)", who.key_id, who.name, who.scope)
        return RedirectResponse(target, status_code=303)

    @router.post("/logout")
    def logout(request: Request, csrf: FormText = "") -> Response:
        if not csrf_ok(request, csrf):
            return page.error(request, 403, "missing or wrong CSRF token: reload the page and try again")
        log_out(request)
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    # ------------------------------------------------------------------ overview
    @router.get("")
    def home(request: Request) -> Response:
        who = principal(request)
        if who is None:
            return _to_login(request)
        state = request.app.state.served
        return page.render(
            request,
            "home.html",
            who=who,
            n_items=state.n_items,
            n_servable=int(state.servable_items().size) if state.loaded else 0,
            n_users=len(state.histories),
            model_version=state.version_label(state.served_version()) if state.loaded else "loading",
            # pseudonyms (pseudonymise_secret) cannot be turned back into ids to link to
            example_users=[]
            if request.app.state.settings.pseudonymise_secret
            else sorted(state.histories)[:5],
        )

    # ------------------------------------------------------------------ a user
    @router.get("/users")
    def user_lookup(request: Request, user_id: str = "") -> Response:
        user_id = client_user_id(request, user_id.strip())  # the link names the client's id
        if not _valid_id(user_id):
            who = principal(request)
            if who is None:
                return _to_login(request)
            return page.error(
                request,
                422,
                f"user_id must match {ID_PATTERN} and be at most {ID_MAX} characters; got {user_id!r}",
                who,
            )
        return RedirectResponse(f"{PREFIX}/users/{user_id}", status_code=303)

    @router.get("/users/{user_id}")
    def user_page(
        request: Request,
        user_id: str,
        k: int = 10,
        policy: str = "",
        rerank: str = "",
        experiment: str = "",
        clicked: str = "",
    ) -> Response:
        who = principal(request)
        if who is None:
            return _to_login(request)
        problem = _user_query_problem(user_id, k, policy, rerank, experiment)
        if problem is not None:
            return page.error(request, 422, problem, who)
        try:
            answer = _slate(request, who, user_id, k, policy, rerank, experiment)
        except ApiError as exc:
            return page.error(request, exc.status, exc.message, who)
        state = request.app.state.served
        store = request.app.state.store
        ids = state.item_id_array()
        # user_id is the pseudonym here when pseudonyms are configured (PseudonymMiddleware rewrote
        # the path), which is what the served state knows the user by
        served_history = state.history(user_id)
        history = [
            {"item_id": str(ids[item]), "timestamp": ts, "text": _text(store, str(ids[item]))}
            for item, ts in reversed(served_history)
        ]
        explanations = {e.position: e for e in (answer.explanations or [])}
        rows = [
            {
                "item": item,
                "text": _text(store, item.item_id),
                "explanation": explanations.get(item.position),
            }
            for item in answer.items
        ]
        return page.render(
            request,
            "user.html",
            who=who,
            user_id=client_user_id(request, user_id),  # shown and linked: the client's id
            answer=answer,
            rows=rows,
            history=history,
            clicked=clicked if _valid_id(clicked) else "",
            k=k,
            policy=policy,
            rerank=rerank,
            experiment=experiment,
            policies=POLICIES,
            rerankers=RERANKERS,
            can_write=who.allows("write"),
        )

    @router.post("/users/{user_id}/click")
    def click(
        request: Request,
        user_id: str,
        csrf: FormText = "",
        recommendation_id: FormText = "",
        item_id: FormText = "",
        k: FormText = "",
        policy: FormText = "",
        rerank: FormText = "",
        experiment: FormText = "",
    ) -> Response:
        who = principal(request)
        if who is None:
            return _to_login(request)
        refusal = _check_write(request, who, "write", csrf)
        if refusal is not None:
            back = f"{PREFIX}/users/{user_id}" if _valid_id(user_id) else ""
            return page.error(request, 403, refusal, who, back=back)
        for name, value in (
            ("user_id", user_id),
            ("recommendation_id", recommendation_id),
            ("item_id", item_id),
        ):
            if not _valid_id(value):
                return page.error(request, 422, f"{name} must match {ID_PATTERN}; got {value!r}", who)
        from explorec.service.routers.feedback import post_feedback
        from explorec.service.schemas import EventIn, FeedbackBatch

        client_id = client_user_id(request, user_id)  # post_feedback pseudonymises it itself

        event_id = f"dash-{recommendation_id}-{item_id}"[:ID_MAX]
        batch = FeedbackBatch(
            events=[
                EventIn(
                    event_id=event_id,
                    user_id=client_id,
                    item_id=item_id,
                    type="click",
                    timestamp=None,
                    recommendation_id=recommendation_id,
                )
            ]
        )
        app = request.app
        try:
            # post_feedback is the route's blocking body (the async route hands it to a thread too)
            result = post_feedback(
                batch,
                app.state.store,
                app.state.served,
                app.state.settings,
                app.state.metrics,
                getattr(app.state, "online", None),
                who,
            )
        except ApiError as exc:
            return page.error(request, exc.status, exc.message, who)
        logger.info("dashboard click: %s on %s (slate %s): %s", user_id, item_id, recommendation_id, result)
        options = {"k": k, "policy": policy, "rerank": rerank, "experiment": experiment}
        keep = {name: value for name, value in options.items() if value}
        query = urlencode({**keep, "clicked": item_id})
        return RedirectResponse(f"{PREFIX}/users/{client_id}?{query}", status_code=303)

    # ------------------------------------------------------------------ the catalogue
    @router.get("/catalogue")
    def catalogue(
        request: Request, q: str = "", category: str = "", newest: str = "", page_no: int = 1
    ) -> Response:
        from explorec.service.catalogue import browse_items, describe, search_items

        who = principal(request)
        if who is None:
            return _to_login(request)
        state = request.app.state.served
        store = request.app.state.store
        q = q.strip()
        if len(q) > 1000 or len(category) > 64 or page_no < 1:
            return page.error(
                request, 422, "q is at most 1000 characters, category at most 64, page_no >= 1", who
            )
        newest_first = newest in ("1", "true", "on")
        cat = category or None
        total: int | None
        if q:
            found = search_items(state, q, k=PAGE_SIZE, category=cat, newest=newest_first)
            hits = describe(state, store, [(i, s) for i, s in found])
            total = None
        else:
            indices, total = browse_items(
                state, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE, category=cat, newest=newest_first
            )
            hits = describe(state, store, [(i, None) for i in indices])
        # dict(...) copies in one step under the GIL: the refresher thread may add categories meanwhile
        members_of = dict(state.category_items)
        categories = sorted((name, len(members)) for name, members in members_of.items() if members)
        pages = None if total is None else max(1, math.ceil(total / PAGE_SIZE))
        base = {"q": q, "category": category, "newest": "true" if newest_first else ""}
        return page.render(
            request,
            "catalogue.html",
            who=who,
            hits=hits,
            q=q,
            category=category,
            newest=newest_first,
            categories=categories,
            page_no=page_no,
            pages=pages,
            total=total,
            link=lambda n: f"{PREFIX}/catalogue?{urlencode({**base, 'page_no': n})}",
        )

    # ------------------------------------------------------------------ the live loop
    @router.get("/live")
    def live(request: Request) -> Response:
        who = principal(request)
        if who is None:
            return _to_login(request)
        request.app.state.metric_sampler.sample()
        return page.render(request, "live.html", who=who)

    @router.get("/api/live")
    def live_data(request: Request) -> Response:
        who = principal(request)
        if who is None:
            return JSONResponse(
                {"error": {"code": "unauthorized", "message": "log in at /dashboard/login", "field": None}},
                status_code=401,
            )
        app = request.app
        log = app.state.live_log
        sampler = app.state.metric_sampler
        log.sync(app.state.store)
        sampler.sample()
        state = app.state.served
        body = {
            "generated_at": time.time(),
            "store": log.snapshot(int(state.servable_items().size) if state.loaded else 0),
            "process": sampler.snapshot(),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ models
    @router.get("/models")
    def models(request: Request, done: str = "") -> Response:
        who = principal(request)
        if who is None:
            return _to_login(request)
        follower = getattr(request.app.state, "registry_follower", None)
        state = request.app.state.served
        report = None
        if follower is not None:
            from explorec.service.routers.models import list_models

            report = list_models(request, who)
        swapped_in = {}
        if report is not None:
            for attempt in report.attempts:
                if attempt.get("status") == "promoted" and attempt.get("version"):
                    swapped_in[attempt["version"]] = attempt.get("time")
        return page.render(
            request,
            "models.html",
            who=who,
            report=report,
            swapped_in=swapped_in,
            loaded_at=dict(follower.swapped_at) if follower is not None else {},
            served=state.version_label(state.served_version()) if state.loaded else "loading",
            can_admin=who.allows("admin"),
            done=done if done in ("pinned", "unpinned", "rolled back", "retrain requested") else "",
        )

    @router.post("/models/{action}")
    def model_action(request: Request, action: str, csrf: FormText = "", version: FormText = "") -> Response:
        from explorec.service.routers import models as api

        who = principal(request)
        if who is None:
            return _to_login(request)
        scope = "write" if action == "retrain" else "admin"
        if action not in ("pin", "unpin", "rollback", "retrain"):
            return page.error(
                request, 404, f"unknown action {action!r}; one of pin, unpin, rollback, retrain", who
            )
        refusal = _check_write(request, who, scope, csrf)
        if refusal is not None:
            return page.error(request, 403, refusal, who, back=f"{PREFIX}/models")
        try:
            if action == "pin":
                if not _valid_id(version):
                    return page.error(request, 422, f"version must match {ID_PATTERN}; got {version!r}", who)
                api.pin_model(version, request, who)
                done = "pinned"
            elif action == "unpin":
                api.unpin_model(request, who)
                done = "unpinned"
            elif action == "rollback":
                api.rollback_model(request, who)
                done = "rolled back"
            else:
                api.retrain_model(request, who)
                done = "retrain requested"
        except ApiError as exc:
            return page.error(request, exc.status, exc.message, who)
        logger.info("dashboard: %s by key %s", done, who.key_id)
        return RedirectResponse(f"{PREFIX}/models?{urlencode({'done': done})}", status_code=303)

    return router


def _user_query_problem(user_id: str, k: int, policy: str, rerank: str, experiment: str) -> str | None:
    from explorec.service.routers.users import POLICY_PATTERN, RERANK_PATTERN

    if not _valid_id(user_id):
        return f"user_id must match {ID_PATTERN} and be at most {ID_MAX} characters; got {user_id!r}"
    if not 1 <= k <= 100:
        return f"k must be in [1, 100]; got {k}"
    if policy and re.match(POLICY_PATTERN, policy) is None:
        return f"policy must be greedy, eps-greedy[:EPS] or softmax[:T]; got {policy!r}"
    if rerank and re.match(RERANK_PATTERN, rerank) is None:
        return f"rerank must be mmr[:W], dpp[:W] (comma-chained) or none; got {rerank!r}"
    if experiment and (len(experiment) > 64 or not _valid_id(experiment)):
        return f"experiment must be an experiment's name; got {experiment!r}"
    return None


def _slate(
    request: Request, who: Principal, user_id: str, k: int, policy: str, rerank: str, experiment: str
) -> Any:
    """The user's next slate with explanations, built and logged by the recommendations route."""
    from explorec.service.deps import get_state
    from explorec.service.routers.users import recommendations

    app = request.app
    return recommendations(
        request,
        user_id,
        app.state.store,
        get_state(request),
        app.state.settings,
        app.state.metrics,
        who,
        k=k,
        policy=policy or None,
        rerank=rerank or None,
        experiment=experiment or None,
        explain=True,
    )


def _text(store: Any, item_id: str) -> str:
    row = store.get_item(item_id)
    return "" if row is None else str(row.text)
