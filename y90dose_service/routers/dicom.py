"""DICOM networking over HTTP: destinations, sending a dose job's objects, importing a
study, and the transfers that do it (docs/dicom.md).

``POST /v1/dose-jobs/{id}/send`` and ``POST /v1/studies/import`` store a queued transfer
with its audit event and hand it to the transfer workers
(:mod:`y90dose_service.dicom.transfers`) after the commit; ``GET /v1/dicom/transfers/{id}``
shows its status.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from y90dose_service import audit
from y90dose_service.deps import PlannerDep, PlannerWriteSessionDep, SessionDep, ViewerDep
from y90dose_service.dicom.networking import DicomNetworking
from y90dose_service.dicom.objects import dose_file
from y90dose_service.dicom.transfers import TransferKind, TransferStatus
from y90dose_service.jobs import JobStatus, job_output_dir
from y90dose_service.models import DicomTransfer, DoseJob, Study, as_utc
from y90dose_service.problems import InvalidInputError, ProblemError, field_error, not_found
from y90dose_service.schemas.common import OFFSET_MAX, Page
from y90dose_service.schemas.dicom import (
    DestinationPublic,
    DicomTransferPublic,
    DoseJobSend,
    StudyImport,
)
from y90dose_service.security import Caller

router = APIRouter(tags=["dicom"])


def transfer_public(row: DicomTransfer) -> DicomTransferPublic:
    """API view of a transfer."""
    return DicomTransferPublic(
        id=row.id,
        kind=row.kind,
        status=row.status,
        destination=row.destination,
        dose_job_id=row.dose_job_id,
        study_id=row.study_id,
        params=row.params,
        result=row.result,
        stage=row.stage,
        message=row.message,
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at),
    )


def _networking(request: Request) -> DicomNetworking:
    networking: DicomNetworking = request.app.state.dicom
    return networking


def _queue(
    request: Request,
    response: Response,
    session: Session,
    caller: Caller,
    row: DicomTransfer,
    detail: dict[str, object],
) -> DicomTransferPublic:
    session.add(row)
    session.flush()
    audit.record(session, caller, f"dicom.{row.kind}", "dicom_transfer", row.id, detail)
    session.commit()
    _networking(request).transfers.submit(row.id)
    response.headers["Location"] = f"/v1/dicom/transfers/{row.id}"
    return transfer_public(row)


@router.get(
    "/dicom/destinations",
    response_model=list[DestinationPublic],
    summary="The configured DICOM destinations",
)
def list_destinations(request: Request, _caller: ViewerDep) -> list[DestinationPublic]:
    """Destinations of ``Y90DOSE_DICOM_DESTINATIONS`` (DICOMweb URLs without credentials)."""
    return [DestinationPublic.of(d) for d in _networking(request).destinations.values()]


@router.post(
    "/dose-jobs/{job_id}/send",
    status_code=202,
    response_model=DicomTransferPublic,
    summary="Send a dose job's RT Dose and structure set to a destination",
)
def send_dose_job(
    job_id: str,
    body: DoseJobSend,
    request: Request,
    response: Response,
    caller: PlannerDep,
    session: PlannerWriteSessionDep,
) -> DicomTransferPublic:
    """Queue a send; poll ``GET /v1/dicom/transfers/{id}``. 404 unknown job, 409 job not
    succeeded, 422 unknown destination or a study that is not DICOM."""
    destination = _networking(request).destination(body.destination)
    job = session.get(DoseJob, job_id)
    if job is None:
        raise not_found("dose job", job_id)
    if job.status != JobStatus.SUCCEEDED.value:
        raise ProblemError(
            409,
            "job-not-finished",
            f"dose job {job_id} is {job.status}; only a succeeded job's objects can be sent",
        )
    study = session.get(Study, job.study_id)
    if study is None or study.kind != "dicom":
        raise InvalidInputError(
            [
                field_error(
                    "objects",
                    body.objects,
                    "a dose job on a DICOM study (its objects must reference the patient's "
                    f"images); study {job.study_id} is {study.kind if study else 'gone'}",
                )
            ]
        )
    dose_file(job_output_dir(request.app.state.settings.data_dir, job_id))  # 422 if none
    row = DicomTransfer(
        kind=TransferKind.SEND.value,
        status=TransferStatus.QUEUED.value,
        destination=destination.name,
        dose_job_id=job_id,
        params=body.model_dump(mode="json", exclude={"destination"}),
        created_by=caller.name,
    )
    return _queue(
        request,
        response,
        session,
        caller,
        row,
        {"dose_job_id": job_id, "destination": destination.name, "objects": body.objects},
    )


@router.post(
    "/studies/import",
    status_code=202,
    response_model=DicomTransferPublic,
    summary="Import a study from a destination (DICOMweb, C-GET or C-MOVE)",
)
def import_study(
    body: StudyImport,
    request: Request,
    response: Response,
    caller: PlannerDep,
    session: PlannerWriteSessionDep,
) -> DicomTransferPublic:
    """Queue an import; the study it stores is the transfer's ``study_id`` when it
    succeeds. 422 unknown destination, a method the destination cannot do, or C-MOVE
    without the service's Storage SCP."""
    networking = _networking(request)
    destination = networking.destination(body.destination)
    method = body.method or ("dicomweb" if destination.kind == "dicomweb" else "c-get")
    if (method == "dicomweb") != (destination.kind == "dicomweb"):
        allowed = "dicomweb" if destination.kind == "dicomweb" else "c-get or c-move"
        raise InvalidInputError(
            [
                field_error(
                    "method",
                    method,
                    f"{allowed} for {destination.kind} destination {destination.name!r}",
                )
            ]
        )
    if method == "c-move" and networking.scp is None:
        raise InvalidInputError(
            [
                field_error(
                    "method",
                    method,
                    "c-get (C-MOVE sends the study to the service's Storage SCP, which runs "
                    "only when Y90DOSE_DICOM_PORT is set)",
                )
            ]
        )
    row = DicomTransfer(
        kind=TransferKind.IMPORT.value,
        status=TransferStatus.QUEUED.value,
        destination=destination.name,
        params={"study_instance_uid": body.study_instance_uid, "method": method},
        created_by=caller.name,
    )
    return _queue(
        request, response, session, caller, row, {"destination": destination.name, "method": method}
    )


