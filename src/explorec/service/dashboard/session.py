"""Dashboard sessions: an API key behind a signed, encrypted, HttpOnly, SameSite=Strict cookie, and
a per-session CSRF token.

Logging in verifies the API key like a ``Bearer`` header (:class:`~explorec.service.auth.KeyVerifier`)
and stores it in the session. The session is Starlette's ``SessionMiddleware`` cookie (signed with
itsdangerous, ``Max-Age`` = ``dashboard_session_s``, path ``/dashboard``); the key inside it is
encrypted with Fernet (the ``cryptography`` library) under a key derived from the same secret, so the
cookie never shows the API key even to someone who reads it. Every request re-verifies the key
(within ``key_cache_s``, as for the API), so a revoked key ends its dashboard sessions too.

Every state-changing request (a POST) must carry the session's CSRF token, in the form field
``csrf`` or the header ``X-CSRF-Token``; it is compared with :func:`hmac.compare_digest`. The token is
made when the login page is first shown (so the login form itself is protected) and replaced at
login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request

from explorec.service.auth import KeyVerifier, Principal

#: the session cookie's name
COOKIE = "explorec_dashboard"
#: the form field and the header that carry the CSRF token
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SessionKeys:
    """Encrypts the API key kept in a session; built from the dashboard secret."""

    def __init__(self, secret: str) -> None:
        # a separate key for encryption, derived from the signing secret (never the same bytes)
        digest = hashlib.sha256(b"explorec-dashboard-session-key\0" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, api_key: str) -> str:
        return self._fernet.encrypt(api_key.encode()).decode()

    def open(self, sealed: str) -> str | None:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    session: dict[str, Any] = request.session
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    """True when ``sent`` equals the session's token (constant-time comparison)."""
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def log_in(request: Request, keys: SessionKeys, api_key: str) -> None:
    """Start a fresh session holding ``api_key`` (already verified) and a new CSRF token."""
    request.session.clear()
    request.session["key"] = keys.seal(api_key)
    request.session[CSRF_FIELD] = secrets.token_urlsafe(32)


def log_out(request: Request) -> None:
    request.session.clear()


def session_principal(request: Request, keys: SessionKeys) -> Principal | None:
    """The verified key of the session, or None (not logged in, or the key was revoked)."""
    sealed = request.session.get("key")
    if not isinstance(sealed, str):
        return None
    secret = keys.open(sealed)
    if secret is None:
        return None
    verifier: KeyVerifier = request.app.state.keys
    return verifier.principal(secret)
