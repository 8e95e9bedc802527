"""``/v1/dose-jobs/{id}/comparison``: a delivered job's dose against a planned one's.

The library's :func:`y90dose.pipeline.compare.compare_runs` on the two jobs' output
folders (``y90dose compare`` on the same folders gives the same numbers). Both jobs
must have succeeded. When the two jobs' studies are in different frames of reference,
their CTs (found in each study's folder, as the jobs found them) are registered
automatically; the answer reports the registration's quality, and a failed registration
is refused (422; the service takes no transform file).

**Computed once per pair.** A finished job's files never change, so the answer (or the
refusal) is kept on disk (``<data_dir>/comparisons/``) and read back on later requests.

**Bounded.** A registration of two 512 x 512 x 200 CTs takes about 30 s:

- the computation runs in a background thread of its own, one comparison at a time in a
  process (:data:`MAX_PAIRS_PENDING` pairs at most computing or waiting; more get 503
  ``service-busy``), never on the event loop;
- requests for a pair being computed share its computation;
- a request waits at most :data:`WAIT_SECONDS` for it, then gets 503
  ``comparison-in-progress`` with ``Retry-After``: the computation goes on, and a later
  request gets the answer from disk.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query

from y90dose_service.deps import SessionDep, SettingsDep, ViewerDep
from y90dose_service.jobs import JobStatus, hide_paths, job_output_dir, study_dir
from y90dose_service.models import DoseJob
from y90dose_service.problems import InvalidInputError, ProblemError, field_error, not_found
from y90dose_service.schemas.dose_comparisons import DoseComparisonPublic
from y90dose_service.security import Caller
from y90dose_service.settings import ServiceSettings

router = APIRouter(prefix="/dose-jobs", tags=["dose jobs"])

WAIT_SECONDS = 20.0
"""Longest a request waits for a comparison being computed (same-frame comparisons and
registrations of SPECT/CT-sized CTs end sooner; a 512 x 512 x 200 pair takes about 30 s)."""

RETRY_AFTER_SECONDS = 10
"""``Retry-After`` of a 503 answered while a comparison is being computed."""

MAX_PAIRS_PENDING = 4
"""Comparisons being computed or waiting to be, per process; a fifth pair gets 503."""

REFUSED_SUFFIX = ".refused.json"
"""A pair the library refused (e.g. a failed registration) is kept as such: not recomputed."""


def comparison_file(data_dir: Path, delivered_job_id: str, planned_job_id: str) -> Path:
    """Where the comparison of two jobs is kept."""
    return data_dir / "comparisons" / f"{delivered_job_id}--{planned_job_id}.json"


def refusal_file(target: Path) -> Path:
    """Where the refusal of a pair is kept, beside its comparison's place."""
    return target.with_name(target.stem + REFUSED_SUFFIX)


@dataclass
class _Pending:
    """A comparison being computed: done when ``finished`` is set, ``error`` if it failed."""

    finished: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


_LOCK = threading.Lock()
_PENDING: dict[Path, _Pending] = {}
_ONE_AT_A_TIME = threading.Semaphore(1)
"""One comparison computed at a time in this process (two CTs and two dose maps in memory)."""


@router.get(
    "/{job_id}/comparison",
    response_model=DoseComparisonPublic,
    summary="Planned vs delivered: this job's dose against a planned (predictive) job's",
    responses={503: {"description": "the comparison is being computed: retry after a while"}},
)
def get_comparison(
    job_id: str,
    planned_job_id: Annotated[
        str, Query(description="id of the planned (predictive, MAA) dose job")
    ],
    session: SessionDep,
    settings: SettingsDep,
    caller: ViewerDep,
) -> DoseComparisonPublic:
    """Per-VOI mean dose and D70, planned and delivered, and their differences; when the
    jobs' studies are in different frames of reference, the automatic registration of
    their CTs and its quality (``automatic_registration``)."""
    return compare_jobs(job_id, planned_job_id, session, settings, caller)


