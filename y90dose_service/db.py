"""SQLAlchemy 2 engine, sessions and migrations (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from y90dose.errors import Y90DoseError
from y90dose_service.capacity import THREAD_POOL_MARGIN
from y90dose_service.security import make_private
from y90dose_service.settings import ServiceSettings

logger = logging.getLogger("y90dose.service")

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for another (worker processes write job progress)."""


SQLITE_BEGIN_OPTION = "sqlite_begin"
"""Execution option naming the SQLite BEGIN mode: DEFERRED (reads) or IMMEDIATE (writes)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, emits BEGIN (see _sqlite_begin), so the mode can be chosen.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """BEGIN IMMEDIATE for write sessions: they take the write lock before reading, so a
    concurrent writer makes them wait (busy timeout) instead of failing on a stale snapshot.
    """
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


DEFAULT_POOL_SIZE = 10
"""Connections an engine keeps open (more are opened up to ``DEFAULT_MAX_CONNECTIONS``)."""
DEFAULT_MAX_CONNECTIONS = 30
"""Most connections an engine opens at once (the service passes its own, see main.py)."""
DEFAULT_POOL_TIMEOUT_S = 30.0
"""How long a thread waits for a free connection before ``sqlalchemy.exc.TimeoutError``."""


def make_engine(
    url: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    At most ``max_connections`` connections are open at once; a thread waits at most
    ``pool_timeout_s`` for one (``sqlalchemy.exc.TimeoutError`` then).
    ``hide_parameters``: statement parameters (a patient reference among them) never
    appear in database error messages or logs.
    """
    parsed = make_url(url)
    pool_size = min(DEFAULT_POOL_SIZE, max_connections)
    pool: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_connections - pool_size,
        "pool_timeout": pool_timeout_s,
    }
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            pool = {}
        else:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, hide_parameters=True, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def write_engine(engine: Engine) -> Engine:
    """``engine`` for transactions that write: on SQLite they begin IMMEDIATE."""
    if is_sqlite(engine):
        return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return engine


def make_write_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that write: on SQLite their transaction begins IMMEDIATE."""
    return sessionmaker(write_engine(engine), expire_on_commit=False)


def safe_url(url: str) -> str:
    """``url`` with its password masked, fit for printing."""
    return make_url(url).render_as_string(hide_password=True)


def migrate(engine: Engine) -> str:
    """Bring the database to the newest schema (Alembic ``upgrade head``), in place.

    The Alembic environment ships inside the package (``y90dose_service/migrations``), so this
    works from an installed wheel as from a checkout. Alembic's own INFO lines are held
    back; the returned sentence says what was done, e.g. ``"database migrated to revision
    0001 (was empty)"`` or ``"database is up to date (revision 0001)"``.
    """
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(max(level, logging.WARNING))  # also while Alembic is imported
    try:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        location = Path(__file__).resolve().parent / "migrations"
        config = Config(str(location / "alembic.ini"))
        config.set_main_option("script_location", str(location))
        with engine.begin() as connection:
            before = MigrationContext.configure(connection).get_current_revision()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            after = MigrationContext.configure(connection).get_current_revision()
    finally:
        alembic_logger.setLevel(level)
    if before == after:
        return f"database is up to date (revision {after})"
    return f"database migrated to revision {after} (was {before or 'empty'})"


class DatabaseUnavailableError(Y90DoseError):
    """The configured database cannot be opened or migrated (message names it, no password)."""


def open_database(settings: ServiceSettings) -> Engine:
    """Create the data directory (owner-only, see :func:`y90dose_service.security.make_private`),
    connect and migrate; the one start-up path of every tool. Logs one line on the
    migration (INFO).

    Raises
    ------
    DatabaseUnavailableError
        The URL is malformed, the server unreachable or the credentials refused.
    """
    url = settings.resolved_database_url()
    try:
        make_private(settings.data_dir)
        engine = make_engine(
            url,
            max_connections=settings.max_concurrent_requests + THREAD_POOL_MARGIN,
            pool_timeout_s=settings.queue_timeout_seconds,
        )
        logger.info(migrate(engine))
    except (ArgumentError, OperationalError, OSError, ImportError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailableError(
            f"cannot open the database {_shown(url)} (Y90DOSE_DATABASE_URL / --data-dir): {reason}"
        ) from None
    return engine


def _shown(url: str) -> str:
    try:
        return safe_url(url)
    except ArgumentError:
        return "<malformed URL>"
