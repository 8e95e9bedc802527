"""The web pages of studies and dose jobs: upload, start a job, its progress, the review.

Like the plan pages, each page calls the JSON API's own route functions
(``y90dose_service.routers.studies``, ``.dose_jobs``, ``.dose_comparisons``) with the
signed-in caller, and shows the API's problems in its words. The review page's data
come from the job's own output files: the view volumes (:mod:`.volumes`), the DVHs
(``dvh.json``) and the metrics (the job's result). The data routes check the session
and the role the API checks for the same data (viewer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from fastapi import UploadFile as FastApiUploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from y90dose_service.deps import check_role, request_session
from y90dose_service.jobs import JobStatus, job_output_dir, study_dir
from y90dose_service.problems import (
    InvalidInputError,
    ProblemError,
    errors_of,
    not_found,
    problem_response,
)
from y90dose_service.routers import dose_comparisons as comparison_api
from y90dose_service.routers import dose_jobs as job_api
from y90dose_service.routers import studies as study_api
from y90dose_service.schemas.dose_jobs import DoseJobCreate, DoseJobPublic
from y90dose_service.schemas.studies import StudyPublic
from y90dose_service.security import Caller, Role
from y90dose_service.settings import ServiceSettings
from y90dose_service.web import forms, job_form, volumes
from y90dose_service.web.pages import (
    CheckedSession,
    ReadSession,
    SessionOf,
    SignInRequiredError,
    current_session,
    problem_text,
    render,
    writing,
)
from y90dose_service.web.sessions import CSRF_HEADER, same_origin, tokens_match

router = APIRouter(include_in_schema=False)

WEB_UPLOAD_PATH = "/studies/upload"
"""Where the studies page sends a zip (the upload limits of ``/v1/studies`` apply)."""
POLL_SECONDS = 1
"""How often the job page asks for the job's progress."""
DVH_FILE = "dvh.json"