@router.get(
    "/dicom/transfers",
    response_model=Page[DicomTransferPublic],
    summary="List sends and imports, newest first",
)
def list_transfers(
    session: SessionDep,
    _caller: ViewerDep,
    kind: Annotated[TransferKind | None, Query(description="only sends or imports")] = None,
    dose_job_id: Annotated[str | None, Query(description="only this job's sends")] = None,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DicomTransferPublic]:
    """Paginated transfer list."""
    query = select(DicomTransfer)
    count = select(func.count()).select_from(DicomTransfer)
    if kind is not None:
        query = query.where(DicomTransfer.kind == kind.value)
        count = count.where(DicomTransfer.kind == kind.value)
    if dose_job_id is not None:
        query = query.where(DicomTransfer.dose_job_id == dose_job_id)
        count = count.where(DicomTransfer.dose_job_id == dose_job_id)
    total = session.scalar(count) or 0
    rows = session.scalars(
        query.order_by(DicomTransfer.created_at.desc(), DicomTransfer.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return Page[DicomTransferPublic](
        items=[transfer_public(r) for r in rows], total=total, offset=offset, limit=limit
    )


@router.get(
    "/dicom/transfers/{transfer_id}",
    response_model=DicomTransferPublic,
    summary="A send's or an import's status",
)
def get_transfer(transfer_id: str, session: SessionDep, _caller: ViewerDep) -> DicomTransferPublic:
    """Status, tries, and when finished the result (or why it failed)."""
    row = session.get(DicomTransfer, transfer_id)
    if row is None:
        raise not_found("DICOM transfer", transfer_id)
    return transfer_public(row)
