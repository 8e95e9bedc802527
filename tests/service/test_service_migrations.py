"""Migrations: an empty database reaches the newest schema, which matches the ORM models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from y90dose_service.db import make_engine, migrate
from y90dose_service.models import Base
from y90dose_service.settings import ServiceSettings

TABLES = {
    "api_keys",
    "plans",
    "plan_versions",
    "approvals",
    "studies",
    "dose_jobs",
    "audit_events",
    "alembic_version",
}


def head_revision() -> str:
    from alembic.config import Config

    from y90dose_service import db

    location = db.Path(db.__file__).resolve().parent / "migrations"
    config = Config(str(location / "alembic.ini"))
    config.set_main_option("script_location", str(location))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_empty_database_migrates_to_head_matching_models(db_url: str) -> None:
    engine = make_engine(db_url)
    assert not set(inspect(engine).get_table_names()) & TABLES
    migrate(engine)
    migrate(engine)  # idempotent: a second start changes nothing
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_default_database_is_sqlite_in_data_dir(tmp_path: object) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    assert settings.resolved_database_url().startswith("sqlite:///")
    assert settings.resolved_database_url().endswith("y90dose.sqlite3")
