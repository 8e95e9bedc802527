"""Browser sessions: an API key pasted once becomes an HttpOnly session cookie.

The cookie holds a random session id (32 bytes), never the key; the server keeps, per
session, the SHA-256 of the key (so revoking the key ends the session at the next
request, within the key cache's seconds), the caller, a CSRF token and the expiry.
Sessions live in the server process's memory: a restart signs everyone out, and no key
or session id is ever written to disk or to the browser's storage.

CSRF: every state-changing request (POST) must carry the session's CSRF token (hidden
form field ``csrf_token`` or header ``X-CSRF-Token``) and, when the browser sends an
``Origin`` header, come from this server's origin. The cookie is ``SameSite=Strict``
too, so a cross-site form post does not even carry it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from y90dose_service.models import ApiKey
from y90dose_service.security import Caller, Role

SESSION_COOKIE = "y90dose_session"
SIGNIN_COOKIE = "y90dose_signin"
"""A short-lived random token the sign-in form must echo (login CSRF: no other site can
sign a browser in with its own key)."""
SESSION_SECONDS = 8 * 3600
"""A session ends 8 h after sign-in (a working day), or at sign-out."""
SIGNIN_SECONDS = 600
"""The sign-in form must be sent within 10 minutes of being shown."""
MAX_SESSIONS = 10_000
"""Live sessions kept at most; past that the oldest is ended first."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class WebSession:
    """One signed-in browser."""

    session_id: str
    key_digest: str
    caller: Caller
    csrf_token: str
    expires_at: float


class SessionStore:
    """Sessions by id, in memory, with expiry; safe to use from several threads."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()
        self.max_sessions = max_sessions

    def create(
        self, key_digest: str, caller: Caller, seconds: float = SESSION_SECONDS
    ) -> WebSession:
        """A new session for the caller whose key hashes to ``key_digest``."""
        session = WebSession(
            session_id=secrets.token_urlsafe(32),
            key_digest=key_digest,
            caller=caller,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=time.monotonic() + seconds,
        )
        with self._lock:
            self._drop_expired()
            while len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions.values(), key=lambda s: s.expires_at)
                del self._sessions[oldest.session_id]
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session ``session_id``, or None (unknown or expired)."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= time.monotonic():
                del self._sessions[session_id]
                return None
        return session

    def end(self, session_id: str | None) -> None:
        """Forget the session (sign-out)."""
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for session_id in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[session_id]


async def caller_of_digest(request: Request, key_digest: str) -> Caller | None:
    """The live key with this SHA-256, as a caller; None when revoked or deleted.

    Uses the API's key cache (keyed by the same digest), so a burst of page requests
    costs one database look-up, and revocation takes effect as it does for the API.
    """
    state = request.app.state
    now = time.monotonic()
    hit = state.key_cache.get(key_digest)
    if hit is not None and hit[1] > now:
        cached: Caller = hit[0]
        return cached
    factory: sessionmaker[Session] = state.sessionmaker

    def lookup() -> Caller | None:
        with factory() as db:
            row = db.scalar(select(ApiKey).where(ApiKey.key_hash == key_digest))
            if row is None or row.revoked_at is not None:
                return None
            return Caller(name=row.name, role=Role(row.role))

    return await run_in_threadpool(lookup)


def tokens_match(expected: str, given: Any) -> bool:
    """Constant-time comparison of a token with what the request sent."""
    return isinstance(given, str) and bool(given) and hmac.compare_digest(expected, given)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site.

    ``Origin`` (sent by browsers on every POST) must be this server's own origin; when it
    is absent, ``Sec-Fetch-Site`` (if sent) must be ``same-origin`` or ``none``.
    """
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        return origin in {f"{request.url.scheme}://{host}", f"http://{host}", f"https://{host}"}
    fetch_site = request.headers.get("sec-fetch-site")
    return fetch_site in (None, "same-origin", "none")
