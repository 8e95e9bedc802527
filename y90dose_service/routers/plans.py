"""``/v1/plans``: stored treatment plans, never edited in place.

Each change is a new version (``POST /v1/plans/{id}/revisions``); an approval names the
version it approves. Only the latest version can be approved, and not when one of its
findings has severity ``block`` (409). Every write is one transaction with its audit
event; logs name plan ids, never the patient reference.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from y90dose.delivery import Delivery
from y90dose.devices import Product
from y90dose.findings import Severity, has_block
from y90dose.models.common import PlanResult
from y90dose.models.treatment import TreatmentResult, result_of
from y90dose.settings import ClinicalSettings
from y90dose_service import audit
from y90dose_service.calculations import PLANNING, run_treatment
from y90dose_service.deps import (
    ApproverDep,
    ApproverWriteSessionDep,
    PlannerDep,
    PlannerWriteSessionDep,
    SessionDep,
    ViewerDep,
    clinical_settings,
)
from y90dose_service.models import Approval, Plan, PlanVersion, as_utc, new_id, table, utcnow
from y90dose_service.problems import InvalidInputError, ProblemError, field_error, not_found
from y90dose_service.schemas.common import OFFSET_MAX, Page
from y90dose_service.schemas.plans import (
    ApprovalCreate,
    ApprovalPublic,
    PlanCreate,
    PlanModel,
    PlanPublic,
    PlanSummary,
    PlanVersionPublic,
    PlanVersionSummary,
    RevisionCreate,
)
from y90dose_service.writes import insert_rows

router = APIRouter(prefix="/plans", tags=["plans"])

PAGE_LIMIT_MAX = 200


TREATMENT_DELIVERY = "territories"
"""The delivery column of a treatment's version: each territory has its own."""
MIXED_PRODUCTS = "mixed"
"""The product column of a treatment whose territories use both products."""


def stored_product(value: str) -> Product | None:
    """A version's product column as a product (None: a treatment using both)."""
    return None if value == MIXED_PRODUCTS else Product(value)


def stored_delivery(value: str) -> Delivery | None:
    """A version's delivery column as a delivery (None: a treatment's territories)."""
    return None if value == TREATMENT_DELIVERY else Delivery(value)


def columns(result: PlanResult | TreatmentResult) -> tuple[str, str]:
    """(product, delivery) as a version stores them."""
    if isinstance(result, TreatmentResult):
        products = result.products
        return (products[0].value if len(products) == 1 else MIXED_PRODUCTS), TREATMENT_DELIVERY
    return result.product.value, result.delivery.value


def compute(
    model: PlanModel,
    product: Product | None,
    delivery: Delivery | None,
    inputs: dict[str, Any],
    settings: ClinicalSettings,
) -> tuple[dict[str, Any], PlanResult | TreatmentResult]:
    """Run the core model with the site's ``settings``; return the validated inputs
    (defaults filled in) and result. A treatment takes no top-level product or delivery;
    every other model needs both."""
    if model is PlanModel.TREATMENT:
        given = [
            field_error(
                name,
                stated.value,
                "nothing for a treatment: each territory gives its own in its inputs",
            )
            for name, stated in (("product", product), ("delivery", delivery))
            if stated is not None
        ]
        if given:
            raise InvalidInputError(given)
        treatment, planned = run_treatment(inputs, settings, prefix="inputs")
        return treatment.model_dump(mode="json"), planned
    missing = [
        field_error(name, None, f"{allowed} (required for model {model.value})")
        for name, value, allowed in (
            ("product", product, "glass or resin"),
            ("delivery", delivery, "whole, lobar, segmental or segmentectomy"),
        )
        if value is None
    ]
    if missing:
        raise InvalidInputError(missing)
    assert product is not None and delivery is not None
    for name, stated in (("product", product), ("delivery", delivery)):
        if name in inputs and inputs[name] != stated.value:
            raise InvalidInputError(
                [
                    field_error(
                        f"inputs.{name}",
                        inputs[name],
                        f"the plan's {name} ({stated.value!r}) or nothing: it is set once, "
                        "at the top level",
                    )
                ]
            )
    merged = {**inputs, "product": product.value, "delivery": delivery.value}
    validated, result = PLANNING[model.value].run(merged, settings, prefix="inputs")
    return validated.model_dump(mode="json"), result


def _version_public(row: PlanVersion) -> PlanVersionPublic:
    result = result_of(row.result)
    return PlanVersionPublic(
        version=row.version,
        treatment_date=row.treatment_date,
        product=stored_product(row.product),
        delivery=stored_delivery(row.delivery),
        model=PlanModel(row.model),
        direction=result.direction,
        segments=None if isinstance(result, TreatmentResult) else result.segments,
        inputs=row.inputs,
        result=result,
        has_block=row.has_block,
        note=row.note,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
    )


def _approved_version(plan: Plan) -> int | None:
    approved = {a.version for a in plan.approvals}
    return plan.latest_version if plan.latest_version in approved else None


