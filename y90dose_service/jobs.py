"""Dose jobs: run voxel dosimetry on a study in worker processes, state in the database.

The pieces:

- :class:`JobExecutor` is the small interface an engine implements (``submit`` a
  :class:`JobSpec`, ``shutdown``); :class:`ProcessPoolJobExecutor` is the default, a
  ``concurrent.futures`` process pool. A distributed engine replaces it by implementing
  the same two methods and running :func:`execute_job` on its workers.
- :func:`execute_job` runs in the worker: it claims the job in the database, calls the
  runner (``settings.dose_job_runner``, ``"module:function"``) and stores the outcome:
  ``succeeded`` with its files, or ``failed`` with the error's message.
- :class:`JobManager` submits jobs and, at start, recovers the ones a previous run left:
  ``queued`` jobs are submitted again; ``running`` jobs are re-queued until they have
  been started ``job_max_attempts`` times, then marked ``failed``. None is lost.

Each submission carries a fresh ``run_token``; a worker only writes while the job still
holds its token, so a worker orphaned by a crash cannot overwrite a re-run's state.

A runner is ``runner(study_dir, params, output_dir, progress) -> dict`` where
``progress(fraction, stage)`` reports 0..1 and the returned dict (JSON-able) becomes the
job's ``result``; every file it writes in ``output_dir`` becomes downloadable.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from y90dose.errors import Y90DoseError
from y90dose.limits import (
    DEFAULT_MAX_EMISSION_VOXELS,
    DEFAULT_MAX_VOXELS,
    emission_voxel_limit,
    voxel_limit,
)
from y90dose_service.models import DoseJob, utcnow
from y90dose_service.settings import ServiceSettings

logger = logging.getLogger("y90dose.service.jobs")

PROGRESS_MIN_INTERVAL_S = 0.5
"""Progress is written at most this often (a database write per report)."""

MESSAGE_MAX_CHARS = 4000

ENGINE_RESUBMIT_MAX = 3
"""Times a job the engine lost before it started is submitted again."""


class JobStatus(StrEnum):
    """Life cycle: queued -> running -> succeeded | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ProgressFn = Callable[[float, str], None]
Runner = Callable[[Path, dict[str, Any], Path, ProgressFn], dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run one job (picklable)."""

    job_id: str
    run_token: str
    database_url: str
    data_dir: str
    runner: str
    image_max_voxels: int = DEFAULT_MAX_VOXELS
    """Largest image the runner reads (``settings.image_max_voxels``, checked from headers)."""
    emission_max_voxels: int = DEFAULT_MAX_EMISSION_VOXELS
    """Largest emission image the runner reads (``settings.emission_max_voxels``)."""


class JobExecutor(Protocol):
    """What a job engine offers: run :func:`execute_job` on a spec, somewhere."""

    def submit(self, spec: JobSpec, on_error: Callable[[JobSpec, BaseException], None]) -> None:
        """Start ``spec`` eventually; call ``on_error`` if the engine itself fails it."""

    def shutdown(self) -> None:
        """Stop taking work; running jobs may be abandoned (they are recovered at start)."""


def exit_with_parent() -> None:
    """Pool worker initializer: end this worker as soon as the service process is gone.

    A pool worker whose service was killed outright (SIGKILL, out of memory) would
    otherwise live on: idle forever, or still computing a job that the next start
    re-runs into the same output folder.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - only called in pool workers
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ProcessPoolJobExecutor:
    """Jobs in a local process pool (``spawn`` start method: no forked threads or locks)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._lock = threading.Lock()
        self._closing = False
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
        )

    def submit(self, spec: JobSpec, on_error: Callable[[JobSpec, BaseException], None]) -> None:
        """Queue ``spec`` in the pool; a dead pool is replaced and the job reported."""
        with self._lock:
            pool = self._pool
            try:
                future = pool.submit(execute_job, spec)
            except BrokenProcessPool as exc:
                self._replace(pool)
                error: BaseException | None = exc
            else:
                error = None
        if error is not None:
            on_error(spec, error)
            return

        def done(fut: Future[None]) -> None:
            exc = fut.exception() if not fut.cancelled() else None
            if exc is None or self._closing:  # stopped on purpose: recovered at next start
                return
            if isinstance(exc, BrokenProcessPool):
                with self._lock:
                    self._replace(pool)
            on_error(spec, exc)

        future.add_done_callback(done)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A fresh pool instead of ``broken``, once (every job of a broken pool reports it).

        Call with the lock held.
        """
        if self._pool is broken and not self._closing:
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()

    def shutdown(self) -> None:
        """Stop the pool now: queued futures are cancelled and running workers terminated.

        The jobs they were running stay ``running`` in the database and are re-queued by
        the next start (:meth:`JobManager.recover`); nothing keeps computing unseen after
        the service stops.
        """
        self._closing = True
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)


ExecutorFactory = Callable[[ServiceSettings], JobExecutor]