def settings_of(request: Request) -> ServiceSettings:
    """The app's settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


def _error(request: Request, exc: Exception) -> Response:
    status, detail, errors = problem_text(exc)
    if errors:
        detail = "; ".join(m for ms in forms.errors_by_field(errors).values() for m in ms)
    return render(request, "error.html", {"detail": detail, "back": "/studies"}, status)


# --- studies ------------------------------------------------------------------------------


@router.get("/studies")
async def study_list(
    request: Request, web: SessionOf, db: ReadSession, offset: int = 0
) -> Response:
    """Studies, newest first, and the upload area (planners)."""
    try:
        page = study_api.list_studies(db, web.caller, offset=max(offset, 0), limit=50)
    except ProblemError as exc:
        return _error(request, exc)
    return render(
        request,
        "studies.html",
        {
            "page": page,
            "can_upload": web.caller.role.allows(Role.PLANNER),
            "upload_path": WEB_UPLOAD_PATH,
            "max_bytes": settings_of(request).upload_max_bytes,
        },
    )


@router.post(WEB_UPLOAD_PATH)
async def upload(request: Request, web: CheckedSession) -> Response:
    """Store a zip through the API's upload route; JSON for the page's script: the new
    study's address (201) or the API's problem document, as ``POST /v1/studies`` answers.
    """
    caller = check_role(web.caller, Role.PLANNER)
    form = await request.form()
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInputError(
                [
                    {
                        "field": "file",
                        "value": None,
                        "allowed": "a zip of DICOM files, or NIfTI image + labels",
                        "location": "body",
                    }
                ]
            )
        names = form.get("names")
        names_text = names.strip() if isinstance(names, str) and names.strip() else None
        factory = request.app.state.sessionmaker
        settings = settings_of(request)

        def store() -> StudyPublic:
            with request_session(factory) as db:
                # the API's File() parameter is this same Starlette object, as parsed here
                upload = cast(FastApiUploadFile, file)
                return study_api.upload_study(upload, db, settings, caller, names_text)

        study = await run_in_threadpool(store)
    finally:
        await form.close()
    return JSONResponse({"id": study.id, "url": f"/studies/{study.id}"}, status_code=201)


async def upload_refusal(scope: Any) -> Response | None:
    """The upload limiter's check of a web upload, before its body is read: a live
    session (401), the page's CSRF token in ``X-CSRF-Token`` from this origin (403), the
    planner role (403); None lets it in (:class:`y90dose_service.uploads.UploadLimitMiddleware`).
    """
    request = Request(scope)
    try:
        session = await current_session(request)
    except SignInRequiredError:
        return problem_response(401, "unauthorized", "your session has ended; sign in again")
    if not same_origin(request) or not tokens_match(
        session.csrf_token, request.headers.get(CSRF_HEADER)
    ):
        return problem_response(
            403, "csrf", "refused: the upload did not come from this site's page; reload it"
        )
    try:
        check_role(session.caller, Role.PLANNER)
    except ProblemError as exc:
        return problem_response(exc.status, exc.kind, exc.detail)
    return None


def _voi_names(study: StudyPublic) -> list[str]:
    names = study.summary.get("names") or {}
    return [str(v) for v in names.values()] if isinstance(names, dict) else []


def _study_page(
    request: Request,
    web: Any,
    db: Any,
    study_id: str,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    study = study_api.get_study(study_id, db, web.caller)
    jobs = job_api.list_jobs(db, web.caller, study_id=study_id, status=None, offset=0, limit=50)
    context = {
        "study": study,
        "jobs": jobs,
        "fields": job_form.job_fields(),
        "voi_names": _voi_names(study),
        "values": job_form.initial_values(),
        "errors": {},
        "can_start": web.caller.role.allows(Role.PLANNER),
        **extra,
    }
    return render(request, "study.html", context, status_code)


@router.get("/studies/{study_id}")
async def study_page(request: Request, study_id: str, web: SessionOf, db: ReadSession) -> Response:
    """A study: what it holds, its dose jobs and the form that starts one."""
    try:
        return _study_page(request, web, db, study_id)
    except ProblemError as exc:
        return _error(request, exc)


# --- dose jobs: start, progress, list -----------------------------------------------------


def _job_body(form: Any) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """(the job body, errors, the validated ``DoseJobCreate`` or None)."""
    study_id = form.get("study_id")
    body, errors = job_form.form_body(form, study_id if isinstance(study_id, str) else "")
    created = None
    try:
        created = DoseJobCreate.model_validate(body)
    except ValidationError as exc:
        errors = errors + errors_of(exc)
    return body, errors, created if not errors else None


@router.post("/dose-jobs/check")
async def check_job(request: Request, web: CheckedSession) -> Response:
    """The API's messages on the form as it stands (nothing is stored or run)."""
    form = await request.form()
    _, errors, _ = _job_body(form)
    return render(
        request,
        "_job_check.html",
        {"errors": forms.errors_by_field(errors), "fields": job_form.job_fields()},
    )


@router.post("/dose-jobs")
async def start_job(request: Request, web: CheckedSession, db: ReadSession) -> Response:
    """Queue a job through the API's create route; errors shown at their fields."""
    form = await request.form()
    study_id = form.get("study_id")
    study_id = study_id if isinstance(study_id, str) else ""
    _, errors, created = _job_body(form)
    try:
        if created is None:
            raise InvalidInputError(errors)
        async with writing(request, web.caller, Role.PLANNER) as wdb:
            job = job_api.create_job(created, request, Response(), web.caller, wdb)
    except (InvalidInputError, ProblemError) as exc:
        status, detail, field_errors = problem_text(exc)
        try:
            return _study_page(
                request,
                web,
                db,
                study_id,
                status,
                values=job_form.form_values(form),
                errors=forms.errors_by_field(field_errors),
                problem=detail,
            )
        except ProblemError as missing:
            return _error(request, missing)
    return RedirectResponse(f"/dose-jobs/{job.id}", status_code=303)


