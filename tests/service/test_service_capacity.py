"""Concurrency limits in process: the key is checked before the write turn, a request that
cannot get a place or the write turn in time gets 503 with Retry-After, /healthz answers.

The real-server load test is ``test_service_load.py``.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import add_key, assert_problem

from y90dose_service.capacity import Capacity
from y90dose_service.main import create_app
from y90dose_service.models import Plan
from y90dose_service.settings import ServiceSettings

PLAN = {
    "patient_ref": "CAP-1",
    "treatment_date": "2026-12-01",
    "product": "glass",
    "delivery": "lobar",
    "model": "mird",
    "inputs": {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08},
}


def sqlite_app(tmp_path: Path, **settings: Any) -> FastAPI:
    """An app on SQLite: its writers take the in-process write turn the tests hold."""
    return create_app(
        ServiceSettings(data_dir=tmp_path / "data", key_cache_seconds=0.0, **settings)
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_checked_before_the_write_turn(tmp_path: Path) -> None:
    """With the write turn held, wrong keys and low roles are still answered at once:
    they never wait for (or take) the turn. A planner waits, then gets 503."""
    app = sqlite_app(tmp_path, queue_timeout_seconds=0.5, retry_after_seconds=3)
    planner, viewer = add_key(app, "p", "planner"), add_key(app, "v", "viewer")
    with TestClient(app) as client:
        assert client.portal is not None
        client.portal.call(app.state.write_turn.acquire)
        try:
            began = time.monotonic()
            wrong = client.post("/v1/plans", json=PLAN, headers=bearer("y90_wrong"))
            low = client.post("/v1/plans", json=PLAN, headers=bearer(viewer))
            assert time.monotonic() - began < 0.5  # neither waited for the turn
            assert_problem(wrong, 401)
            assert_problem(low, 403)
            busy = client.post("/v1/plans", json=PLAN, headers=bearer(planner))
            assert_problem(busy, 503)
            assert busy.headers["retry-after"] == "3"
            assert client.get("/healthz").status_code == 200
        finally:
            app.state.write_turn.release()
        assert client.post("/v1/plans", json=PLAN, headers=bearer(planner)).status_code == 201
    with app.state.sessionmaker() as session:
        assert session.query(Plan).count() == 1  # the 503 stored nothing


def test_past_the_limit_a_request_gets_503_and_healthz_still_answers(tmp_path: Path) -> None:
    """One place, no queue: while a planner's request holds the place (waiting for the
    write turn), the next request is refused at once with Retry-After."""
    app = sqlite_app(
        tmp_path,
        max_concurrent_requests=1,
        max_queued_requests=0,
        queue_timeout_seconds=3.0,
        retry_after_seconds=2,
    )
    planner = add_key(app, "p", "planner")
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        assert client.portal is not None
        client.portal.call(app.state.write_turn.acquire)
        holder = pool.submit(client.post, "/v1/plans", json=PLAN, headers=bearer(planner))
        time.sleep(0.5)  # the holder now has the only place
        began = time.monotonic()
        refused = client.get("/v1/plans", headers=bearer(planner))
        assert time.monotonic() - began < 1.0
        assert_problem(refused, 503)
        assert refused.headers["retry-after"] == "2"
        assert client.get("/healthz").status_code == 200
        client.portal.call(app.state.write_turn.release)
        assert holder.result(timeout=10).status_code == 201


def test_capacity_queue_is_bounded_first_come_first_served_and_timed() -> None:
    async def scenario() -> None:
        capacity = Capacity(limit=1, queue_max=2)
        assert await capacity.acquire(0.1)  # the one place
        order: list[str] = []

        async def wait(name: str, timeout_s: float) -> None:
            if await capacity.acquire(timeout_s):
                order.append(name)
                await asyncio.sleep(0.01)
                capacity.release()
            else:
                order.append(name + ":refused")

        first = asyncio.create_task(wait("first", 5.0))
        second = asyncio.create_task(wait("second", 5.0))
        await asyncio.sleep(0.01)
        assert capacity.queued == 2
        assert not await capacity.acquire(5.0)  # queue full: refused at once
        late = asyncio.create_task(wait("timed-out", 0.05))  # no room either: refused
        await asyncio.sleep(0.1)
        capacity.release()  # hand the place down the queue
        await asyncio.gather(first, second, late)
        assert order == ["timed-out:refused", "first", "second"]
        assert capacity.active == 0 and capacity.queued == 0

        # A waiter that times out leaves the queue; the place goes to the next one.
        assert await capacity.acquire(0.1)
        timed_out = asyncio.create_task(capacity.acquire(0.05))
        patient = asyncio.create_task(capacity.acquire(5.0))
        assert not await timed_out
        capacity.release()
        assert await patient
        capacity.release()
        assert capacity.active == 0

    asyncio.run(scenario())
