"""The app factory: :func:`create_app` builds the FastAPI app for given settings.

Start-up makes the data directory owner-only, connects to the database and applies the
migrations (a fresh data directory needs no set-up), then starts the dose-job executor
and re-queues or fails the jobs a previous run left unfinished, and the DICOM side
(:mod:`y90dose_service.dicom`: Storage SCP, sends and imports). Requests are served
within the concurrency limits of :mod:`y90dose_service.capacity`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

import y90dose
from y90dose_service import problems
from y90dose_service.capacity import CapacityLimitMiddleware, busy_error, size_thread_pool
from y90dose_service.db import (
    is_sqlite,
    make_engine,
    make_sessionmaker,
    make_write_sessionmaker,
    open_database,
)
from y90dose_service.deps import RefuseNulMiddleware
from y90dose_service.inserts import RowInserter
from y90dose_service.openapi import add_documented_models
from y90dose_service.settings import ServiceSettings
from y90dose_service.uploads import UploadLimitMiddleware

logger = logging.getLogger("y90dose.service")

DESCRIPTION = """\
Y-90 radioembolization planning service over the y90dose core.

Every endpoint but `/healthz` needs an API key, sent as `Authorization: Bearer <key>` or
`X-API-Key: <key>`; create one with `y90dose keys create --name NAME --role ROLE`.
Every quantity carries its unit in its name (`activity_gbq`, `dose_gy`, `volume_ml`).
Errors are RFC 7807 `application/problem+json` naming the field, the value and what is
allowed.
"""


HEALTH_THREADS = 2
"""Threads of their own for ``/healthz`` database pings (never queued behind the work)."""


def make_health_engine(settings: ServiceSettings) -> Engine:
    """A one-connection engine for ``/healthz``, apart from the pool the requests share."""
    return make_engine(
        settings.resolved_database_url(), max_connections=HEALTH_THREADS, pool_timeout_s=1.0
    )


async def _on_pool_timeout(request: Request, _exc: Exception) -> JSONResponse:
    """No database connection came free in time: 503 with Retry-After, not a 500."""
    settings: ServiceSettings = request.app.state.settings
    error = busy_error(
        f"no database connection came free within {settings.queue_timeout_seconds:g} s",
        settings.retry_after_seconds,
    )
    return problems.problem_response(error.status, error.kind, str(error), headers=error.headers)


SECURITY_SCHEMES = {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "API key as a bearer token"},
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "API key",
    },
}


def add_security(openapi: dict[str, Any]) -> dict[str, Any]:
    """Name the two ways to send the key, on every ``/v1`` operation (the caller dependency
    reads the headers itself, so FastAPI does not add them)."""
    openapi.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in openapi.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    return openapi


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: from ``Y90DOSE_*`` environment variables).

    The database is migrated here, so the returned app is ready to serve; the dose-job
    executor starts with the app's lifespan (``with TestClient(app)`` or uvicorn).

    Examples
    --------
    >>> from y90dose_service.main import create_app  # doctest: +SKIP
    >>> app = create_app(ServiceSettings(data_dir="/tmp/y90"))  # doctest: +SKIP
    """
    from y90dose_service.dicom.networking import DicomNetworking
    from y90dose_service.jobs import JobManager
    from y90dose_service.routers import (
        audit,
        calculations,
        dicom,
        dose_comparisons,
        dose_job_reports,
        dose_jobs,
        health,
        plan_reports,
        plans,
        studies,
    )
    from y90dose_service.web import mount_web
    from y90dose_service.web.dose_pages import WEB_UPLOAD_PATH, upload_refusal

    settings = settings or ServiceSettings()
    engine = open_database(settings)
    health_engine = make_health_engine(settings)
    factory = make_sessionmaker(engine)
    jobs = JobManager(settings, factory)
    dicom_networking = DicomNetworking(settings, make_write_sessionmaker(engine), jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Loop-bound helpers are made here, on the loop that serves the requests.
        size_thread_pool(settings.max_concurrent_requests)
        app.state.write_turn = asyncio.Lock() if is_sqlite(engine) else None
        app.state.health_limiter = anyio.CapacityLimiter(HEALTH_THREADS)
        app.state.row_inserter.start()
        jobs.start()
        try:
            dicom_networking.start()  # the Storage SCP (Y90DOSE_DICOM_PORT), sends and imports
            yield
        finally:
            dicom_networking.stop()
            jobs.shutdown()
            await app.state.row_inserter.aclose()
            engine.dispose()
            health_engine.dispose()

    app = FastAPI(
        title="y90dose planning service",
        version=y90dose.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clinical_settings = settings.clinical_settings()
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.write_sessionmaker = make_write_sessionmaker(engine)
    app.state.row_inserter = RowInserter(engine)
    app.state.write_turn = None  # set by the lifespan
    app.state.health_engine = health_engine
    app.state.key_cache = {}
    app.state.unknown_key_cache = {}
    app.state.jobs = jobs
    app.state.dicom = dicom_networking
    problems.install(app)
    app.add_exception_handler(PoolTimeoutError, _on_pool_timeout)
    app.add_middleware(RefuseNulMiddleware)
    app.add_middleware(
        UploadLimitMiddleware,
        max_upload_bytes=settings.upload_max_bytes,
        max_body_bytes=settings.request_max_bytes,
        max_concurrent_uploads=settings.upload_max_concurrent,
        body_idle_timeout_s=settings.upload_idle_timeout_seconds,
        upload_paths=("/v1/studies", WEB_UPLOAD_PATH),
        refusals={WEB_UPLOAD_PATH: upload_refusal},  # the web page's session, not a key
    )
    app.add_middleware(  # outermost: a request waits for its place before anything else
        CapacityLimitMiddleware,
        max_concurrent=settings.max_concurrent_requests,
        max_queued=settings.max_queued_requests,
        queue_timeout_s=settings.queue_timeout_seconds,
        retry_after_s=settings.retry_after_seconds,
    )

    # The busiest routes first: FastAPI tries the included routers in order.
    for router in (
        calculations,
        plans,
        plan_reports,
        studies,
        dose_jobs,
        dose_job_reports,
        dose_comparisons,
        dicom,
        audit,
    ):
        app.include_router(router.router, prefix="/v1")
    app.include_router(health.router)
    mount_web(app)  # the web pages at /, over the same routes' functions

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = add_security(add_documented_models(schema))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
