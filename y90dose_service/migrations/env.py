"""Alembic environment: runs on the connection y90dose_service.db.migrate hands over."""

from __future__ import annotations

from alembic import context

from y90dose_service.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate on ``config.attributes['connection']`` (set by y90dose_service.db.migrate)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        from y90dose_service.db import make_engine
        from y90dose_service.settings import ServiceSettings

        engine = make_engine(ServiceSettings().resolved_database_url())
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
