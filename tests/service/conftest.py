"""Fixtures of the service tests: an app per test on SQLite or PostgreSQL, and API keys.

Every test that takes ``db_url`` runs twice: on an SQLite file in a temporary data
directory, and on PostgreSQL when ``Y90DOSE_TEST_POSTGRES_URL`` names a server
(``postgresql+psycopg://user:password@127.0.0.1:5432/db``; ``.ci/postgres.sh`` starts one).
Without it the PostgreSQL run is skipped with that reason. The PostgreSQL database is
emptied (schema ``public`` dropped) before each test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.main import create_app
from service.security import create_key
from service.settings import ServiceSettings

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the substitute job runners, importable in worker processes
    sys.path.insert(0, str(HERE))

POSTGRES_ENV = "Y90DOSE_TEST_POSTGRES_URL"


def reset_postgres(url: str) -> None:
    """Drop every table (and the Alembic version) of the test database."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


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
        pytest.skip(f"{POSTGRES_ENV} is not set (run .ci/postgres.sh to start a server)")
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


@dataclass(frozen=True)
class Keys:
    """Headers of one key per role, and their names."""

    viewer: dict[str, str]
    planner: dict[str, str]
    approver: dict[str, str]
    approver2: dict[str, str]


def add_key(app: FastAPI, name: str, role: str) -> str:
    """Create a key directly in the app's database; return the plain key."""
    with app.state.sessionmaker() as session:
        _, plain = create_key(session, name, role)
        session.commit()
    return plain


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


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is RFC 7807 problem+json with ``status``; for 422 it names ``field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:y90dose:problem:")
    assert body["title"] and body["detail"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, fields
        error = body["errors"][fields.index(field)]
        assert set(error) >= {"field", "value", "allowed"}
        assert error["allowed"]
    return body
