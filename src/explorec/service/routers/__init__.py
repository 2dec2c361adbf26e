"""One router per resource: items, users, feedback, recommendations, health."""

from __future__ import annotations

from typing import Any

from explorec.service.schemas import ErrorResponse


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error answers a route can give."""
    descriptions = {
        400: "the body is not valid UTF-8 JSON",
        401: "missing or unknown API key",
        403: "the key's scope does not allow this route",
        404: "unknown id",
        409: "the batch names the same id twice",
        413: "body or batch too large",
        422: "invalid field, parameter or malformed JSON",
        429: "rate limit exceeded (see Retry-After)",
        503: "store unreachable or service not ready; retry",
    }
    return {c: {"model": ErrorResponse, "description": descriptions[c]} for c in codes}


#: every /v1 route can answer these
COMMON = (401, 403, 422, 429, 503)
