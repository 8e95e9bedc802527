"""Run a manifest's studies on Dask (``dask.distributed``): a local cluster or a real one.

:func:`run_batch` submits one task per study (:func:`~y90dose.batch.study_run.run_study`),
collects the outcomes as they finish, and writes ``failures.csv`` and the summary at the
end. Without a scheduler address it starts a local cluster of worker processes (one
thread each: the dose engines use every core of a process through the FFT); with one it
connects to that scheduler, whose workers must read the manifest's paths and write the
output folder (a shared file system: docs/batch.md).

Dask re-runs the tasks of a worker that dies (up to ``distributed.scheduler.allowed-failures``
times, 3 by default); a study whose workers keep dying is a failure of its own. A study
runs into a fresh folder that is renamed into place only when finished, so a task run
twice ends as one folder and one set of summary rows.

One batch at a time writes into an output folder (a lock file, ``.batch.lock``).
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from y90dose.batch.manifest import Manifest
from y90dose.batch.study_run import Limits, StudyOutcome, clear_partial, run_study
from y90dose.batch.summary import write_failures, write_summary
from y90dose.errors import InputError

if TYPE_CHECKING:
    from distributed import Client

LOCK_FILE = ".batch.lock"
CONNECT_TIMEOUT_S = 20
"""How long to wait for a scheduler given by address before refusing it."""


@dataclass
class BatchProgress:
    """Where a batch stands: ``done`` (computed or skipped before), ``failed``, ``remaining``."""

    total: int
    computed: int = 0
    skipped: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.computed + self.skipped

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed

    def eta_s(self) -> float | None:
        """Seconds left at the rate of the studies computed so far (``None`` before one)."""
        finished = self.computed + self.failed
        if not finished or not self.remaining:
            return None if self.remaining else 0.0
        return (time.monotonic() - self.started) / finished * self.remaining


ProgressFn = Callable[[BatchProgress], None]


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: counts, its tables and the studies that failed."""

    out_dir: str
    total: int
    computed: int
    skipped: int
    failed: int
    files: dict[str, str]
    failures: list[dict[str, Any]]
    workers: int
    scheduler: str
    dashboard: str | None
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@contextmanager
def _locked(out_dir: Path) -> Iterator[IO[str]]:
    handle = (out_dir / LOCK_FILE).open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(
            "out", str(out_dir), "a folder no other running batch writes into"
        ) from None
    try:
        yield handle
    finally:
        handle.close()


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise InputError(
                "scheduler", scheduler, f"a reachable Dask scheduler (tcp://HOST:8786): {exc}"
            ) from None
        with client:
            yield client
        return
    dashboard = "127.0.0.1:0" if importlib.util.find_spec("bokeh") is not None else None
    with (
        LocalCluster(
            n_workers=workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def default_workers() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def run_batch(
    manifest: Manifest,
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    write_pngs: bool = True,
    limits: Limits | None = None,
    progress: ProgressFn | None = None,
    on_client: Callable[[Client], None] | None = None,
) -> BatchResult:
    """Run every study of ``manifest`` into ``out_dir`` (see the module doc).

    Raises
    ------
    InputError
        (``out``) the output folder is a file or another batch writes into it;
        (``scheduler``) no scheduler answers at the address;
        (``workers``) a worker count with a scheduler address (its workers are its own).
    """
    if scheduler and workers:
        raise InputError(
            "workers", workers, "no worker count with a scheduler address (it has its workers)"
        )
    if workers is not None and not 1 <= workers <= 256:
        raise InputError("workers", workers, "1 to 256")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("out", str(out), "a folder (new, or one a batch wrote before)")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    state = BatchProgress(total=len(manifest.studies) + len(manifest.refused))
    failures: list[dict[str, Any]] = [
        {"id": f.id, "manifest_row": f.row, "stage": "manifest", "error": f.error}
        for f in manifest.refused
    ]
    state.failed = len(failures)
    rows = {s.id: s.row for s in manifest.studies}
    with _locked(out):
        clear_partial(out)
        with dask_client(scheduler, workers) as client:
            if on_client is not None:
                on_client(client)
            n_workers = len(client.scheduler_info().get("workers", {}))
            dashboard = client.dashboard_link if has_dashboard(client) else None
            if progress is not None:
                progress(state)
            for study_id, outcome in _outcomes(client, manifest, out, write_pngs, limits):
                if outcome.status == "computed":
                    state.computed += 1
                elif outcome.status == "skipped":
                    state.skipped += 1
                else:
                    state.failed += 1
                    failures.append(
                        {
                            "id": study_id,
                            "manifest_row": rows[study_id],
                            "stage": "run",
                            "error": outcome.error,
                        }
                    )
                if progress is not None:
                    progress(state)
        clear_partial(out)  # what the runs of workers that died left
        order = {i: n for n, i in enumerate(manifest.ids)}
        failures.sort(key=lambda f: order[f["id"]])
        files = {"failures_csv": write_failures(out, failures)}
        files.update(write_summary(out, manifest.ids))
    return BatchResult(
        out_dir=str(out),
        total=state.total,
        computed=state.computed,
        skipped=state.skipped,
        failed=state.failed,
        files=files,
        failures=failures,
        workers=n_workers,
        scheduler=scheduler or "local cluster",
        dashboard=dashboard,
        elapsed_s=round(time.monotonic() - started, 3),
    )


def has_dashboard(client: Client) -> bool:
    """Whether the scheduler serves the Dask dashboard (``client.dashboard_link``)."""
    services = client.scheduler_info().get("services", {})
    return "dashboard" in services


def _outcomes(
    client: Client,
    manifest: Manifest,
    out: Path,
    write_pngs: bool,
    limits: Limits | None,
) -> Iterator[tuple[str, StudyOutcome]]:
    """Each study's outcome as it finishes (a task that raised, or whose workers kept
    dying, as a failure naming why)."""
    from distributed import as_completed

    futures: dict[Any, str] = {}
    for study in manifest.studies:
        future = client.submit(
            run_study,
            study,
            str(out),
            write_pngs=write_pngs,
            limits=limits,
            key=f"y90dose-study-{study.id}-{os.urandom(4).hex()}",
            pure=False,
        )
        futures[future] = study.id
    try:
        for future in as_completed(list(futures)):
            study_id = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the task raised, or its workers died too often
                name = type(exc).__name__
                reason = (
                    "its worker died each time it ran (out of memory?)"
                    if name == "KilledWorker"
                    else str(exc)
                )
                outcome = StudyOutcome(study_id, "failed", error=f"{name}: {reason}")
            yield study_id, outcome
    finally:
        client.cancel([f for f in futures if not f.done()])
