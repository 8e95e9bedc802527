"""Dose jobs on Dask (``Y90DOSE_JOB_EXECUTOR=dask``): a scheduler's workers or a local cluster.

The same :func:`~y90dose_service.jobs.execute_job` runs on a Dask worker as in the process
pool: it claims the job in the database, runs it and stores the outcome, so the workers
must reach the service's database (PostgreSQL for a real cluster: an SQLite file is for
one machine) and its data directory (a shared file system). A job whose worker dies is
re-run by Dask on another worker (``distributed.scheduler.allowed-failures``); a job the
engine gives up on is reported to the job manager, which marks it failed. Jobs left
running when the service stops are recovered at its next start, as with the pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from y90dose_service.jobs import JobSpec, execute_job

logger = logging.getLogger("y90dose.service.jobs")

CONNECT_TIMEOUT_S = 20


class DaskJobExecutor:
    """Jobs on ``dask.distributed``: the scheduler at ``scheduler``, or a local cluster."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "job_executor 'dask' needs Dask: pip install 'y90dose[batch]'"
            ) from exc
        self._lock = threading.Lock()
        self._closing = False
        self._futures: set[Any] = set()
        self._cluster = None
        if scheduler:
            self._client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        else:
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)
        logger.info(
            "dose jobs run on Dask (%s)", scheduler or f"a local cluster of {workers} workers"
        )

    def submit(self, spec: JobSpec, on_error: Callable[[JobSpec, BaseException], None]) -> None:
        """Run ``execute_job(spec)`` on a worker; report an engine failure to ``on_error``."""
        future = self._client.submit(
            execute_job, spec, key=f"y90dose-job-{spec.job_id}-{spec.run_token}", pure=False
        )
        with self._lock:
            self._futures.add(future)

        def done(fut: Any) -> None:
            with self._lock:
                self._futures.discard(fut)
            if self._closing or fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                on_error(spec, exc)

        future.add_done_callback(done)

    def shutdown(self) -> None:
        """Cancel what has not run and close the client (and the local cluster)."""
        self._closing = True
        with self._lock:
            pending = list(self._futures)
        try:
            if pending:
                self._client.cancel(pending)
            self._client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