def compare_jobs(
    job_id: str,
    planned_job_id: str,
    session: SessionDep,
    settings: ServiceSettings,
    _caller: Caller,
) -> DoseComparisonPublic:
    """The comparison (computed once per pair, then read from disk).

    Raises
    ------
    ProblemError
        404 for an unknown delivered job, 409 while either job has not succeeded, 422
        when the runs cannot be compared (the library's reason, e.g. a failed
        registration), 503 while it is being computed (``Retry-After``) or when too many
        comparisons are.
    InvalidInputError
        ``planned_job_id`` unknown or the job itself.
    """
    delivered = session.get(DoseJob, job_id)
    if delivered is None:
        raise not_found("dose job", job_id)
    planned = session.get(DoseJob, planned_job_id) if planned_job_id != job_id else None
    if planned is None:
        raise InvalidInputError(
            [
                field_error(
                    "planned_job_id",
                    planned_job_id,
                    "the id of another dose job (the planned, predictive run)",
                    "query",
                )
            ]
        )
    for row in (delivered, planned):
        if row.status != JobStatus.SUCCEEDED.value:
            raise ProblemError(409, "job-not-finished", f"dose job {row.id} is {row.status}")
    target = comparison_file(settings.data_dir, job_id, planned_job_id)
    pair = _Pair(delivered.id, delivered.study_id, planned.id, planned.study_id)
    kept = _kept(target)
    if kept is None:
        pending = _start(target, lambda: _compute(settings, pair, target))
        if not pending.finished.wait(WAIT_SECONDS):
            raise ProblemError(
                503,
                "comparison-in-progress",
                f"the comparison of dose jobs {planned.id} (planned) and {delivered.id} "
                "(delivered) is being computed (registering their CTs takes up to a minute); "
                "ask again in a few seconds",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if pending.error is not None:
            raise pending.error
        kept = _kept(target)
        if kept is None:  # pragma: no cover - the computation writes one of the two files
            raise RuntimeError(f"comparison {target.name} was computed but not kept")
    return kept


def _kept(target: Path) -> DoseComparisonPublic | None:
    """The kept comparison; raises the kept refusal; None when neither is kept."""
    if target.is_file():
        return DoseComparisonPublic.model_validate_json(target.read_text(encoding="utf-8"))
    refused = refusal_file(target)
    if refused.is_file():
        problem = json.loads(refused.read_text(encoding="utf-8"))
        raise ProblemError(int(problem["status"]), str(problem["kind"]), str(problem["detail"]))
    return None


def _start(target: Path, compute: Callable[[], None]) -> _Pending:
    """The pending computation of ``target``: joined if running, else started."""
    with _LOCK:
        pending = _PENDING.get(target)
        if pending is not None:
            return pending
        if len(_PENDING) >= MAX_PAIRS_PENDING:
            raise ProblemError(
                503,
                "service-busy",
                f"{len(_PENDING)} comparisons are being computed; ask again later",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        pending = _PENDING[target] = _Pending()
    thread = threading.Thread(
        target=_run, args=(target, pending, compute), name="y90dose-comparison", daemon=True
    )
    thread.start()
    return pending


def _run(target: Path, pending: _Pending, compute: Callable[[], None]) -> None:
    """Compute (one at a time) unless another request's computation kept it meanwhile."""
    try:
        with _ONE_AT_A_TIME:
            if not (target.is_file() or refusal_file(target).is_file()):
                compute()
    except BaseException as exc:  # handed to every request waiting for this pair
        pending.error = exc
    finally:
        with _LOCK:
            _PENDING.pop(target, None)
        pending.finished.set()


@dataclass(frozen=True)
class _Pair:
    delivered_id: str
    delivered_study_id: str
    planned_id: str
    planned_study_id: str


def _study_ct(settings: ServiceSettings, study_id: str) -> Path | None:
    """The CT a job of this study used: the one :func:`find_study_inputs` finds."""
    from y90dose.errors import Y90DoseError
    from y90dose.pipeline import find_study_inputs

    try:
        return find_study_inputs(study_dir(settings.data_dir, study_id)).ct
    except Y90DoseError:  # the run itself recorded what it used; the library says what is wrong
        return None


def _compute(settings: ServiceSettings, pair: _Pair, target: Path) -> None:
    from y90dose.errors import ImageError, Y90DoseError
    from y90dose.pipeline.compare import compare_runs

    planned_dir = job_output_dir(settings.data_dir, pair.planned_id)
    delivered_dir = job_output_dir(settings.data_dir, pair.delivered_id)
    places = {
        "<planned job>": planned_dir,
        "<delivered job>": delivered_dir,
        "<planned study>": study_dir(settings.data_dir, pair.planned_study_id),
        "<delivered study>": study_dir(settings.data_dir, pair.delivered_study_id),
        "<data_dir>": settings.data_dir,
    }
    planned_ct, delivered_ct = _cts(settings, pair, planned_dir, delivered_dir)
    try:
        result = compare_runs(
            planned_dir,
            delivered_dir,
            planned_ct_path=planned_ct,
            delivered_ct_path=delivered_ct,
        )
    except Y90DoseError as exc:
        detail = str(exc)
        if isinstance(exc, ImageError) and exc.field == "transform":
            detail += (
                " (the service takes no transform file: download the two runs and use "
                "`y90dose compare --transform FILE` on them)"
            )
        shown = hide_paths(detail, places)
        problem = {"status": 422, "kind": "not-comparable", "detail": shown}
        _write_atomically(refusal_file(target), problem)
        raise ProblemError(422, "not-comparable", shown) from None
    report = result.automatic_registration
    if report is not None:
        report = report.model_copy(
            update={
                "fixed_ct": hide_paths(report.fixed_ct, places),
                "moving_ct": hide_paths(report.moving_ct, places),
                "convention": hide_paths(report.convention, places),
            }
        )
    public = DoseComparisonPublic(
        delivered_job_id=pair.delivered_id,
        planned_job_id=pair.planned_id,
        registration=hide_paths(result.registration, places),
        planned_method=result.planned_method,
        delivered_method=result.delivered_method,
        vois=result.vois,
        warnings=[hide_paths(w, places) for w in result.warnings],
        automatic_registration=report,
    )
    _write_atomically(target, public.model_dump(mode="json"))


def _cts(
    settings: ServiceSettings, pair: _Pair, planned_dir: Path, delivered_dir: Path
) -> tuple[Path | None, Path | None]:
    """The studies' CTs (planned, delivered), only when the runs' frames of reference
    differ: the library refuses a CT it would not use."""
    frames = []
    for folder in (planned_dir, delivered_dir):
        try:
            summary = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            frames.append((summary.get("dose_grid") or {}).get("frame_of_reference_uid"))
        except (OSError, ValueError):
            return None, None  # the library reports the unreadable run
    if not (frames[0] and frames[1] and frames[0] != frames[1]):
        return None, None
    return (
        _study_ct(settings, pair.planned_study_id),
        _study_ct(settings, pair.delivered_study_id),
    )


def _write_atomically(target: Path, data: object) -> None:
    """``data`` as JSON at ``target``, whole or not at all (another process may read it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(staging, target)
    finally:
        Path(staging).unlink(missing_ok=True)
