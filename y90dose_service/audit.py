"""The audit trail: who did what to which resource, and when.

Events are written in the caller's transaction, so an action and its audit row are
stored together or not at all. ``detail`` must never carry a patient identifier: it
names plan ids, versions and job ids only.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from y90dose_service.models import AuditEvent, table, utcnow
from y90dose_service.security import Caller

logger = logging.getLogger("y90dose.service.audit")


def record(
    session: Session,
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to ``session`` (committed with the action it records)."""
    event = AuditEvent(**_values(caller, action, resource_type, resource_id, detail))
    session.add(event)
    return event


def event_row(
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str,
    detail: dict[str, Any] | None = None,
) -> tuple[Table, dict[str, Any]]:
    """One audit event as a row for :func:`y90dose_service.writes.insert_rows` (the Core
    form of :func:`record`, inserted in the same transaction as the action it records)."""
    return table(AuditEvent), _values(caller, action, resource_type, resource_id, detail)


def _values(
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    logger.info("%s %s %s by key %s", action, resource_type, resource_id, caller.name)
    return {
        "at": utcnow(),
        "key_name": caller.name,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "detail": detail or {},
    }
