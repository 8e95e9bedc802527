"""The audit trail: who did what to which resource, and when.

Events are written in the caller's transaction, so an action and its audit row are
stored together or not at all. ``detail`` must never carry a patient identifier: it
names plan ids, versions and job ids only.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from service.models import AuditEvent
from service.security import Caller

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
    event = AuditEvent(
        key_name=caller.name,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        detail=detail or {},
    )
    session.add(event)
    logger.info("%s %s %s by key %s", action, resource_type, resource_id, caller.name)
    return event
