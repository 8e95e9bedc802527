"""Plain inserts at driver level: :class:`RowInserter` (plan creation's transaction).

The statements are SQLAlchemy Core inserts of the ORM's tables, compiled once per
dialect, table and column set, and executed on the driver's cursor: SQLAlchemy's
statement execution (cache key, execution context, events, result objects) cost a plan
about as much CPU as everything else in the request. Values are converted by the
columns' own SQLAlchemy types, so JSON, dates and instants are stored exactly as the ORM
stores and reads them.

- SQLite: one ``BEGIN IMMEDIATE`` ... ``COMMIT``; on the event loop through a
  connection of its own that never waits for the lock (busy timeout 0) and never
  checkpoints the WAL (a worker thread does, every ``LOOP_CHECKPOINT_COMMITS`` commits),
  or, when another connection holds the lock, in a worker thread through the pool.
- PostgreSQL: the rows of a transaction are one statement (``WITH r0 AS (INSERT ...),
  r1 AS (INSERT ...) INSERT ...``; a single statement is atomic) run in autocommit on
  one of ``PG_LOOP_CONNECTIONS`` psycopg asyncio connections: one round trip, no thread.
"""

from __future__ import annotations

import asyncio
import logging
import select
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, Table, bindparam, insert

logger = logging.getLogger("y90dose.service")

Row = tuple[Table, dict[str, Any]]
"""One row to insert: its table and its values by column name (every column it sets,
those with a Python-side default included)."""

LOOP_CHECKPOINT_COMMITS = 200
"""Commits on the event loop between two WAL checkpoints in a worker thread (SQLite's
own automatic checkpoint comes every 1000 WAL pages, about 80 plans of about 12 pages)."""
PG_LOOP_CONNECTIONS = 8
"""PostgreSQL connections the event loop inserts on, one statement at a time each (apart
from the engine's pool, which the sessions of the other routes use)."""
PG_IDLE = 0
"""libpq's PQTRANS_IDLE (``psycopg.pq.TransactionStatus.IDLE``): the connection ended its
last statement and holds no transaction."""


@dataclass(frozen=True)
class _Compiled:
    """One statement as the driver takes it: SQL text and how to build its parameters."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    """Bind names, in order for a positional paramstyle."""
    sources: tuple[tuple[int, str], ...]
    """For each bind name: the index of the row its value comes from, and the column."""
    processors: tuple[Callable[[Any], Any] | None, ...]
    """The column types' own bind processors (SQLAlchemy's storage form of each value)."""

    def parameters(self, rows: Sequence[Row]) -> Any:
        """The driver's parameters for ``rows`` (a list, or a dict by bind name)."""
        values = []
        for (index, column), process in zip(self.sources, self.processors, strict=True):
            value = rows[index][1][column]
            values.append(value if process is None or value is None else process(value))
        return values if self.positional else dict(zip(self.names, values, strict=True))