def default_executor(settings: ServiceSettings) -> JobExecutor:
    """The engine ``settings.job_executor`` names: the process pool of
    ``settings.job_workers`` workers, or Dask (:mod:`y90dose_service.dask_executor`)."""
    if settings.job_executor == "dask":
        from y90dose_service.dask_executor import DaskJobExecutor

        return DaskJobExecutor(settings.dask_scheduler, settings.job_workers)
    return ProcessPoolJobExecutor(settings.job_workers)


LOCK_NAME = "service.lock"
"""File in the data directory that the running service holds locked."""


class ServiceRunningError(Y90DoseError):
    """Another service already runs on this data directory."""


def lock_data_dir(data_dir: Path) -> IO[str] | None:
    """Hold ``data_dir/service.lock`` locked, or raise ServiceRunningError if another
    process holds it. No lock where ``fcntl`` is missing (Windows)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ServiceRunningError(
            f"another y90dose service (pid {holder}) runs on the data directory "
            f"{data_dir.resolve()}; stop it first (its running dose jobs would be taken)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class JobManager:
    """Submits dose jobs and recovers unfinished ones at start."""

    def __init__(
        self,
        settings: ServiceSettings,
        sessions: sessionmaker[Session],
        executor_factory: ExecutorFactory = default_executor,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self._factory = executor_factory
        self._executor: JobExecutor | None = None
        self._resubmits: dict[str, int] = {}
        self._lock: IO[str] | None = None

    def start(self) -> None:
        """Start the executor and recover what a previous run left unfinished.

        Raises
        ------
        ServiceRunningError
            Another service runs on the same data directory: recovering its running
            jobs would take them from it.
        """
        if self._lock is None:  # this manager may already hold it (an app started twice)
            self._lock = lock_data_dir(self.settings.data_dir)
        self._executor = self._factory(self.settings)
        for spec in self.recover():
            self._submit(spec)

    def shutdown(self) -> None:
        """Stop the executor (unfinished jobs are recovered at the next start)."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def recover(self) -> list[JobSpec]:
        """Re-queue interrupted jobs (or fail them after too many starts); specs to submit."""
        specs = []
        with self.sessions() as session:
            jobs = session.scalars(
                select(DoseJob)
                .where(DoseJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
                .order_by(DoseJob.created_at)
            ).all()
            for job in jobs:
                if (
                    job.status == JobStatus.RUNNING
                    and job.attempts >= self.settings.job_max_attempts
                ):
                    job.status = JobStatus.FAILED.value
                    job.finished_at = utcnow()
                    job.run_token = None
                    job.message = (
                        f"interrupted by a service stop after {job.attempts} start(s); "
                        f"not retried (job_max_attempts={self.settings.job_max_attempts})"
                    )
                    logger.warning("dose job %s failed: interrupted too often", job.id)
                    continue
                if job.status == JobStatus.RUNNING:
                    logger.warning("dose job %s was interrupted; re-queued", job.id)
                job.status = JobStatus.QUEUED.value
                job.progress = 0.0
                job.stage = "re-queued after a service restart"
                job.run_token = str(uuid.uuid4())
                specs.append(self.spec(job.id, job.run_token))
            session.commit()
        return specs

    def spec(self, job_id: str, run_token: str) -> JobSpec:
        """The spec of one job run."""
        return JobSpec(
            job_id=job_id,
            run_token=run_token,
            database_url=self.settings.resolved_database_url(),
            data_dir=str(self.settings.data_dir.resolve()),
            runner=self.settings.dose_job_runner,
            image_max_voxels=self.settings.image_max_voxels,
            emission_max_voxels=self.settings.emission_max_voxels,
        )

    def submit(self, job_id: str, run_token: str) -> None:
        """Run a job already stored as ``queued`` with ``run_token``."""
        self._submit(self.spec(job_id, run_token))

    def _submit(self, spec: JobSpec) -> None:
        if self._executor is None:  # not started: the job stays queued for the next start
            logger.warning("dose job %s queued while no executor runs", spec.job_id)
            return
        self._executor.submit(spec, self._engine_failed)

    def _engine_failed(self, spec: JobSpec, exc: BaseException) -> None:
        """The engine lost a job: fail it if it had started, else queue it again.

        A worker that dies (killed, out of memory) breaks a process pool, and every job
        waiting in that pool is reported too; those never started, so they are
        re-submitted (up to ``ENGINE_RESUBMIT_MAX`` times) instead of failed.
        """
        logger.error("dose job %s: executor failure %s", spec.job_id, type(exc).__name__)
        with self.sessions() as session:
            job = session.get(DoseJob, spec.job_id)
            retries = self._resubmits.get(spec.job_id, 0)
            if (
                job is not None
                and job.status == JobStatus.QUEUED.value
                and job.run_token == spec.run_token
                and retries < ENGINE_RESUBMIT_MAX
            ):
                self._resubmits[spec.job_id] = retries + 1
                job.run_token = str(uuid.uuid4())
                session.commit()
                self._submit(self.spec(job.id, job.run_token))
                return
            died = isinstance(exc, BrokenProcessPool)
            _finish(
                session,
                spec,
                JobStatus.FAILED,
                message=(
                    "the worker process running this job died (killed, or out of memory?)"
                    if died
                    else f"the worker running this job failed: {type(exc).__name__}: {exc}"
                ),
            )


# --- worker side -------------------------------------------------------------------------

_ENGINES: dict[str, Engine] = {}


def _worker_sessions(database_url: str) -> sessionmaker[Session]:
    from y90dose_service.db import make_engine, make_sessionmaker

    engine = _ENGINES.get(database_url)
    if engine is None:
        engine = _ENGINES[database_url] = make_engine(database_url)
    return make_sessionmaker(engine)


def _finish(
    session: Session,
    spec: JobSpec,
    status: JobStatus,
    *,
    message: str | None = None,
    result: dict[str, Any] | None = None,
    files: list[dict[str, Any]] | None = None,
) -> bool:
    values: dict[str, Any] = {
        "status": status.value,
        "finished_at": utcnow(),
        "message": message[:MESSAGE_MAX_CHARS] if message else None,
    }
    if status is JobStatus.SUCCEEDED:
        values.update(progress=1.0, stage="done", result=result, files=files or [])
    outcome = session.execute(
        update(DoseJob)
        .where(DoseJob.id == spec.job_id, DoseJob.run_token == spec.run_token)
        .where(DoseJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
        .values(**values)
    )
    session.commit()
    return bool(outcome.rowcount)  # type: ignore[attr-defined]


def load_runner(reference: str) -> Runner:
    """Import ``"package.module:function"``."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"dose_job_runner {reference!r} is not 'module:function'")
    runner: Runner = getattr(importlib.import_module(module_name), attribute)
    return runner


def describe_failure(exc: BaseException) -> str:
    """The message stored for a failed job: domain errors as they are, others with type."""
    from y90dose.errors import Y90DoseError

    if isinstance(exc, Y90DoseError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def hide_paths(text: str, places: dict[str, Path]) -> str:
    """``text`` with each server path of ``places`` (as given and resolved) replaced by its
    label, longest first: callers see ``<study>``, not where the data directory lives."""
    pairs = {str(path): label for label, path in places.items()}
    pairs.update({str(path.resolve()): label for label, path in places.items()})
    for shown in sorted(pairs, key=len, reverse=True):
        text = text.replace(shown, pairs[shown])
    return text


def job_output_dir(data_dir: Path, job_id: str) -> Path:
    """Where a job's files go."""
    return data_dir / "jobs" / job_id


def study_dir(data_dir: Path, study_id: str) -> Path:
    """Where a study's unpacked files are."""
    return data_dir / "studies" / study_id / "files"


def execute_job(spec: JobSpec) -> None:
    """Run one job to its end in this (worker) process and store the outcome."""
    sessions = _worker_sessions(spec.database_url)
    with sessions() as session:
        claimed = session.execute(
            update(DoseJob)
            .where(DoseJob.id == spec.job_id, DoseJob.run_token == spec.run_token)
            .where(DoseJob.status == JobStatus.QUEUED.value)
            .values(
                status=JobStatus.RUNNING.value,
                attempts=DoseJob.attempts + 1,
                started_at=utcnow(),
                progress=0.0,
                stage="starting",
            )
        )
        session.commit()
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return  # superseded by a newer submission, or already finished
        job = session.get(DoseJob, spec.job_id)
        assert job is not None
        params = dict(job.params)
        study_id = job.study_id

    data_dir = Path(spec.data_dir)
    output_dir = job_output_dir(data_dir, spec.job_id)
    if output_dir.exists():  # files of an interrupted earlier attempt
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    last_write = [0.0]

    def progress(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last_write[0] < PROGRESS_MIN_INTERVAL_S:
            return
        last_write[0] = now
        with sessions() as s:
            s.execute(
                update(DoseJob)
                .where(DoseJob.id == spec.job_id, DoseJob.run_token == spec.run_token)
                .where(DoseJob.status == JobStatus.RUNNING.value)
                .values(progress=min(max(float(fraction), 0.0), 1.0), stage=str(stage)[:200])
            )
            s.commit()

    try:
        runner = load_runner(spec.runner)
        # every image reader checks its header; the emission reader also the lower limit
        with voxel_limit(spec.image_max_voxels), emission_voxel_limit(spec.emission_max_voxels):
            result = runner(study_dir(data_dir, study_id), params, output_dir, progress)
    except Exception as exc:
        logger.info("dose job %s failed: %s", spec.job_id, type(exc).__name__)
        logger.debug("%s", traceback.format_exc())
        message = hide_paths(
            describe_failure(exc),
            {
                "<study>": study_dir(data_dir, study_id),
                "<output>": output_dir,
                "<data_dir>": data_dir,
            },
        )
        with sessions() as session:
            _finish(session, spec, JobStatus.FAILED, message=message)
        return
    files = [
        {"name": path.relative_to(output_dir).as_posix(), "size_bytes": path.stat().st_size}
        for path in sorted(output_dir.rglob("*"))
        if path.is_file()
    ]
    with sessions() as session:
        _finish(session, spec, JobStatus.SUCCEEDED, result=result or {}, files=files)
