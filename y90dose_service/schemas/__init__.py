"""Request and response schemas of the service, one family per resource.

Calculation bodies and results are not here: they are the core's own models
(``y90dose.models.*``), shared with the CLI.
"""

from __future__ import annotations

from y90dose_service.schemas.common import Page
from y90dose_service.schemas.dose_jobs import DoseJobCreate, DoseJobPublic, JobFile
from y90dose_service.schemas.plans import (
    ApprovalCreate,
    ApprovalPublic,
    PlanCreate,
    PlanPublic,
    PlanSummary,
    PlanVersionPublic,
    RevisionCreate,
)
from y90dose_service.schemas.studies import StudyPublic

__all__ = [
    "ApprovalCreate",
    "ApprovalPublic",
    "DoseJobCreate",
    "DoseJobPublic",
    "JobFile",
    "Page",
    "PlanCreate",
    "PlanPublic",
    "PlanSummary",
    "PlanVersionPublic",
    "RevisionCreate",
    "StudyPublic",
]
