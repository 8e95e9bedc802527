"""SQLAlchemy 2 engine, sessions and migrations (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.settings import ServiceSettings
from y90dose.errors import Y90DoseError

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


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    ``hide_parameters``: statement parameters (a patient reference among them) never
    appear in database error messages or logs.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def make_write_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that write: on SQLite their transaction begins IMMEDIATE."""
    if is_sqlite(engine):
        engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return sessionmaker(engine, expire_on_commit=False)


def safe_url(url: str) -> str:
    """``url`` with its password masked, fit for printing."""
    return make_url(url).render_as_string(hide_password=True)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic ``upgrade head``), in place.

    The Alembic environment ships inside the package (``service/migrations``), so this
    works from an installed wheel as from a checkout.
    """
    from alembic import command
    from alembic.config import Config

    location = Path(__file__).resolve().parent / "migrations"
    config = Config(str(location / "alembic.ini"))
    config.set_main_option("script_location", str(location))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class DatabaseUnavailableError(Y90DoseError):
    """The configured database cannot be opened or migrated (message names it, no password)."""


def open_database(settings: ServiceSettings) -> Engine:
    """Create the data directory, connect and migrate; the one start-up path of every tool.

    Raises
    ------
    DatabaseUnavailableError
        The URL is malformed, the server unreachable or the credentials refused.
    """
    url = settings.resolved_database_url()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        migrate(engine)
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
