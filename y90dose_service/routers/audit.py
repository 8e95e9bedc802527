"""``/v1/audit-events``: read the audit trail (approvers only).

Each create, revision, approval, upload and job is recorded with the API key's name and
the time, in the same transaction as the action. Events name resources by id, never by
patient reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from y90dose_service.deps import ApproverDep, SessionDep
from y90dose_service.models import AuditEvent, as_utc
from y90dose_service.schemas.common import OFFSET_MAX, Page

router = APIRouter(prefix="/audit-events", tags=["audit"])


class AuditEventPublic(BaseModel):
    """One audited action."""

    id: int
    at: datetime = Field(description="when (UTC)")
    key_name: str = Field(description="name of the API key that acted")
    action: str = Field(description="plan.create, plan.revise, plan.approve, study.upload, ...")
    resource_type: str
    resource_id: str
    detail: dict[str, Any]


@router.get("", response_model=Page[AuditEventPublic], summary="The audit trail, newest first")
def list_events(
    session: SessionDep,
    _caller: ApproverDep,
    resource_id: Annotated[str | None, Query(description="only this plan/study/job")] = None,
    key_name: Annotated[str | None, Query(description="only this key's actions")] = None,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AuditEventPublic]:
    """Paginated audit events, filterable by resource and key."""
    query = select(AuditEvent)
    count = select(func.count()).select_from(AuditEvent)
    if resource_id is not None:
        query = query.where(AuditEvent.resource_id == resource_id)
        count = count.where(AuditEvent.resource_id == resource_id)
    if key_name is not None:
        query = query.where(AuditEvent.key_name == key_name)
        count = count.where(AuditEvent.key_name == key_name)
    total = session.scalar(count) or 0
    rows = session.scalars(query.order_by(AuditEvent.id.desc()).offset(offset).limit(limit)).all()
    items = [
        AuditEventPublic(
            id=r.id,
            at=as_utc(r.at),
            key_name=r.key_name,
            action=r.action,
            resource_type=r.resource_type,
            resource_id=r.resource_id,
            detail=r.detail,
        )
        for r in rows
    ]
    return Page[AuditEventPublic](items=items, total=total, offset=offset, limit=limit)