@router.get("/dose-jobs")
async def job_list(
    request: Request, web: SessionOf, db: ReadSession, status: str = "", offset: int = 0
) -> Response:
    """Dose jobs, newest first, optionally of one status."""
    try:
        chosen = JobStatus(status) if status else None
    except ValueError:
        chosen = None
    try:
        page = job_api.list_jobs(
            db, web.caller, study_id=None, status=chosen, offset=max(offset, 0), limit=50
        )
    except ProblemError as exc:
        return _error(request, exc)
    return render(
        request,
        "dose_jobs.html",
        {"page": page, "status": chosen.value if chosen else "", "statuses": list(JobStatus)},
    )


def _finished(job: DoseJobPublic) -> bool:
    return job.status in (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)


@router.get("/dose-jobs/{job_id}/progress")
async def job_progress(request: Request, job_id: str, web: SessionOf, db: ReadSession) -> Response:
    """The job's progress bar (polled by the job page); reloads the page once finished."""
    try:
        job = job_api.get_job(job_id, db, web.caller)
    except ProblemError as exc:
        return Response(exc.detail, status_code=exc.status, media_type="text/plain")
    response = render(
        request, "_job_progress.html", {"job": job, "poll": POLL_SECONDS, "oob": True}
    )
    if _finished(job):
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/dose-jobs/{job_id}")
async def job_page(
    request: Request, job_id: str, web: SessionOf, db: ReadSession, planned: str = ""
) -> Response:
    """Progress while the job runs; its failure; or, once done, the dose review."""
    try:
        job = job_api.get_job(job_id, db, web.caller)
    except ProblemError as exc:
        return _error(request, exc)
    if job.status != JobStatus.SUCCEEDED.value:
        return render(request, "dose_job.html", {"job": job, "poll": POLL_SECONDS})
    result = job.result or {}
    comparison = comparison_problem = None
    if planned:
        try:
            comparison = await run_in_threadpool(
                comparison_api.compare_jobs, job_id, planned, db, settings_of(request), web.caller
            )
        except (InvalidInputError, ProblemError) as exc:
            comparison_problem = problem_text(exc)[1]
            if isinstance(exc, InvalidInputError):
                comparison_problem = "; ".join(
                    m for ms in forms.errors_by_field(exc.errors).values() for m in ms
                )
    planned_runs = []
    if not (job.params or {}).get("predictive"):
        succeeded = job_api.list_jobs(
            db, web.caller, study_id=None, status=JobStatus.SUCCEEDED, offset=0, limit=200
        )
        planned_runs = [j for j in succeeded.items if (j.params or {}).get("predictive")]
    metrics = result.get("metrics") or {}
    context = {
        "job": job,
        "result": result,
        "metrics": metrics,
        "d_columns": _columns(metrics, "d", "_gy"),
        "v_columns": _columns(metrics, "v", "_percent"),
        "planned_runs": planned_runs,
        "planned": planned,
        "comparison": comparison,
        "comparison_problem": comparison_problem,
        "report_url": _report_url(request, job_id),
    }
    return render(request, "dose_review.html", context)


def _columns(metrics: dict[str, Any], prefix: str, suffix: str) -> list[str]:
    """The Dx or Vx keys of the metrics (``d70_gy``, ``v100_percent``), in numeric order."""
    keys: set[str] = set()
    for row in metrics.values():
        keys |= {
            k
            for k in row
            if k.startswith(prefix) and k.endswith(suffix) and k[1 : -len(suffix)].isdigit()
        }
    return sorted(keys, key=lambda k: float(k[1 : -len(suffix)]))


