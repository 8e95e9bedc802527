"""Request dependencies as ``Annotated`` aliases: the database session and the caller.

``SessionDep`` (reads) and ``PlannerWriteSessionDep`` / ``ApproverWriteSessionDep``
(writes) are one session per request: rolled back if the request fails, so a failed
request changes nothing stored; routes commit explicitly when they succeed. A write
session depends on the caller's role check, so no write transaction opens before the
caller is authenticated and authorised.
``ViewerDep`` / ``PlannerDep`` / ``ApproverDep`` authenticate the API key (``Authorization:
Bearer <key>`` or ``X-API-Key: <key>``) and check the role: 401 without a valid key,
403 when the role is too low.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from functools import cache
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from y90dose.settings import ClinicalSettings
from y90dose_service.problems import ProblemError, field_error, invalid_input
from y90dose_service.security import Caller, Role, hash_key, verify_key
from y90dose_service.settings import ServiceSettings
from y90dose_service.writes import write_turn

KEY_CACHE_MAX_ENTRIES = 1024
"""Keys remembered at most (each cache, found and not found); a full cache is emptied."""
UNKNOWN_KEY = "the API key is unknown or revoked"


def clinical_settings(request: Request) -> ClinicalSettings:
    """The clinical settings every plan of this app is computed and checked with
    (:meth:`ServiceSettings.clinical_settings`, built once when the app is created)."""
    settings: ClinicalSettings = request.app.state.clinical_settings
    return settings


async def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was created with."""
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; rolled back unless the route committed.

    Async: making a session opens no connection (the route's first statement does), so
    the request does not hop to a thread and back just to make and close it.
    """
    with request_session(request.app.state.sessionmaker) as session:
        yield session


@contextlib.contextmanager
def request_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session from ``factory``, rolled back if the request fails, always closed (the one
    scope of the read and the write sessions)."""
    session = factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def nul_errors(scope: Any) -> list[dict[str, Any]]:
    """Field errors for a NUL character in the request's path or a query parameter (else
    empty); ``scope`` is the ASGI scope (the raw strings are tested before anything is
    parsed)."""
    allowed = "text without NUL characters"
    path: str = scope["path"]
    if "\x00" in path:
        return [field_error("path", path, allowed, "path")]
    raw_query: bytes = scope.get("query_string", b"")
    if b"%00" not in raw_query and b"\x00" not in raw_query:  # no parameter can hold NUL
        return []
    for name, value in Request(scope).query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            return [field_error(name, value, allowed, "query")]
    return []


class RefuseNulMiddleware:
    """422 for a NUL character in the path or a query parameter of every ``/v1`` request.

    PostgreSQL cannot compare or store text holding NUL; refusing it here keeps ids and
    filters from ever reaching the database with one (a 500 otherwise). A middleware,
    not a dependency: it costs a substring test per request, not a dependency level.
    """

    def __init__(self, app: Any, prefix: str = "/v1") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            errors = nul_errors(scope)
            if errors:
                await invalid_input(errors)(scope, receive, send)
                return
        await self.app(scope, receive, send)


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def presented_key(request: Request) -> str | None:
    """The API key the request presents: ``X-API-Key``, else a bearer token, else None."""
    api_key = authorization = None  # the first of each, as ``request.headers.get`` gives
    for name, value in request.scope["headers"]:  # one pass over the raw (lower-case) names
        if name == b"x-api-key":
            api_key = value if api_key is None else api_key
        elif name == b"authorization":
            authorization = value if authorization is None else authorization
    if api_key:
        return api_key.decode("latin-1")
    if authorization is None:
        return None
    scheme, _, credentials = authorization.decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def get_caller(request: Request) -> Caller:
    """The caller named by the request's API key (401 when missing, unknown or revoked).

    Keys found, and keys not found, are remembered for ``settings.key_cache_seconds``:
    a burst of requests with one key costs one database look-up, not one each, and
    a revoked key stops working at most that long after revocation. Reads the headers
    itself (one dependency, not three: see docs/service.md, throughput); the OpenAPI
    document still names both schemes (:func:`y90dose_service.main.add_security`).
    """
    presented = presented_key(request)
    if not presented:
        raise _unauthorized("an API key is required: 'Authorization: Bearer <key>' or 'X-API-Key'")
    digest = hash_key(presented)
    state = request.app.state
    now = time.monotonic()
    hit = state.key_cache.get(digest)
    if hit is not None and hit[1] > now:
        return cast(Caller, hit[0])
    miss = state.unknown_key_cache.get(digest)
    if miss is not None and miss > now:
        raise _unauthorized(UNKNOWN_KEY)
    factory: sessionmaker[Session] = state.sessionmaker

    def lookup() -> Caller | None:
        with factory() as session:
            return verify_key(session, presented)

    caller = await run_in_threadpool(lookup)
    ttl = state.settings.key_cache_seconds
    if caller is None:
        state.key_cache.pop(digest, None)
        _remember(state.unknown_key_cache, digest, now + ttl, ttl)
        raise _unauthorized(UNKNOWN_KEY)
    _remember(state.key_cache, digest, (caller, now + ttl), ttl)
    return caller


def _remember(cache: dict[str, Any], digest: str, entry: Any, ttl: float) -> None:
    if ttl > 0:
        if len(cache) >= KEY_CACHE_MAX_ENTRIES:
            cache.clear()
        cache[digest] = entry


@cache
def require(role: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A dependency that lets through callers whose role includes ``role`` (else 403).

    One dependency per role (cached), so that a route naming it twice (directly and
    through its write session) checks the caller once.
    """

    async def check(request: Request) -> Caller:
        return check_role(await get_caller(request), role)

    return check


def check_role(caller: Caller, role: Role) -> Caller:
    """``caller`` when its role includes ``role``, else the 403 problem (the one wording
    of every route, page and middleware that checks a role)."""
    if not caller.role.allows(role):
        raise ProblemError(
            403,
            "forbidden",
            f"key {caller.name!r} has role {caller.role.value!r}; this needs "
            f"{role.value!r} or higher",
        )
    return caller


@cache
def write_session(role: Role) -> Callable[..., AsyncIterator[Session]]:
    """A dependency giving a session for a request that writes, once the caller holds ``role``.

    The caller's key is authenticated and its role checked first (the role check is a
    sub-dependency), so a request without the right key never takes the write turn.
    On SQLite, writers of this process then take turns (:func:`write_turn`); their
    transactions begin IMMEDIATE, so a read followed by a write never meets a concurrent
    commit from another process. The session is rolled back unless the route committed.
    """

    role_check = Depends(require(role))  # a default, not in the annotation: role is local

    async def get_write_session(
        request: Request, _caller: Caller = role_check
    ) -> AsyncIterator[Session]:
        state = request.app.state
        async with write_turn(state):
            with request_session(state.write_sessionmaker) as session:
                yield session

    return get_write_session


CallerDep = Annotated[Caller, Depends(get_caller)]
ViewerDep = Annotated[Caller, Depends(require(Role.VIEWER))]
PlannerDep = Annotated[Caller, Depends(require(Role.PLANNER))]
ApproverDep = Annotated[Caller, Depends(require(Role.APPROVER))]
PlannerWriteSessionDep = Annotated[Session, Depends(write_session(Role.PLANNER))]
"""A write session for a planner (or higher); the key is checked before the write turn."""
ApproverWriteSessionDep = Annotated[Session, Depends(write_session(Role.APPROVER))]
"""A write session for an approver; the key is checked before the write turn."""
