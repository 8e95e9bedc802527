"""How requests write without holding a database lock while they wait.

- :func:`write_turn`: on SQLite, the ORM write sessions of this process (revisions,
  approvals, uploads, dose jobs) and plan creations take turns; a writer waits for its
  turn on the event loop (no thread held) at most ``queue_timeout_seconds``, then 503
  with ``Retry-After``.
- :func:`insert_rows`: a transaction of plain inserts (plan creation), prepared on the
  event loop, written by :class:`y90dose_service.inserts.RowInserter` at driver level
  (no ORM unit of work, no SQLAlchemy statement execution, nothing read back):

  - SQLite, holding the turn: on the event loop itself when the database's write lock
    is free at once (a few pages appended to the WAL, no wait, no fsync), otherwise in
    a worker thread that waits for the lock (another process, e.g. a dose-job worker,
    is writing);
  - PostgreSQL: one statement in autocommit on an asyncio connection of the loop (no
    thread, one round trip); writers do not take turns.

Every write transaction on SQLite begins IMMEDIATE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from y90dose_service.capacity import busy_error
from y90dose_service.inserts import Row, RowInserter
from y90dose_service.settings import ServiceSettings


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


async def insert_rows(request: Request, rows: Sequence[Row]) -> None:
    """Insert ``rows`` in one transaction: all of them are stored or none.

    Call it after the caller's key and role were checked and the input validated and
    computed on the event loop, so that the transaction is short. Raises the driver's
    ``IntegrityError`` (``RowInserter.integrity_errors``) when a constraint refuses a row.
    """
    state = request.app.state
    inserter: RowInserter = state.row_inserter
    settings: ServiceSettings = state.settings
    if not inserter.sqlite:
        if not await inserter.insert_postgresql(rows, settings.queue_timeout_seconds):
            raise busy_error(
                f"no database connection came free within {settings.queue_timeout_seconds:g}"
                f" s; retry in {settings.retry_after_seconds} s",
                settings.retry_after_seconds,
            )
        return
    async with write_turn(state):
        if not inserter.insert_sqlite_if_unlocked(rows):
            await run_in_threadpool(inserter.insert_sqlite, rows)
