"""Pseudonymised user ids (issue 16 part 4): a keyed hash replaces the client's user id at the edge.

With ``pseudonymise_secret`` configured, every user id that enters the service is replaced by
``HMAC-SHA256(secret, "explorec-user:" + user_id)`` as 64 lower-case hex digits before anything
else sees it, and the answers still speak in the client's ids:

* ids in the path (``/v1/users/{user_id}/...``, ``/dashboard/users/{user_id}/...``) and in a
  ``user_id`` query parameter are rewritten by :class:`PseudonymMiddleware`, the outermost
  middleware, before routing; so the routes, the store,
  the impression log, the experiment assignment (a hash of the pseudonym), the online state, the
  metrics and every log line (uvicorn's access log prints the rewritten path) only see the pseudonym.
  The client's id is kept in the request scope only, for the answer (:func:`client_user_id`: a
  route that hands a user id on to code that pseudonymises, or into a link, passes the client's id);
* ids in request bodies (``POST /v1/users``, ``POST /v1/feedback``) are replaced by the routes with
  :func:`user_key` when they build the store's inputs.

The hash is keyed, so whoever reads the store or the logs without the secret cannot test a guessed
id; replicas sharing the secret compute the same pseudonym. Rotating the secret gives every user a
new pseudonym: the history stored under the old ones is orphaned (no longer reachable through the
API and no longer deletable by client id), so rotate only together with erasing the store.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from explorec.service.schemas import ID_MAX, ID_PATTERN

if TYPE_CHECKING:
    from explorec.service.settings import ServiceSettings

#: the shortest secret accepted, in bytes (HMAC-SHA256's block of security: 256 bits)
MIN_SECRET_BYTES = 32
#: the length of every pseudonym (hex digits of the 32-byte digest)
PSEUDONYM_LENGTH = 64
#: the request-scope key under which the middleware keeps ``{pseudonym: client's id}`` for answers
SCOPE_KEY = "explorec.client_user_ids"
#: paths whose segment after the prefix is a user id (the API's and the dashboard's user pages)
USER_PATH_PREFIXES = ("/v1/users/", "/dashboard/users/")

_DOMAIN = b"explorec-user:"  # separates user pseudonyms from any other use of the same secret
_ID = re.compile(ID_PATTERN)


class Pseudonymiser:
    """The keyed hash of user ids.

    Parameters
    ----------
    secret : bytes
        At least :data:`MIN_SECRET_BYTES` bytes; never logged or shown (the repr hides it).

    Examples
    --------
    >>> p = Pseudonymiser(b"s" * 32)
    >>> key = p.key("alice")
    >>> len(key), key == Pseudonymiser(b"s" * 32).key("alice"), key == Pseudonymiser(b"t" * 32).key("alice")
    (64, True, False)
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"pseudonymise_secret: at least {MIN_SECRET_BYTES} bytes are needed, got {len(secret)}"
            )
        # keyed once: each id then costs one copy and two compressions of SHA-256
        self._keyed = hmac.new(bytes(secret), _DOMAIN, hashlib.sha256)

    def __repr__(self) -> str:
        return "Pseudonymiser(secret=<hidden>)"

    def key(self, user_id: str) -> str:
        """The pseudonym of ``user_id``: 64 hex digits of HMAC-SHA256(secret, domain + user_id)."""
        mac = self._keyed.copy()
        mac.update(user_id.encode("utf-8"))
        return mac.hexdigest()


def pseudonymiser(settings: ServiceSettings) -> Pseudonymiser | None:
    """The settings' pseudonymiser, or None when ``pseudonymise_secret`` is not set."""
    secret = settings.pseudonymise_secret
    if secret is None:
        return None
    return _pseudonymiser(secret.get_secret_value())


@functools.lru_cache(maxsize=4)
def _pseudonymiser(secret: str) -> Pseudonymiser:
    return Pseudonymiser(secret.encode("utf-8"))


def user_key(settings: ServiceSettings, user_id: str) -> str:
    """The id under which the service stores, logs and assigns ``user_id``.

    The pseudonym with ``pseudonymise_secret`` set, else ``user_id`` itself. Everything that takes a
    client's user id from somewhere other than the path (a body, a form) passes it through here.
    """
    p = pseudonymiser(settings)
    return user_id if p is None else p.key(user_id)


def client_user_id(request: Any, user_id: str) -> str:
    """The client's own id behind ``user_id``, a pseudonym the middleware put into this request's
    path or query (``user_id`` itself otherwise), for answers."""
    known: dict[str, str] = request.scope.get(SCOPE_KEY) or {}
    return known.get(user_id, user_id)


def _valid(user_id: str) -> bool:
    return 0 < len(user_id) <= ID_MAX and _ID.match(user_id) is not None


class PseudonymMiddleware:
    """Rewrite the user ids of the path and of ``user_id`` query parameters to their pseudonyms.

    Runs before routing, so that nothing behind it (routes, store, logs, uvicorn's access log, which
    prints the scope's path) sees a client's id. An id that the API would refuse is refused here,
    with the API's 422 body, because its pseudonym would pass the routes' validation.
    """

    def __init__(self, app: ASGIApp, *, pseudonymiser: Pseudonymiser) -> None:
        self.app = app
        self.pseudonymiser = pseudonymiser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        known: dict[str, str] = {}
        scope[SCOPE_KEY] = known
        prefix = next((p for p in USER_PATH_PREFIXES if path.startswith(p)), None)
        if prefix is not None:
            raw, sep, rest = path[len(prefix) :].partition("/")
            if raw:
                if not _valid(raw):
                    scope["path"] = f"{prefix}<invalid>{sep}{rest}"
                    scope["raw_path"] = scope["path"].encode("ascii", "replace")
                    scope["query_string"] = b""
                    await _refuse(send, "user_id", raw)
                    return
                key = self.pseudonymiser.key(raw)
                known[key] = raw
                new_path = f"{prefix}{key}{sep}{rest}"
                scope["path"] = new_path
                scope["raw_path"] = quote(new_path).encode("ascii")
        query: bytes = scope.get("query_string", b"")
        if b"user_id=" in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            bad = next((v for k, v in pairs if k == "user_id" and not _valid(v)), None)
            if bad is not None:
                scope["query_string"] = b""
                await _refuse(send, "user_id", bad)
                return
            for k, v in pairs:
                if k == "user_id":
                    known[self.pseudonymiser.key(v)] = v
            pairs = [(k, self.pseudonymiser.key(v) if k == "user_id" else v) for k, v in pairs]
            scope["query_string"] = urlencode(pairs).encode("ascii")
        await self.app(scope, receive, send)


async def _refuse(send: Send, field: str, value: str) -> None:
    from explorec.service.errors import error_response

    message = f"{field}: expected 1 to {ID_MAX} characters matching {ID_PATTERN}, got {value[: ID_MAX + 8]!r}"
    response = error_response(422, "validation_error", message, field)
    await send(
        {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
    )
    await send({"type": "http.response.body", "body": response.body})
