"""How requests write without holding a database lock while they wait.

- :func:`write_turn`: on SQLite, the ORM write sessions of this process (revisions,
  approvals, uploads, dose jobs) take turns; a writer waits for its turn on the event
  loop (no thread held) at most ``queue_timeout_seconds``, then 503 with ``Retry-After``.
- :func:`write_transaction`: a transaction of plain inserts (plan creation), prepared on
  the event loop and run in one go in a worker thread, holding the turn only while it
  runs (SQLAlchemy Core: no ORM unit of work, no objects read back).

Every write transaction on SQLite begins IMMEDIATE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, Engine

from y90dose_service.capacity import busy_error
from y90dose_service.settings import ServiceSettings

T = TypeVar("T")


@asynccontextmanager
async def write_turn(state: Any) -> AsyncIterator[None]:
    """Hold this process's SQLite write turn for the ``async with`` block (nothing to hold
    on PostgreSQL); 503 with ``Retry-After`` after ``queue_timeout_seconds`` of waiting."""
    settings: ServiceSettings = state.settings
    turn: asyncio.Lock | None = state.write_turn
    if turn is None:
        yield
        return
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
    try:
        yield
    finally:
        turn.release()


async def write_transaction(request: Request, work: Callable[[Connection], T]) -> T:
    """Run ``work(connection)`` as one transaction; its result.

    Committed when ``work`` returns, rolled back when it raises: all of it is stored or
    none of it. Call it after the caller's key and role were checked (a ``PlannerDep``
    parameter) and the input validated and computed on the event loop; ``work`` should
    only write (SQLAlchemy Core inserts), so the transaction is short.
    """
    state = request.app.state
    engine: Engine = state.write_engine

    def run() -> T:
        with engine.begin() as connection:
            return work(connection)

    async with write_turn(state):
        return await run_in_threadpool(run)
