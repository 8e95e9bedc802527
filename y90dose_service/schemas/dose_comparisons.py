"""Schema of ``/v1/dose-jobs/{id}/comparison``: planned versus delivered dose per VOI.

The per-VOI numbers and the registration's report are the library's own models
(:class:`y90dose.pipeline.compare.VoiComparison`,
:class:`y90dose.pipeline.alignment.RegistrationReport`); the runs are named by their job
ids instead of server folders, and the CTs by ``<planned study>/...`` and
``<delivered study>/...``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from y90dose.pipeline.alignment import RegistrationReport
from y90dose.pipeline.compare import VoiComparison


class DoseComparisonPublic(BaseModel):
    """Planned (predictive job) versus delivered (this job) mean dose and D70 per VOI,
    evaluated on the planned job's VOIs and grid."""

    delivered_job_id: str
    planned_job_id: str
    registration: str = Field(description="how the two dose maps were aligned")
    planned_method: str
    delivered_method: str
    vois: dict[str, VoiComparison] = Field(
        description="per VOI: planned, delivered, difference (Gy and %), coverage"
    )
    warnings: list[str]
    automatic_registration: RegistrationReport | None = Field(
        None,
        description="when the jobs' studies are in different frames of reference: the "
        "registration of their CTs (the planned study's fixed), its quality and parameters",
    )
