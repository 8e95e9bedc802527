"""Fixtures of the service tests: an app per test on SQLite or PostgreSQL, and API keys.

Every test that takes ``db_url`` runs twice: on an SQLite file in a temporary data
directory, and on PostgreSQL when ``Y90DOSE_TEST_POSTGRES_URL`` names a server
(``postgresql+psycopg://user:password@127.0.0.1:5432/db``; ``.ci/postgres.sh`` starts one).
Without it the PostgreSQL run is skipped with that reason. The PostgreSQL database is
emptied (schema ``public`` dropped) before each test. Helpers live in
``service_helpers.py`` (test modules import from there, never from ``conftest``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # helpers and substitute job runners (also in worker processes)
    sys.path.insert(0, str(HERE))

from service_helpers import Keys, add_key, reset_postgres  # noqa: E402

from y90dose_service.main import create_app  # noqa: E402
from y90dose_service.settings import ServiceSettings  # noqa: E402

POSTGRES_ENV = "Y90DOSE_TEST_POSTGRES_URL"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of one test: SQLite in tmp_path, or the emptied PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'y90dose.sqlite3'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        reason = f"{POSTGRES_ENV} is not set (run .ci/postgres.sh to start a server)"
        if os.environ.get("CI") == "true":  # CI must run the PostgreSQL suite, not skip it
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)
    reset_postgres(url)
    return url


@pytest.fixture
def make_settings(tmp_path: Path, db_url: str) -> Any:
    """Settings factory: temporary data dir, the test's database, overrides by keyword."""

    def make(**overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": db_url,
            "key_cache_seconds": 0.0,
        }
        values.update(overrides)
        return ServiceSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Any) -> ServiceSettings:
    """Default test settings."""
    settings: ServiceSettings = make_settings()
    return settings


@pytest.fixture
def app(settings: ServiceSettings) -> FastAPI:
    """A migrated app on the test database (its lifespan runs inside ``client``)."""
    return create_app(settings)


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    """One key per role (two approvers), sent as bearer tokens."""

    def bearer(name: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {add_key(app, name, role)}"}

    return Keys(
        viewer=bearer("viewer-key", "viewer"),
        planner=bearer("planner-key", "planner"),
        approver=bearer("approver-key", "approver"),
        approver2=bearer("second-approver", "approver"),
    )


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """TestClient with the app's lifespan (job executor) running."""
    with TestClient(app) as test_client:
        yield test_client
