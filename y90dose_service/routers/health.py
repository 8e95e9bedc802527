"""``/healthz``: liveness and database reachability (no API key needed).

It is never queued behind the work: it is outside the concurrency limit
(:mod:`y90dose_service.capacity`), pings the database on threads and a connection of its own,
and answers within ``HEALTH_TIMEOUT_S`` whatever the database does.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

import y90dose

router = APIRouter(tags=["health"])

HEALTH_TIMEOUT_S = 1.5
"""Longest wait for the database's answer; then 503 with ``database: "no answer"``."""


@router.get("/healthz", summary="Is the service up and its database reachable?")
async def healthz(request: Request) -> JSONResponse:
    """200 with ``{"status": "ok"}`` when the database answers, else 503."""
    engine: Engine = request.app.state.health_engine

    def ping() -> str:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return "ok"
        except Exception:
            return "unreachable"

    database = "no answer"
    with anyio.move_on_after(HEALTH_TIMEOUT_S):
        database = await anyio.to_thread.run_sync(
            ping, limiter=request.app.state.health_limiter, abandon_on_cancel=True
        )
    body: dict[str, Any] = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "version": y90dose.__version__,
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
