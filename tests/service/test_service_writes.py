"""Plan creation's write paths (``y90dose_service.writes`` and ``inserts``): on SQLite
the transaction runs on the event loop only while the database's write lock is free at
once, otherwise it waits in a worker thread; on PostgreSQL it is one statement on the
loop's own connections, which are dropped when the server ended their session.

The database is read back through the ORM in every test, so the rows written at driver
level are checked as the rest of the service reads them.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Keys
from sqlalchemy import create_engine, func, select, text

import y90dose_service.inserts as inserts
from y90dose_service.models import AuditEvent, Plan, PlanVersion
from y90dose_service.settings import ServiceSettings

PLAN = {
    "patient_ref": "W-1",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08},
}


def count(app: FastAPI, model: Any) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def sqlite_file(settings: ServiceSettings) -> Path:
    url = settings.resolved_database_url()
    if not url.startswith("sqlite"):
        pytest.skip("SQLite only: the write lock of another connection")
    return Path(url.removeprefix("sqlite:///"))


def test_a_plan_waits_for_another_writer_while_the_service_answers(
    app: FastAPI, client: TestClient, keys: Keys, settings: ServiceSettings
) -> None:
    """Another process's connection holds SQLite's write lock (as a dose-job worker
    writing progress does): the plan waits for it off the event loop, /healthz and reads
    answer meanwhile, and the plan is stored once the lock is released."""
    outside = sqlite3.connect(sqlite_file(settings), isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(client.post, "/v1/plans", json=PLAN, headers=keys.planner)
            time.sleep(0.5)
            assert not pending.done()  # waiting for the lock
            began = time.monotonic()
            assert client.get("/healthz").status_code == 200
            assert client.get("/v1/plans", headers=keys.viewer).json()["total"] == 0
            assert time.monotonic() - began < 2.0  # the loop was not held by the waiting plan
            outside.execute("COMMIT")
            response = pending.result(timeout=30)
    finally:
        outside.close()
    assert response.status_code == 201, response.text
    assert count(app, Plan) == count(app, PlanVersion) == count(app, AuditEvent) == 1
    stored = client.get(f"/v1/plans/{response.json()['id']}", headers=keys.viewer)
    assert stored.json() == response.json()


def test_plans_made_on_the_loop_are_checkpointed_into_the_database(
    app: FastAPI,
    client: TestClient,
    keys: Keys,
    settings: ServiceSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop's connection never checkpoints the WAL itself; every
    LOOP_CHECKPOINT_COMMITS plans a worker thread copies it into the database file, so
    the plans reach the database file and the WAL does not grow without end."""
    database = sqlite_file(settings)
    monkeypatch.setattr(inserts, "LOOP_CHECKPOINT_COMMITS", 5)
    size_before = database.stat().st_size
    for number in range(6):
        response = client.post(
            "/v1/plans", json={**PLAN, "patient_ref": f"W-{number}"}, headers=keys.planner
        )
        assert response.status_code == 201
    deadline = time.monotonic() + 10
    while database.stat().st_size == size_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert database.stat().st_size > size_before  # pages copied from the WAL
    # the file alone (WAL ignored) holds the first five plans
    alone = sqlite3.connect(f"file:{database}?immutable=1", uri=True)
    try:
        (in_file,) = alone.execute("SELECT count(*) FROM plans").fetchone()
    finally:
        alone.close()
    assert in_file >= 5
    assert count(app, Plan) == 6


def test_a_plan_after_the_database_ended_the_sessions(
    app: FastAPI, client: TestClient, keys: Keys, settings: ServiceSettings
) -> None:
    """PostgreSQL restarted or an administrator ended the sessions: the loop's idle
    connections are found closed before use and replaced, so the next plan is stored
    (no 500 for the first request after the restart)."""
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: sessions ended by the server")
    assert client.post("/v1/plans", json=PLAN, headers=keys.planner).status_code == 201
    admin = create_engine(url)
    try:
        with admin.connect() as connection:
            ended = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
    finally:
        admin.dispose()
    assert ended and ended >= 1
    time.sleep(0.2)  # the ended sessions' sockets are closed by then
    for number in range(3):
        response = client.post(
            "/v1/plans", json={**PLAN, "patient_ref": f"W-{number}"}, headers=keys.planner
        )
        assert response.status_code == 201, response.text
    assert count(app, Plan) == count(app, AuditEvent) == 4
