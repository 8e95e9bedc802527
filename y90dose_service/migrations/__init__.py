"""Alembic migrations of the service database (applied at start by y90dose_service.db.migrate)."""
