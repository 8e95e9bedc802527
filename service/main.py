"""The app factory: :func:`create_app` builds the FastAPI app for given settings.

Start-up connects to the database and applies the migrations (a fresh data directory
needs no set-up), then starts the dose-job executor and re-queues or fails the jobs a
previous run left unfinished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi

import y90dose
from service import problems
from service.db import is_sqlite, make_sessionmaker, make_write_sessionmaker, open_database
from service.deps import refuse_nul
from service.openapi import add_documented_models
from service.settings import ServiceSettings
from service.uploads import UploadLimitMiddleware

logger = logging.getLogger("y90dose.service")

DESCRIPTION = """\
Y-90 radioembolization planning service over the y90dose core.

Every endpoint but `/healthz` needs an API key, sent as `Authorization: Bearer <key>` or
`X-API-Key: <key>`; create one with `y90dose keys create --name NAME --role ROLE`.
Every quantity carries its unit in its name (`activity_gbq`, `dose_gy`, `volume_ml`).
Errors are RFC 7807 `application/problem+json` naming the field, the value and what is
allowed.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: from ``Y90DOSE_*`` environment variables).

    The database is migrated here, so the returned app is ready to serve; the dose-job
    executor starts with the app's lifespan (``with TestClient(app)`` or uvicorn).

    Examples
    --------
    >>> from service.main import create_app  # doctest: +SKIP
    >>> app = create_app(ServiceSettings(data_dir="/tmp/y90"))  # doctest: +SKIP
    """
    from service.jobs import JobManager
    from service.routers import audit, calculations, dose_jobs, health, plans, studies

    settings = settings or ServiceSettings()
    engine = open_database(settings)
    factory = make_sessionmaker(engine)
    jobs = JobManager(settings, factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        try:
            yield
        finally:
            jobs.shutdown()
            engine.dispose()

    app = FastAPI(
        title="y90dose planning service",
        version=y90dose.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.write_sessionmaker = make_write_sessionmaker(engine)
    app.state.write_lock = threading.Lock() if is_sqlite(engine) else None
    app.state.key_cache = {}
    app.state.jobs = jobs
    problems.install(app)
    app.add_middleware(
        UploadLimitMiddleware,
        max_upload_bytes=settings.upload_max_bytes,
        max_body_bytes=settings.request_max_bytes,
        max_concurrent_uploads=settings.upload_max_concurrent,
    )

    app.include_router(health.router)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(refuse_nul)])
    v1.include_router(calculations.router)
    v1.include_router(plans.router)
    v1.include_router(studies.router)
    v1.include_router(dose_jobs.router)
    v1.include_router(audit.router)
    app.include_router(v1)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = add_documented_models(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
