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

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from service.capacity import busy_error
from service.problems import InvalidInputError, ProblemError, field_error
from service.security import Caller, Role, hash_key, verify_key
from service.settings import ServiceSettings

bearer_scheme = HTTPBearer(auto_error=False, description="API key as a bearer token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

KEY_CACHE_MAX_ENTRIES = 1024


async def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was created with."""
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; rolled back unless the route committed.

    Async: making a session opens no connection (the route's first statement does), so
    the request does not hop to a thread and back just to make and close it.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def refuse_nul(request: Request) -> None:
    """422 for a NUL character in the path or a query parameter (every ``/v1`` route).

    PostgreSQL cannot compare or store text holding NUL; refusing it here keeps ids and
    filters from ever reaching the database with one (a 500 otherwise).
    """
    allowed = "text without NUL characters"
    if "\x00" in request.url.path:
        raise InvalidInputError([field_error("path", request.url.path, allowed, "path")])
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise InvalidInputError([field_error(name, value, allowed, "query")])


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def get_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Caller:
    """The caller named by the request's API key (401 when missing, unknown or revoked).

    Verified keys are remembered for ``settings.key_cache_seconds`` so that a burst of
    requests does not query the database for each one.
    """
    presented = header_key or (bearer.credentials if bearer is not None else None)
    if not presented:
        raise _unauthorized("an API key is required: 'Authorization: Bearer <key>' or 'X-API-Key'")
    digest = hash_key(presented)
    cache: dict[str, tuple[Caller, float]] = request.app.state.key_cache
    now = time.monotonic()
    hit = cache.get(digest)
    if hit is not None and hit[1] > now:
        return hit[0]
    factory: sessionmaker[Session] = request.app.state.sessionmaker

    def lookup() -> Caller | None:
        with factory() as session:
            return verify_key(session, presented)

    caller = await run_in_threadpool(lookup)
    if caller is None:
        cache.pop(digest, None)
        raise _unauthorized("the API key is unknown or revoked")
    ttl = request.app.state.settings.key_cache_seconds
    if ttl > 0:
        if len(cache) >= KEY_CACHE_MAX_ENTRIES:
            cache.clear()
        cache[digest] = (caller, now + ttl)
    return caller


@cache
def require(role: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A dependency that lets through callers whose role includes ``role`` (else 403).

    One dependency per role (cached), so that a route naming it twice (directly and
    through its write session) checks the caller once.
    """

    async def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not caller.role.allows(role):
            raise ProblemError(
                403,
                "forbidden",
                f"key {caller.name!r} has role {caller.role.value!r}; this needs "
                f"{role.value!r} or higher",
            )
        return caller

    return check


@cache
def write_session(role: Role) -> Callable[..., AsyncIterator[Session]]:
    """A dependency giving a session for a request that writes, once the caller holds ``role``.

    The caller's key is authenticated and its role checked first (the role check is a
    sub-dependency), so a request without the right key never takes the write turn.
    On SQLite, writers of this process then take turns: they wait on the event loop
    (no thread is held while waiting) at most ``queue_timeout_seconds``, else 503 with
    ``Retry-After``; their transactions begin IMMEDIATE, so a read followed by a write
    never meets a concurrent commit from another process. The session is rolled back
    unless the route committed.
    """

    role_check = Depends(require(role))  # a default, not in the annotation: role is local

    async def get_write_session(
        request: Request, _caller: Caller = role_check
    ) -> AsyncIterator[Session]:
        state = request.app.state
        settings: ServiceSettings = state.settings
        turn: asyncio.Lock | None = state.write_turn
        if turn is not None:
            try:
                if turn.locked():
                    await asyncio.wait_for(turn.acquire(), settings.queue_timeout_seconds)
                else:
                    await turn.acquire()
            except TimeoutError:
                raise busy_error(
                    f"no turn to write within {settings.queue_timeout_seconds:g} s; "
                    f"retry in {settings.retry_after_seconds} s",
                    settings.retry_after_seconds,
                ) from None
        factory: sessionmaker[Session] = state.write_sessionmaker
        session = factory()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if turn is not None:
                turn.release()

    return get_write_session


CallerDep = Annotated[Caller, Depends(get_caller)]
ViewerDep = Annotated[Caller, Depends(require(Role.VIEWER))]
PlannerDep = Annotated[Caller, Depends(require(Role.PLANNER))]
ApproverDep = Annotated[Caller, Depends(require(Role.APPROVER))]
PlannerWriteSessionDep = Annotated[Session, Depends(write_session(Role.PLANNER))]
"""A write session for a planner (or higher); the key is checked before the write turn."""
ApproverWriteSessionDep = Annotated[Session, Depends(write_session(Role.APPROVER))]
"""A write session for an approver; the key is checked before the write turn."""
