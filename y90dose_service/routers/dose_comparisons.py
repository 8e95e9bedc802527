"""``/v1/dose-jobs/{id}/comparison``: a delivered job's dose against a planned one's.

The library's :func:`y90dose.pipeline.compare.compare_runs` on the two jobs' output
folders (``y90dose compare`` on the same folders gives the same numbers). Both jobs
must have succeeded. The result is kept on disk (``<data_dir>/comparisons/``), since a
finished job's files never change: the dose maps are read once per pair, not per request.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query

from y90dose_service.deps import SessionDep, SettingsDep, ViewerDep
from y90dose_service.jobs import JobStatus, hide_paths, job_output_dir
from y90dose_service.models import DoseJob
from y90dose_service.problems import InvalidInputError, ProblemError, field_error, not_found
from y90dose_service.schemas.dose_comparisons import DoseComparisonPublic
from y90dose_service.security import Caller
from y90dose_service.settings import ServiceSettings

router = APIRouter(prefix="/dose-jobs", tags=["dose jobs"])

_COMPARING = threading.Lock()
"""One comparison is computed at a time in this process (two dose maps in memory)."""


def comparison_file(data_dir: Path, delivered_job_id: str, planned_job_id: str) -> Path:
    """Where the comparison of two jobs is kept."""
    return data_dir / "comparisons" / f"{delivered_job_id}--{planned_job_id}.json"


@router.get(
    "/{job_id}/comparison",
    response_model=DoseComparisonPublic,
    summary="Planned vs delivered: this job's dose against a planned (predictive) job's",
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
    """Per-VOI mean dose and D70, planned and delivered, and their differences."""
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
        when the runs cannot be compared (the library's reason).
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
    with _COMPARING:
        if not target.is_file():
            _compute(settings, delivered.id, planned.id, target)
    return DoseComparisonPublic.model_validate_json(target.read_text(encoding="utf-8"))


def _compute(settings: ServiceSettings, delivered_id: str, planned_id: str, target: Path) -> None:
    from y90dose.errors import GeometryError, Y90DoseError
    from y90dose.pipeline.compare import compare_runs

    planned_dir = job_output_dir(settings.data_dir, planned_id)
    delivered_dir = job_output_dir(settings.data_dir, delivered_id)
    places = {
        "<planned job>": planned_dir,
        "<delivered job>": delivered_dir,
        "<data_dir>": settings.data_dir,
    }
    try:
        result = compare_runs(planned_dir, delivered_dir)
    except GeometryError:
        raise ProblemError(
            422,
            "not-comparable",
            f"dose jobs {planned_id} (planned) and {delivered_id} (delivered) are in "
            "different frames of reference; the service compares runs of one frame only "
            "(register them and use `y90dose compare --transform` on the downloaded runs)",
        ) from None
    except Y90DoseError as exc:
        raise ProblemError(422, "not-comparable", hide_paths(str(exc), places)) from None
    public = DoseComparisonPublic(
        delivered_job_id=delivered_id,
        planned_job_id=planned_id,
        registration=result.registration,
        planned_method=result.planned_method,
        delivered_method=result.delivered_method,
        vois=result.vois,
        warnings=[hide_paths(w, places) for w in result.warnings],
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".tmp")
    staging.write_text(json.dumps(public.model_dump(mode="json")), encoding="utf-8")
    staging.replace(target)