class RowInserter:
    """Insert rows of the ORM's tables in one transaction, at driver level (see the
    module's docstring); one per app."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.sqlite = engine.dialect.name == "sqlite"
        self.integrity_errors: tuple[type[Exception], ...] = (
            self.dialect.loaded_dbapi.IntegrityError,
        )
        self._compiled: dict[tuple[Any, ...], list[_Compiled]] = {}
        self._loop_sqlite: Any = None  # SQLite: the event loop's own connection
        self._loop_commits = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self._pg_idle: list[tuple[Any, Any]] = []  # PostgreSQL: (connection, cursor)
        self._pg_slots: asyncio.Semaphore | None = None

    # -- statements ---------------------------------------------------------------------

    def statements(self, rows: Sequence[Row]) -> list[_Compiled]:
        """The statements inserting ``rows`` (compiled at the first use of their shape)."""
        shape = tuple((table.name, *values) for table, values in rows)
        compiled = self._compiled.get(shape)
        if compiled is None:
            compiled = self._compiled[shape] = self._compile(rows)
        return compiled

    def _compile(self, rows: Sequence[Row]) -> list[_Compiled]:
        dialect = self.dialect
        sources: dict[str, tuple[int, str]] = {}  # bind name -> (row, column)
        types: dict[str, Any] = {}
        parts: list[tuple[str, bool, tuple[str, ...]]] = []
        for index, (table, values) in enumerate(rows):
            binds = {}
            for column in values:
                name = f"r{index}_{column}"
                binds[column] = bindparam(name, type_=table.c[column].type)
                sources[name], types[name] = (index, column), table.c[column].type
            compiled = insert(table).inline().values(binds).compile(dialect=dialect)
            ours = tuple(bind.key for bind in binds.values())
            if set(compiled.binds) != set(ours):
                # a column with a Python-side default was left out: its default would not
                # be applied here, so every column must be given
                raise ValueError(f"insert into {table.name}: give a value for every column")
            names = tuple(compiled.positiontup or ()) if compiled.positional else ours
            parts.append((str(compiled), compiled.positional, names))

        def build(sql: str, positional: bool, names: tuple[str, ...]) -> _Compiled:
            return _Compiled(
                sql,
                positional,
                names,
                tuple(sources[name] for name in names),
                tuple(types[n].dialect_impl(dialect).bind_processor(dialect) for n in names),
            )

        if self.sqlite:
            return [build(*part) for part in parts]
        *first, (last, _, _) = parts
        ctes = ", ".join(f"r{index} AS ({sql})" for index, (sql, _, _) in enumerate(first))
        sql = f"WITH {ctes} {last}" if first else last
        return [build(sql, False, tuple(name for _, _, names in parts for name in names))]

    # -- SQLite -------------------------------------------------------------------------

    def insert_sqlite_if_unlocked(self, rows: Sequence[Row]) -> bool:
        """Insert ``rows`` in one transaction on the calling thread (the event loop) if the
        database's write lock is free at once; False, having done nothing, when another
        connection holds it. Call it holding the write turn."""
        statements = self.statements(rows)
        connection = self._loop_connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            raise
        _write_sqlite(connection, statements, rows)
        self._loop_commits += 1
        if self._loop_commits >= LOOP_CHECKPOINT_COMMITS and self._checkpoint is None:
            self._loop_commits = 0
            self._checkpoint = asyncio.ensure_future(run_in_threadpool(self._run_checkpoint))
            self._checkpoint.add_done_callback(self._checkpoint_done)
        return True

    def insert_sqlite(self, rows: Sequence[Row]) -> None:
        """Insert ``rows`` in one transaction through a pooled connection, waiting for the
        write lock up to its busy timeout (blocking: call it in a worker thread)."""
        statements = self.statements(rows)
        pooled = self.engine.raw_connection()
        try:
            connection: Any = pooled.driver_connection
            connection.execute("BEGIN IMMEDIATE")
            _write_sqlite(connection, statements, rows)
        finally:
            pooled.close()

    def _loop_connection(self) -> Any:
        if self._loop_sqlite is None:
            pooled = self.engine.raw_connection()  # set up as every connection (db.py)
            connection: Any = pooled.driver_connection
            pooled.detach()  # no longer the pool's: this inserter's until aclose()
            connection.execute("PRAGMA busy_timeout=0")  # never wait on the loop
            connection.execute("PRAGMA wal_autocheckpoint=0")  # never fsync on the loop
            self._loop_sqlite = connection
        return self._loop_sqlite

    def _run_checkpoint(self) -> None:
        """Copy the WAL into the database (PASSIVE, as SQLite's automatic checkpoint)."""
        pooled = self.engine.raw_connection()
        try:
            connection: Any = pooled.driver_connection
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
        finally:
            pooled.close()

    def _checkpoint_done(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and done.exception() is not None:
            logger.warning("WAL checkpoint failed (retried later): %s", done.exception())

    # -- PostgreSQL ---------------------------------------------------------------------

    def start(self) -> None:
        """Make the helpers bound to the serving loop (from the app's lifespan)."""
        self._pg_slots = asyncio.Semaphore(PG_LOOP_CONNECTIONS)
        self._checkpoint = None  # one left pending by an earlier loop (a test's) is gone

    async def insert_postgresql(self, rows: Sequence[Row], timeout_s: float) -> bool:
        """Insert ``rows`` as one statement in autocommit on a connection of the loop;
        False, having done nothing, when no connection came free within ``timeout_s``."""
        (statement,) = self.statements(rows)
        parameters = statement.parameters(rows)
        if self._pg_slots is None:  # an app used without its lifespan
            self.start()
        slots = self._pg_slots
        assert slots is not None
        try:
            await asyncio.wait_for(slots.acquire(), timeout_s)
        except TimeoutError:
            return False
        try:
            connection, cursor = await self._pg_connection()
            try:
                await cursor.execute(statement.sql, parameters)
            finally:
                # kept only if it ended cleanly; one cancelled half-way is closed at once
                if not connection.closed and connection.info.transaction_status == PG_IDLE:
                    self._pg_idle.append((connection, cursor))
                else:
                    connection.pgconn.finish()
        finally:
            slots.release()
        return True

    async def _pg_connection(self) -> tuple[Any, Any]:
        """An idle connection still fit for use and its cursor, else a new one."""
        while self._pg_idle:
            connection, cursor = self._pg_idle.pop()
            if _fit_for_use(connection):
                return connection, cursor
            await connection.close()
        import psycopg  # only a PostgreSQL service needs it

        cargs, cparams = self.dialect.create_connect_args(self.engine.url)  # as the pool's
        connection = await psycopg.AsyncConnection.connect(*cargs, **cparams, autocommit=True)
        return connection, connection.cursor()

    async def aclose(self) -> None:
        """Close the connections of the loop (at the app's shutdown)."""
        if self._loop_sqlite is not None:
            self._loop_sqlite.close()
            self._loop_sqlite = None
        idle, self._pg_idle = self._pg_idle, []
        for connection, _cursor in idle:
            await connection.close()


def _write_sqlite(connection: Any, statements: list[_Compiled], rows: Sequence[Row]) -> None:
    """Run ``statements`` in the transaction ``connection`` began; commit, or roll back and
    raise."""
    try:
        for statement in statements:
            connection.execute(statement.sql, statement.parameters(rows)).close()
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _fit_for_use(connection: Any) -> bool:
    """Whether an idle PostgreSQL connection can take a statement: open, and the server
    sent nothing since its last answer (a server that restarted or ended the session has
    closed the socket or sent a FATAL error: readable). A local check, without the round
    trip of a ``SELECT 1`` ping."""
    if connection.closed or connection.broken:
        return False
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    return not readable
