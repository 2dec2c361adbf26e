"""Cross-cutting ASGI middleware: the request body limit (413) and per-route latency metrics.

The body limit is ours rather than FastAPI's ``max_body_size`` because Starlette's limiter answers
413 in plain text, and every error of this API is a JSON body.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from explorec.service.metrics import ServiceMetrics


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past the limit; FastAPI re-raises HTTPExceptions unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes (max_body_bytes)")


class BodyLimitMiddleware:
    """Answer 413 to request bodies over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body without
    one is counted as it streams in and refused as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps(
                {
                    "error": {
                        "code": "payload_too_large",
                        "message": f"request body of {int(declared)} bytes exceeds the limit of "
                        f"{self.max_bytes} bytes (max_body_bytes)",
                        "field": "body",
                    }
                }
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


class MetricsMiddleware:
    """Observe each request's latency under its route template (``/v1/items/{item_id}``)."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route: Any = scope.get("route")
            # unmatched paths share one label, so that random URLs cannot grow the label set
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(template, scope["method"], str(status[0])).observe(
                time.perf_counter() - start
            )
