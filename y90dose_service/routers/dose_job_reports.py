"""``GET /v1/dose-jobs/{id}/report``: the dosimetry report of a finished dose job.

The job's runner writes the report with the run (:func:`y90dose_service.voxel_jobs.
write_job_report`: the library's :func:`y90dose.reports.dose_report_pdf`, the document
``y90dose voxel --report`` writes), so it is built once, from the computation itself,
and every download is the same file. ``format=dicom`` returns the same PDF as a DICOM
Encapsulated PDF in the study of the images (same patient and StudyInstanceUID, a new
series), written when the study's images are DICOM; for other images (NIfTI) it is
refused with 422 saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from y90dose_service.deps import SessionDep, SettingsDep, ViewerDep
from y90dose_service.jobs import JobStatus, job_output_dir
from y90dose_service.models import DoseJob
from y90dose_service.problems import ProblemError, not_found
from y90dose_service.routers.plan_reports import PDF, ReportFormat
from y90dose_service.voxel_jobs import REPORT_DICOM, REPORT_PDF

router = APIRouter(prefix="/dose-jobs", tags=["dose jobs"])

DICOM = "application/dicom"


def _report_file(folder: Path, name: str, job_id: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ProblemError(
            404,
            "no-report",
            f"dose job {job_id} has no {name}: it finished before dose jobs wrote reports "
            "(or its runner writes none); run the job again for its report",
        )
    return path


@router.get(
    "/{job_id}/report",
    response_class=FileResponse,
    summary="The dosimetry report of a finished dose job (PDF, or DICOM Encapsulated PDF)",
    responses={
        200: {
            "content": {PDF: {}, DICOM: {}},
            "description": "the PDF report, or with format=dicom the same PDF encapsulated "
            "in a DICOM object in the images' study",
        }
    },
)
def get_dose_job_report(
    job_id: str,
    session: SessionDep,
    settings: SettingsDep,
    _caller: ViewerDep,
    format: Annotated[ReportFormat, Query(description="pdf (default) or dicom")] = ReportFormat.PDF,
) -> FileResponse:
    """Inputs (images, VOIs, activity and its scaling, options), method, kernel, constants
    with sources, metrics per VOI, DVHs, slices through each tumour, software version and
    inputs hash."""
    row = session.get(DoseJob, job_id)
    if row is None:
        raise not_found("dose job", job_id)
    if row.status != JobStatus.SUCCEEDED.value:
        raise ProblemError(409, "job-not-finished", f"dose job {job_id} is {row.status}")
    folder = job_output_dir(settings.data_dir, job_id)
    if format is ReportFormat.PDF:
        path = _report_file(folder, REPORT_PDF, job_id)
        return FileResponse(path, media_type=PDF, filename=f"dose-job-{job_id}.pdf")
    report: dict[str, Any] = (row.result or {}).get("report") or {}
    if report.get("pdf") and not report.get("dicom"):
        raise ProblemError(
            422,
            "no-dicom-study",
            f"dose job {job_id}: {report.get('dicom_refused') or 'no DICOM report'}; ask for "
            "format=pdf",
        )
    path = _report_file(folder, REPORT_DICOM, job_id)
    return FileResponse(path, media_type=DICOM, filename=f"dose-job-{job_id}.dcm")