def plan_public(plan: Plan) -> PlanPublic:
    """The API view of a plan with its versions and approvals loaded."""
    latest = next(v for v in plan.versions if v.version == plan.latest_version)
    return PlanPublic(
        id=plan.id,
        patient_ref=plan.patient_ref,
        created_at=as_utc(plan.created_at),
        created_by=plan.created_by,
        latest_version=plan.latest_version,
        approved_version=_approved_version(plan),
        current=_version_public(latest),
        versions=[
            PlanVersionSummary(
                version=v.version,
                created_at=as_utc(v.created_at),
                created_by=v.created_by,
                activity_gbq=float(v.result["activity_gbq"]),
                has_block=v.has_block,
                note=v.note,
            )
            for v in plan.versions
        ],
        approvals=[
            ApprovalPublic(
                version=a.version,
                approved_by=a.approved_by,
                approved_at=as_utc(a.approved_at),
                comment=a.comment,
            )
            for a in plan.approvals
        ],
    )


def _get_plan(session: Session, plan_id: str, *, for_update: bool = False) -> Plan:
    plan = session.get(Plan, plan_id, with_for_update=for_update or None)
    if plan is None:
        raise not_found("plan", plan_id)
    return plan


def created(public: PlanPublic) -> Response:
    """201 with ``public`` as JSON, serialised once (FastAPI would validate the model again
    against ``response_model`` before serialising it: a third of a plan creation's time)."""
    return Response(public.model_dump_json(), status_code=201, media_type="application/json")


