"""``/v1/dose-jobs``: voxel dosimetry on a stored study, run by the job executor.

``POST`` stores the job as ``queued`` (with its audit event) and hands it to the
executor after the commit; ``GET`` shows status and progress; finished jobs' files are
downloadable from ``/v1/dose-jobs/{id}/files/{name}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from y90dose_service import audit
from y90dose_service.deps import (
    PlannerDep,
    PlannerWriteSessionDep,
    SessionDep,
    SettingsDep,
    ViewerDep,
)
from y90dose_service.jobs import JobManager, JobStatus, job_output_dir
from y90dose_service.models import DoseJob, Study, as_utc
from y90dose_service.problems import InvalidInputError, ProblemError, field_error, not_found
from y90dose_service.schemas.common import OFFSET_MAX, Page
from y90dose_service.schemas.dose_jobs import DoseJobCreate, DoseJobPublic, JobFile
from y90dose_service.security import Caller

router = APIRouter(prefix="/dose-jobs", tags=["dose jobs"])


def job_public(row: DoseJob) -> DoseJobPublic:
    """API view of a job."""
    return DoseJobPublic(
        id=row.id,
        study_id=row.study_id,
        status=row.status,
        progress=row.progress,
        stage=row.stage,
        message=row.message,
        params=row.params,
        result=row.result,
        files=[
            JobFile(
                name=f["name"],
                size_bytes=f["size_bytes"],
                url=f"/v1/dose-jobs/{row.id}/files/{f['name']}",
            )
            for f in (row.files or [])
        ],
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at),
    )


@router.post("", status_code=202, response_model=DoseJobPublic, summary="Start a dose job")
def create_job(
    body: DoseJobCreate,
    request: Request,
    response: Response,
    caller: PlannerDep,
    session: PlannerWriteSessionDep,
) -> DoseJobPublic:
    """Queue voxel dosimetry on a study; poll ``GET /v1/dose-jobs/{id}``."""
    row = add_job(session, caller, body)
    session.commit()
    manager: JobManager = request.app.state.jobs
    assert row.run_token is not None
    manager.submit(row.id, row.run_token)
    response.headers["Location"] = f"/v1/dose-jobs/{row.id}"
    return job_public(row)


def add_job(
    session: Session, caller: Caller, body: Any, detail: dict[str, Any] | None = None
) -> DoseJob:
    """Add a queued job for ``body`` (a ``DoseJobCreate``) and its audit event to
    ``session``; the caller commits, then submits it (``JobManager.submit``). The one way a
    job is made: by this route and by a received study's dose-job rule (docs/dicom.md)."""
    if session.get(Study, body.study_id) is None:
        raise InvalidInputError(
            [field_error("study_id", body.study_id, "the id of a study uploaded to /v1/studies")]
        )
    params = body.model_dump(mode="json", exclude={"study_id"})
    row = DoseJob(
        study_id=body.study_id,
        status=JobStatus.QUEUED.value,
        params=params,
        created_by=caller.name,
        run_token=str(uuid.uuid4()),
        files=[],
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        caller,
        "job.create",
        "dose_job",
        row.id,
        {"study_id": body.study_id, **(detail or {})},
    )
    return row


@router.get("", response_model=Page[DoseJobPublic], summary="List dose jobs, newest first")
def list_jobs(
    session: SessionDep,
    _caller: ViewerDep,
    study_id: Annotated[str | None, Query(description="only this study's jobs")] = None,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DoseJobPublic]:
    """Paginated job list."""
    query = select(DoseJob)
    count = select(func.count()).select_from(DoseJob)
    if study_id is not None:
        query, count = (
            query.where(DoseJob.study_id == study_id),
            count.where(DoseJob.study_id == study_id),
        )
    if status is not None:
        query = query.where(DoseJob.status == status.value)
        count = count.where(DoseJob.status == status.value)
    total = session.scalar(count) or 0
    rows = session.scalars(
        query.order_by(DoseJob.created_at.desc(), DoseJob.id).offset(offset).limit(limit)
    ).all()
    return Page[DoseJobPublic](
        items=[job_public(r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/{job_id}", response_model=DoseJobPublic, summary="A job's status and progress")
def get_job(job_id: str, session: SessionDep, _caller: ViewerDep) -> DoseJobPublic:
    """Status, progress, and when finished the result and files (or the failure)."""
    row = session.get(DoseJob, job_id)
    if row is None:
        raise not_found("dose job", job_id)
    return job_public(row)


@router.get(
    "/{job_id}/files/{name:path}",
    response_class=FileResponse,
    summary="Download a result file (RTDOSE, DVH CSV/JSON, metrics, PNG)",
)
def download(
    job_id: str, name: str, session: SessionDep, settings: SettingsDep, _caller: ViewerDep
) -> FileResponse:
    """One file a finished job wrote; only names the job lists are served."""
    row = session.get(DoseJob, job_id)
    if row is None:
        raise not_found("dose job", job_id)
    if row.status != JobStatus.SUCCEEDED.value:
        raise ProblemError(409, "job-not-finished", f"dose job {job_id} is {row.status}")
    if name not in {f["name"] for f in row.files or []}:
        raise not_found(f"file of dose job {job_id}", name)
    path = job_output_dir(settings.data_dir, job_id).joinpath(*name.split("/"))
    if not path.is_file():
        raise not_found(f"file of dose job {job_id}", name)
    return FileResponse(path, filename=path.name)
