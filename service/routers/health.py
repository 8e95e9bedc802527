"""``/healthz``: liveness and database reachability (no API key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

import y90dose

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Is the service up and its database reachable?")
async def healthz(request: Request) -> JSONResponse:
    """200 with ``{"status": "ok"}`` when the database answers, else 503."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker

    def ping() -> bool:
        try:
            with factory() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    database_ok = await run_in_threadpool(ping)
    body: dict[str, Any] = {
        "status": "ok" if database_ok else "degraded",
        "database": "ok" if database_ok else "unreachable",
        "version": y90dose.__version__,
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)