def _commit(session: Session, conflict: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ProblemError(409, "conflict", conflict) from None


@router.post("", status_code=201, response_model=PlanPublic, summary="Create a plan (version 1)")
async def create_plan(body: PlanCreate, caller: PlannerDep, request: Request) -> Response:
    """Compute the plan with the core and store inputs, result, findings and constants.

    Async: the key, the body and the model are checked and computed on the event loop
    (microseconds of CPU); the plan, its first version and the audit event are then
    inserted in one transaction at driver level (:func:`y90dose_service.writes.insert_rows`:
    on the loop unless it would have to wait for a lock). The answer is built from the
    stored values, not read back.
    """
    inputs, result = compute(
        body.model, body.product, body.delivery, body.inputs, clinical_settings(request)
    )
    result_json = result.json_dict()
    blocked = has_block(result.findings)
    plan_id, now = new_id(), utcnow()
    product, delivery = columns(result)
    rows = [
        (
            table(Plan),
            {
                "id": plan_id,
                "patient_ref": body.patient_ref,
                "created_at": now,
                "created_by": caller.name,
                "latest_version": 1,
            },
        ),
        (
            table(PlanVersion),
            {
                "plan_id": plan_id,
                "version": 1,
                "treatment_date": body.treatment_date,
                "product": product,
                "delivery": delivery,
                "model": body.model.value,
                "inputs": inputs,
                "result": result_json,
                "has_block": blocked,
                "note": body.note,
                "created_at": now,
                "created_by": caller.name,
            },
        ),
        audit.event_row(
            caller, "plan.create", "plan", plan_id, {"version": 1, "model": body.model.value}
        ),
    ]
    try:
        await insert_rows(request, rows)
    except request.app.state.row_inserter.integrity_errors:
        raise ProblemError(409, "conflict", "the plan could not be stored; retry") from None
    first = PlanVersionPublic(
        version=1,
        treatment_date=body.treatment_date,
        product=stored_product(product),
        delivery=stored_delivery(delivery),
        model=body.model,
        direction=result.direction,
        segments=None if isinstance(result, TreatmentResult) else result.segments,
        inputs=inputs,
        result=result,
        has_block=blocked,
        note=body.note,
        created_at=now,
        created_by=caller.name,
    )
    summary = PlanVersionSummary(
        version=1,
        created_at=now,
        created_by=caller.name,
        activity_gbq=float(result_json["activity_gbq"]),
        has_block=blocked,
        note=body.note,
    )
    public = PlanPublic(
        id=plan_id,
        patient_ref=body.patient_ref,
        created_at=now,
        created_by=caller.name,
        latest_version=1,
        approved_version=None,
        current=first,
        versions=[summary],
        approvals=[],
    )
    return created(public)


@router.get("", response_model=Page[PlanSummary], summary="List plans, newest first")
def list_plans(
    session: SessionDep,
    _caller: ViewerDep,
    patient_ref: Annotated[str | None, Query(description="only this patient's plans")] = None,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX, description="plans to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX, description="page size")] = 50,
) -> Page[PlanSummary]:
    """Paginated plan list, optionally of one patient."""
    query = select(Plan)
    count = select(func.count()).select_from(Plan)
    if patient_ref is not None:
        query = query.where(Plan.patient_ref == patient_ref)
        count = count.where(Plan.patient_ref == patient_ref)
    total = session.scalar(count) or 0
    plans = session.scalars(
        query.order_by(Plan.created_at.desc(), Plan.id).offset(offset).limit(limit)
    ).all()
    items = []
    for plan in plans:
        latest = next(v for v in plan.versions if v.version == plan.latest_version)
        items.append(
            PlanSummary(
                id=plan.id,
                patient_ref=plan.patient_ref,
                treatment_date=latest.treatment_date,
                model=PlanModel(latest.model),
                product=stored_product(latest.product),
                latest_version=plan.latest_version,
                activity_gbq=float(latest.result["activity_gbq"]),
                has_block=latest.has_block,
                approved_version=_approved_version(plan),
                created_at=as_utc(plan.created_at),
            )
        )
    return Page[PlanSummary](items=items, total=total, offset=offset, limit=limit)


@router.get("/{plan_id}", response_model=PlanPublic, summary="A plan: latest version in full")
def get_plan(plan_id: str, session: SessionDep, _caller: ViewerDep) -> PlanPublic:
    """The latest version with its result, the version list and the approvals."""
    return plan_public(_get_plan(session, plan_id))


@router.get(
    "/{plan_id}/versions/{version}",
    response_model=PlanVersionPublic,
    summary="One version of a plan",
)
def get_version(
    plan_id: str, version: int, session: SessionDep, _caller: ViewerDep
) -> PlanVersionPublic:
    """Any version, as it was stored."""
    plan = _get_plan(session, plan_id)
    for row in plan.versions:
        if row.version == version:
            return _version_public(row)
    raise not_found("version of plan " + plan_id, str(version))


@router.post(
    "/{plan_id}/revisions",
    status_code=201,
    response_model=PlanPublic,
    summary="Revise a plan: store a new version",
)
def revise_plan(
    plan_id: str,
    body: RevisionCreate,
    caller: PlannerDep,
    session: PlannerWriteSessionDep,
    request: Request,
) -> PlanPublic:
    """New version from the latest one's values and the given changes; 409 if stale."""
    plan = _get_plan(session, plan_id, for_update=True)
    latest = next(v for v in plan.versions if v.version == plan.latest_version)
    if body.base_version is not None and body.base_version != plan.latest_version:
        raise ProblemError(
            409,
            "stale-version",
            f"plan {plan_id} is at version {plan.latest_version}; this revision was made "
            f"from version {body.base_version}",
            {"latest_version": plan.latest_version},
        )
    model = body.model or PlanModel(latest.model)
    if model is PlanModel.TREATMENT:  # the territories give theirs; none is carried over
        product, delivery = body.product, body.delivery
    else:
        product = body.product or stored_product(latest.product)
        delivery = body.delivery or stored_delivery(latest.delivery)
    inputs, result = compute(model, product, delivery, body.inputs, clinical_settings(request))
    product_column, delivery_column = columns(result)
    number = plan.latest_version + 1
    plan.versions.append(
        PlanVersion(
            plan_id=plan.id,
            version=number,
            treatment_date=body.treatment_date or latest.treatment_date,
            product=product_column,
            delivery=delivery_column,
            model=model.value,
            inputs=inputs,
            result=result.json_dict(),
            has_block=has_block(result.findings),
            note=body.reason,
            created_by=caller.name,
        )
    )
    plan.latest_version = number
    audit.record(session, caller, "plan.revise", "plan", plan.id, {"version": number})
    _commit(session, f"plan {plan_id} was revised concurrently; reload and retry")
    return plan_public(plan)


@router.post(
    "/{plan_id}/approve",
    status_code=201,
    response_model=PlanPublic,
    summary="Approve the latest version of a plan",
)
def approve_plan(
    plan_id: str, body: ApprovalCreate, caller: ApproverDep, session: ApproverWriteSessionDep
) -> PlanPublic:
    """Record the approver and version. 409: not the latest version, a block finding,
    or already approved by this key."""
    plan = _get_plan(session, plan_id, for_update=True)
    if body.version > plan.latest_version:
        raise InvalidInputError(
            [field_error("version", body.version, f"an existing version, 1..{plan.latest_version}")]
        )
    if body.version != plan.latest_version:
        raise ProblemError(
            409,
            "superseded-version",
            f"version {body.version} of plan {plan_id} is superseded by version "
            f"{plan.latest_version}; only the latest version can be approved",
            {"latest_version": plan.latest_version},
        )
    row = next(v for v in plan.versions if v.version == body.version)
    if row.has_block:
        blocks = [
            f for f in row.result.get("findings", []) if f.get("severity") == Severity.BLOCK.value
        ]
        raise ProblemError(
            409,
            "blocked-plan",
            f"version {body.version} of plan {plan_id} has blocking findings: "
            + "; ".join(f"{f.get('code')}: {f.get('message')}" for f in blocks),
            {"findings": blocks},
        )
    if any(a.version == body.version and a.approved_by == caller.name for a in plan.approvals):
        raise ProblemError(
            409,
            "already-approved",
            f"key {caller.name!r} already approved version {body.version} of plan {plan_id}",
        )
    plan.approvals.append(
        Approval(
            plan_id=plan.id, version=body.version, approved_by=caller.name, comment=body.comment
        )
    )
    audit.record(session, caller, "plan.approve", "plan", plan.id, {"version": body.version})
    _commit(session, f"plan {plan_id} changed during approval; reload and retry")
    return plan_public(plan)
