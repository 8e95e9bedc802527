"""``/v1/studies``: upload a zip of DICOM (or NIfTI + label map) and read it back.

The zip is unpacked under ``<data_dir>/studies/<id>/files``. Everything is checked
before the study is recorded; on any refusal the files are removed, so a failed upload
stores nothing.
"""

from __future__ import annotations

import logging
import shutil
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from sqlalchemy import func, select

from y90dose_service import audit
from y90dose_service.deps import PlannerDep, SessionDep, SettingsDep, ViewerDep
from y90dose_service.jobs import study_dir
from y90dose_service.models import Study, as_utc, new_id
from y90dose_service.problems import not_found
from y90dose_service.schemas.common import OFFSET_MAX, Page
from y90dose_service.schemas.studies import StudyPublic
from y90dose_service.uploads import describe_study, dose_inputs, too_large, unpack

router = APIRouter(prefix="/studies", tags=["studies"])
logger = logging.getLogger("y90dose.service")


def study_public(row: Study) -> StudyPublic:
    """API view of a stored study."""
    return StudyPublic(
        id=row.id,
        kind=row.kind,
        file_count=row.file_count,
        size_bytes=row.size_bytes,
        summary=row.summary,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
    )


@router.post("", status_code=201, response_model=StudyPublic, summary="Upload a study zip")
def upload_study(
    file: Annotated[UploadFile, File(description="zip of DICOM files, or NIfTI image + labels")],
    session: SessionDep,
    settings: SettingsDep,
    caller: PlannerDep,
    names: Annotated[
        str | None,
        Form(description='label names as JSON, e.g. {"1": "liver", "2": "tumor"}'),
    ] = None,
) -> StudyPublic:
    """Store a study: 413 past the size, file-count or compression-ratio limit, 422 for
    unsafe, unreadable, incomplete or too large (voxels) entries (each named); 429 past
    the concurrent-upload limit (:class:`y90dose_service.uploads.UploadLimitMiddleware`)."""
    if file.size is not None and file.size > settings.upload_max_bytes:
        raise too_large(
            f"the upload is {file.size} bytes; at most {settings.upload_max_bytes} bytes accepted"
        )
    study_id = new_id()
    root = settings.studies_dir / study_id
    files_dir = study_dir(settings.data_dir, study_id)
    files_dir.mkdir(parents=True)
    try:
        paths = unpack(
            file.file,
            files_dir,
            max_files=settings.upload_max_files,
            max_bytes=settings.upload_max_bytes,
            max_ratio=settings.upload_max_compression_ratio,
            max_depth=settings.upload_max_path_depth,
        )
        kind, summary = describe_study(
            files_dir,
            paths,
            names,
            max_voxels=settings.image_max_voxels,
            max_emission_voxels=settings.emission_max_voxels,
        )
        summary["dose_inputs"] = dose_inputs(files_dir)
        size_bytes = sum(files_dir.joinpath(*p.parts).stat().st_size for p in paths)
        row = Study(
            id=study_id,
            kind=kind,
            file_count=len(paths),
            size_bytes=size_bytes,
            summary=summary,
            created_by=caller.name,
        )
        session.add(row)
        audit.record(
            session, caller, "study.upload", "study", study_id, {"files": len(paths), "kind": kind}
        )
        session.commit()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return study_public(row)


@router.get("", response_model=Page[StudyPublic], summary="List studies, newest first")
def list_studies(
    session: SessionDep,
    _caller: ViewerDep,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[StudyPublic]:
    """Paginated study list."""
    total = session.scalar(select(func.count()).select_from(Study)) or 0
    rows = session.scalars(
        select(Study).order_by(Study.created_at.desc(), Study.id).offset(offset).limit(limit)
    ).all()
    return Page[StudyPublic](
        items=[study_public(r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get("/{study_id}", response_model=StudyPublic, summary="One study")
def get_study(study_id: str, session: SessionDep, _caller: ViewerDep) -> StudyPublic:
    """A stored study's summary."""
    row = session.get(Study, study_id)
    if row is None:
        raise not_found("study", study_id)
    return study_public(row)
