"""Every 4xx/5xx answer as ``{"error": {"code", "message", "field"}}``, whoever raised it.

Handlers cover the service's own ``ApiError``, Starlette/FastAPI ``HTTPException`` (404 for unknown
paths, 405, 413 from the body limit), FastAPI's request validation errors (422, or 413 when a batch
is longer than allowed), explorec's ``DataError``/``ConfigError``/``UnknownIdError``, a store that
cannot be reached (503) and anything unexpected (500, logged with its traceback, not shown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from explorec.errors import ConfigError, DataError, UnknownIdError

logger = logging.getLogger(__name__)

#: the top-level list of each batch body; too long a list is a 413, not a 422
BATCH_FIELDS = ("items", "users", "events")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer: HTTP status, a code, a one-line message and the offending field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status, headers=headers
    )


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "invalid"}
    loc = tuple(first.get("loc", ("body",)))
    field = _location(loc)
    if first.get("type") == "too_long" and len(loc) == 2 and loc[0] == "body" and loc[1] in BATCH_FIELDS:
        ctx = first.get("ctx")
        limit = ctx.get("max_length") if isinstance(ctx, dict) else None
        return error_response(
            413, "batch_too_large", f"{field}: a batch holds at most {limit} entries", field
        )
    received = first.get("input")
    shown = repr(received)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    message = f"{field}: {first.get('msg', 'invalid value')} (got {shown})"
    if len(errors) > 1:
        message += f"; and {len(errors) - 1} more error(s)"
    code = "malformed_json" if first.get("type") == "json_invalid" else "validation_error"
    return error_response(422, code, message, field)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents for this path (Starlette names only the first route's).

    A concrete path wins over the templates it also matches, as OpenAPI's path matching says
    (``/v1/items/search`` is not ``/v1/items/{item_id}``).
    """
    import re

    exact: set[str] = set()
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if template == request.url.path:
            exact.update(m.upper() for m in operations)
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods.update(m.upper() for m in operations)
    return sorted(exact or methods)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error answer the one JSON shape."""
    from explorec.store import StoreUnavailable

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":
            message = "the request body is not valid UTF-8 JSON"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        field = "body" if exc.status_code == 413 else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        return error_response(exc.status_code, code, message, field, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(UnknownIdError)
    async def _unknown_id(request: Request, exc: UnknownIdError) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        return error_response(422, "invalid_data", str(exc))

    @app.exception_handler(ConfigError)
    async def _config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return error_response(422, "invalid_parameter", str(exc))

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.store_errors.inc()
        logger.warning("store unavailable: %s", exc)
        return error_response(
            503, "store_unavailable", "the store cannot be reached; retry shortly", None, {"Retry-After": "1"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; it has been logged")
