"""``GET /v1/plans/{id}/report``: a plan version as a PDF for the medical record.

The report is built by the library (:func:`y90dose.reports.plan_report_pdf`) from the
version as stored; the CLI's ``--report`` builds the same document. ``format=dicom``
(an Encapsulated PDF in the study of the images a plan describes) needs a plan linked
to a study: stored plans have no study link yet, so it is refused with 422 saying why.
A study named at download time (``?study=``) is not accepted instead: the plan's patient
reference is free text that cannot be checked against that study's patient, and a report
filed in the wrong patient's record is worse than none. A link would be made when the
plan is created (stored with the version, audited, its patient checked against the
study's); the dose job's report (``/v1/dose-jobs/{id}/report``) is filed in its study.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

import y90dose
from y90dose.models.treatment import result_of
from y90dose.reports import ApprovalRecord, PlanReport
from y90dose_service.deps import SessionDep, ViewerDep
from y90dose_service.models import Plan, PlanVersion, as_utc
from y90dose_service.problems import InvalidInputError, ProblemError, field_error, not_found

router = APIRouter(prefix="/plans", tags=["plans"])

PDF = "application/pdf"


class ReportFormat(StrEnum):
    """What ``GET /v1/plans/{id}/report`` returns."""

    PDF = "pdf"
    DICOM = "dicom"


def plan_report(plan: Plan, version: int | None = None) -> PlanReport:
    """The report contents of ``version`` (default: the latest) of a loaded plan."""
    number = plan.latest_version if version is None else version
    row: PlanVersion | None = next((v for v in plan.versions if v.version == number), None)
    if row is None:
        raise InvalidInputError(
            [
                field_error(
                    "version", version, f"an existing version, 1..{plan.latest_version}", "query"
                )
            ]
        )
    return PlanReport(
        model=row.model,
        inputs=dict(row.inputs),
        result=result_of(row.result),
        software_version=y90dose.__version__,
        patient_ref=plan.patient_ref,
        plan_id=plan.id,
        version=row.version,
        latest_version=plan.latest_version,
        treatment_date=row.treatment_date,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        note=row.note,
        approvals=tuple(
            ApprovalRecord(
                approved_by=a.approved_by,
                approved_at=as_utc(a.approved_at) or a.approved_at,
                comment=a.comment,
            )
            for a in plan.approvals
            if a.version == row.version
        ),
    )


def load_plan(session: Session, plan_id: str) -> Plan:
    """The plan ``plan_id`` (404 when there is none)."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise not_found("plan", plan_id)
    return plan


def report_filename(report: PlanReport) -> str:
    """``plan-<id>-v<version>.pdf``: ids only, never the patient reference."""
    return f"plan-{report.plan_id}-v{report.version}.pdf"


@router.get(
    "/{plan_id}/report",
    summary="A plan version as a PDF report",
    response_class=Response,
    responses={200: {"content": {PDF: {}}, "description": "the PDF report"}},
)
def get_plan_report(
    plan_id: str,
    session: SessionDep,
    _caller: ViewerDep,
    version: Annotated[int | None, Query(ge=1, description="default: the latest")] = None,
    format: Annotated[ReportFormat, Query(description="pdf (default) or dicom")] = ReportFormat.PDF,
) -> Response:
    """Patient reference, treatment date, product, delivery, segments, model, inputs with
    units, activity (GBq and mCi) and vial, doses, findings, constants with sources,
    software version, inputs hash, and the approval block or "NOT APPROVED"."""
    from y90dose.reports import plan_report_pdf

    plan = load_plan(session, plan_id)
    report = plan_report(plan, version)
    if format is ReportFormat.DICOM:
        raise ProblemError(
            422,
            "no-linked-study",
            f"plan {plan_id} is linked to no study: a DICOM Encapsulated PDF is filed in the "
            "patient's study of the images it describes, and this plan was computed from "
            "entered values (its patient reference is free text, not checked against any "
            "study's patient); ask for format=pdf (a dose job's report, "
            "/v1/dose-jobs/{id}/report?format=dicom, is filed in its study)",
        )
    return Response(
        plan_report_pdf(report),
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{report_filename(report)}"'},
    )