@router.get("/dose-jobs/{job_id}/report")
async def job_report(
    request: Request, job_id: str, web: SessionOf, db: ReadSession, format: str = "pdf"
) -> Response:
    """The dosimetry report (PDF, or ``format=dicom``), as the API's report route serves it."""
    from y90dose_service.routers import dose_job_reports as report_api
    from y90dose_service.routers.plan_reports import ReportFormat

    if format not in {f.value for f in ReportFormat}:
        detail = f"format {format!r} is not allowed; expected pdf or dicom"
        return render(request, "error.html", {"detail": detail}, 422)
    try:
        check_role(web.caller, Role.VIEWER)
        return report_api.get_dose_job_report(
            job_id, db, settings_of(request), web.caller, ReportFormat(format)
        )
    except ProblemError as exc:
        return _error(request, exc)


def _report_url(request: Request, job_id: str) -> str | None:
    """The dose report's page address (:func:`job_report`)."""
    return str(request.app.url_path_for("job_report", job_id=job_id))


# --- the review page's data ---------------------------------------------------------------


def _succeeded_job(db: Any, caller: Caller, job_id: str) -> DoseJobPublic:
    """The job as the API shows it to this caller (viewer role), once it succeeded."""
    check_role(caller, Role.VIEWER)
    job = job_api.get_job(job_id, db, caller)
    if job.status != JobStatus.SUCCEEDED.value:
        raise ProblemError(409, "job-not-finished", f"dose job {job_id} is {job.status}")
    return job


async def _view(request: Request, job: DoseJobPublic) -> tuple[Path, dict[str, Any]]:
    settings = settings_of(request)
    target = volumes.view_dir(settings.data_dir, job.id)
    found = volumes.load_view(target)
    if found is not None:
        return target, found

    def build() -> dict[str, Any]:
        from y90dose.limits import emission_voxel_limit, voxel_limit

        with (
            voxel_limit(settings.image_max_voxels),
            emission_voxel_limit(settings.emission_max_voxels),
        ):
            return volumes.ensure_view(
                job_output_dir(settings.data_dir, job.id),
                study_dir(settings.data_dir, job.study_id),
                target,
                image_units=(job.params or {}).get("image_units"),
            )

    return target, await run_in_threadpool(build)


@router.get("/dose-jobs/{job_id}/view.json")
async def view_description(
    request: Request, job_id: str, web: SessionOf, db: ReadSession
) -> Response:
    """The grid, units, defaults and VOI names of the job's view (built on first use)."""
    from y90dose.errors import Y90DoseError
    from y90dose_service.jobs import hide_paths

    try:
        job = _succeeded_job(db, web.caller, job_id)
        _, description = await _view(request, job)
    except ProblemError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    except (Y90DoseError, OSError, ValueError) as exc:
        data_dir = settings_of(request).data_dir
        detail = hide_paths(f"the view could not be made: {exc}", {"<data_dir>": data_dir})
        return JSONResponse({"detail": detail}, status_code=422)
    return JSONResponse(description, headers={"Cache-Control": "private, no-cache"})


@router.get("/dose-jobs/{job_id}/view/{part}")
async def view_volume(
    request: Request, job_id: str, part: str, web: SessionOf, db: ReadSession
) -> Response:
    """One volume of the view, raw little-endian, gzip-compressed on disk (served as it is)."""
    try:
        job = _succeeded_job(db, web.caller, job_id)
        if part not in volumes.PARTS:
            raise not_found(f"view volume of dose job {job_id}", part)
        target, _ = await _view(request, job)
        path = target / f"{part}.gz"
        if not path.is_file():
            raise not_found(f"view volume of dose job {job_id}", part)
    except ProblemError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"Content-Encoding": "gzip", "Cache-Control": "private, max-age=86400"},
    )


@router.get("/dose-jobs/{job_id}/files/{name:path}")
async def job_file(
    request: Request, job_id: str, name: str, web: SessionOf, db: ReadSession
) -> Response:
    """A file the job wrote, through the API's download route (same checks)."""
    try:
        check_role(web.caller, Role.VIEWER)
        return job_api.download(job_id, name, db, settings_of(request), web.caller)
    except ProblemError as exc:
        if name == DVH_FILE:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        return _error(request, exc)
