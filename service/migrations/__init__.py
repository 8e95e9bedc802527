"""Alembic migrations of the service database (applied at start by service.db.migrate)."""
